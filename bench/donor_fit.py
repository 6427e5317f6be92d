"""The fit pass of copy-paste staging (``adstage.staging.donor_fit``): time per (product, slot)
pair, judging on masks only (what the pass before the slot quota does) against placing the
product's colours too (what the worker does for the donor it stages), and whether the two give
the same verdict on every pair.

    PYTHONPATH=. python bench/donor_fit.py --home /tmp/adstage-ikea --pairs 300 \
        --out /tmp/adstage-bench/donor_fit.json

``--home``: any pipeline home whose night ran ``pair_donors`` (the IKEA catalog run of
``research/ikea_catalog_run.py``, or ``make demo``'s); the date's pairs are read from its
tables, ``--pairs`` of them at random (seed 0), their masks decoded before timing. One
thread (what one Spark task gets), the median of ``--repeats`` passes after a warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2


def time_checks(pairs: list[dict], params, repeats: int = 3) -> dict:
    """ms per pair with and without colour, and the pairs whose verdicts differ (none expected).

    ``pairs``: dicts with ``slot``, ``front`` (or None), ``product``, ``alpha``, ``box``."""
    from adstage.staging import donor_fit

    def run(colour: bool) -> tuple[float, list[str]]:
        times, verdicts = [], []
        for _ in range(repeats + 1):   # the first pass warms caches up and is dropped
            t0 = time.perf_counter()
            verdicts = [donor_fit.check(p["slot"], p["front"], p["product"], p["alpha"], params,
                                        product_box=p["box"], colour=colour).refusal
                        for p in pairs]
            times.append(time.perf_counter() - t0)
        return statistics.median(times[1:]) / len(pairs) * 1000, verdicts

    full_ms, full = run(True)
    lean_ms, lean = run(False)
    return {"pairs": len(pairs), "ms_per_pair_with_colour": round(full_ms, 2),
            "ms_per_pair_masks_only": round(lean_ms, 2),
            "speedup": round(full_ms / lean_ms, 2),
            "refused": sum(bool(v) for v in lean),
            "verdicts_differ": sum(a != b for a, b in zip(full, lean))}


def load_pairs(home: str, n: int) -> list[dict]:
    """``n`` random pairs of the home's latest night, masks decoded."""
    from adstage.config import Settings
    from adstage.imagestore import ImageStore
    from adstage.report import read_table

    settings = Settings(home=home)
    store = ImageStore(settings.image_store_uri)
    pairs = read_table(settings, "donor_pairs")
    pairs = pairs[pairs.ds == pairs.ds.max()]
    pairs = pairs.sample(min(n, len(pairs)), random_state=0)
    cuts = read_table(settings, "product_cutouts").drop_duplicates("image_id", keep="last")
    slots = read_table(settings, "donor_slots").drop_duplicates("slot_id", keep="last")
    cuts, slots = cuts.set_index("image_id"), slots.set_index("slot_id")
    out = []
    for r in pairs.itertuples():
        c, s = cuts.loc[r.image_id], slots.loc[r.slot_id]
        product, alpha = store.get_image_and_mask(c.image_uri, c.mask_uri)
        front = (store.get_image(s.front_mask_uri, grey=True)
                 if isinstance(s.front_mask_uri, str) and s.front_mask_uri else None)
        out.append({"slot": store.get_image(s.mask_uri, grey=True), "front": front,
                    "product": product, "alpha": alpha,
                    "box": None if c.box is None else [int(v) for v in c.box]})
    return out


def main(argv: list[str] | None = None) -> int:
    from adstage.staging.copy_paste import CopyPasteParams

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", required=True, help="a pipeline home whose night paired donors")
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, required=True, help="JSON results")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    pairs = load_pairs(args.home, args.pairs)
    res = time_checks(pairs, CopyPasteParams(), args.repeats)
    res.update(home=args.home, room_pixels_median=statistics.median(
        p["slot"].size for p in pairs), machine=platform.processor() or platform.machine(),
        cpus=os.cpu_count(), load_avg=[round(v, 2) for v in os.getloadavg()])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
