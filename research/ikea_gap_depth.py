"""How deep are the gaps of a catalog run's copy-paste images, and what do the deepest look like?

    python research/ikea_gap_depth.py --home /tmp/adstage-ikea --out /tmp/gap-depth \\
        [--top 16] [--band 0.13 0.16] [--sample 12 --seed 0]

Reads ``staged_images`` of a home written by ``research/ikea_catalog_run.py`` and, per
copy-paste image, the depth of its gap over the placed product's size: the row's
``gap_depth``, or for a run written before that column, ``donor_fit.relative_depth`` of its
stored gap mask and box (the deepest gap pixel's distance to anything kept). Writes
``depths.json`` and close-ups (donor | staged | staged with the gap outlined) of the deepest
``--top``, of a depth band and of a random sample of the rest, to be looked at one by one. ``--out`` must be outside the repository:
the close-ups are IKEA pixels.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import cv2
import numpy as np

from adstage.config import Settings
from adstage.imagestore import ImageStore
from adstage.report import read_table
from adstage.staging.donor_fit import relative_depth
from research.ikea_catalog_run import DS


def close_up(store: ImageStore, row, label: str, margin: int = 40) -> np.ndarray:
    donor, staged = store.get_image(row.donor_image_uri), store.get_image(row.output_uri)
    gap = store.get_image(row.gap_mask_uri, grey=True) > 0
    x0, y0, x1, y1 = row.product_box
    ys, xs = np.nonzero(gap)
    if xs.size:
        x0, y0, x1, y1 = min(x0, xs.min()), min(y0, ys.min()), max(x1, xs.max()), max(y1, ys.max())
    H, W = staged.shape[:2]
    X0, Y0, X1, Y1 = max(0, x0 - margin), max(0, y0 - margin), min(W, x1 + margin), min(H, y1 + margin)
    outlined = staged.copy()
    contours, _ = cv2.findContours(gap.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(outlined, contours, -1, (0, 255, 0), 1)
    tile = np.hstack([im[Y0:Y1, X0:X1] for im in (donor, staged, outlined)])
    k = min(1.0, 1400 / tile.shape[1], 450 / tile.shape[0])
    tile = cv2.resize(tile, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    cv2.putText(tile, label, (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2)
    return tile


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="folder outside the repository")
    ap.add_argument("--top", type=int, default=16, help="close-ups of the N deepest gaps")
    ap.add_argument("--band", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="close-ups of every image with LO <= depth < HI")
    ap.add_argument("--sample", type=int, default=12, help="close-ups of N others at random")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    settings = Settings.load({"home": str(args.home), "allowed_roots": "/"}, environ={})
    store = ImageStore(settings.image_store_uri)
    staged = read_table(settings, "staged_images", ds=DS)
    staged = staged[staged.method == "copy_paste"]
    by_id, rows = {}, []
    for r in staged.itertuples():
        depth = getattr(r, "gap_depth", None)
        if depth is None or depth != depth:  # absent or NaN: a run from before the column
            depth = relative_depth(store.get_image(r.gap_mask_uri, grey=True), r.product_box)
        by_id[r.product_id] = r
        rows.append({"product_id": r.product_id, "category": r.category, "slot_id": r.slot_id,
                     "gap_share": round(float(r.gap_share), 4), "depth": round(float(depth), 4)})
    rows.sort(key=lambda r: -r["depth"])
    depths = [r["depth"] for r in rows]
    summary = {"images": len(rows),
               "depth_p10_p25_p50_p75_p90": [round(float(v), 4) for v in
                                              np.percentile(depths, [10, 25, 50, 75, 90])]
               if rows else [], "rows": rows}
    (args.out / "depths.json").write_text(json.dumps(summary, indent=1))
    top = rows[: args.top]
    band = [r for r in rows if args.band and args.band[0] <= r["depth"] < args.band[1]]
    rest = [r for r in rows[args.top:] if r not in band]
    picks = [("top", top), ("band", band),
             ("rest", random.Random(args.seed).sample(rest, min(args.sample, len(rest))))]
    for name, chosen in picks:
        for i, r in enumerate(chosen):
            label = f"{r['category']} depth {r['depth']:.3f} share {r['gap_share']:.2f}"
            cv2.imwrite(str(args.out / f"{name}-{i:02d}.png"),
                        close_up(store, by_id[r["product_id"]], label))
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
