"""Gap fillers side by side: seconds per 256² gap crop, OpenCV Telea vs EdgeConnect (ORT fp32).

    PYTHONPATH=. python bench/gap_fill.py --demo-products 40 --threads 1 \
        --out docs/bench/gap-fill.json
    PYTHONPATH=. python bench/gap_fill.py --ikea-root ../shared/datasets/ikea --threads 1 ...

The crops are cut exactly as the staging job cuts them (``quantize.gap_crops``: a similar pair
of product silhouettes per room, their difference as the hole, ``staging.gap`` crops) from the
demo catalog's staged photos (generated into a temporary folder) or, with ``--ikea-root``, from
the IKEA room photos at their own size. Each filler runs as the nightly runs it
(``staging.gap_fill``): Telea (``cv2.inpaint``, radius 5) one crop at a time; EdgeConnect through
``EdgeConnectInpainter`` (Canny, G1, G2) on the shipped pair, ``--batch`` crops per call,
``--threads`` intra-op threads (1 = what one Spark task gets). Median of ``--repeats`` passes
after a warm-up. Hole L1 (the room is its own truth) is printed beside the time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 2026


def crops(args) -> tuple[str, "object"]:
    from adstage.generative import data
    from adstage.generative import quantize as q
    from adstage.generative.masks import SilhouetteBank
    from adstage.generative.quantize_job import demo_rooms

    if args.ikea_root:
        import cv2

        paths = data.ikea_room_paths(str(args.ikea_root))[: args.rooms]
        rooms = [(Path(r).stem, cv2.imread(r, cv2.IMREAD_COLOR)) for r in paths]
        split = data.ikea_split(args.ikea_root, 0.2)
        bank = data.product_bank(split["held_products"])
        return f"IKEA rooms at their own size ({len(rooms)})", q.gap_crops(rooms, bank, SEED, 256)
    from adstage.demo.catalog import generate_catalog

    with tempfile.TemporaryDirectory(prefix="adstage-bench-gapfill-") as tmp:
        rooms, masks = demo_rooms(generate_catalog(tmp, args.demo_products, 7)["out_dir"])
    rooms = [(rid, img) for rid, img, _ in rooms][: args.rooms]
    return (f"demo catalog staged photos ({len(rooms)})",
            q.gap_crops(rooms, SilhouetteBank.from_masks(masks), SEED, 256))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demo-products", type=int, default=40)
    p.add_argument("--ikea-root", default="")
    p.add_argument("--rooms", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=2, help="EdgeConnect crops per call (the CPU default)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    import cv2

    from adstage.generative import inference
    from adstage.generative import metrics as M
    from adstage.registry import MODELS_DIR
    from adstage.staging.composite import opencv_inpainter, rgb_inpainter
    from adstage.staging.gap_fill import TELEA_RADIUS

    cv2.setNumThreads(args.threads)
    source, cs = crops(args)
    gen = MODELS_DIR / "generative"
    ec = rgb_inpainter(inference.EdgeConnectInpainter(
        inference.session(str(gen / "edgeconnect_edge.onnx"), threads=args.threads),
        inference.session(str(gen / "edgeconnect_inpaint.onnx"), threads=args.threads),
        batch=args.batch))
    fillers = {"telea": (opencv_inpainter(TELEA_RADIUS), 1), "edgeconnect_fp32": (ec, args.batch)}
    bgr = np.ascontiguousarray(cs.crops[..., ::-1])
    blank = bgr.copy()
    blank[cs.holes > 0] = 255
    rows = []
    for name, (fn, batch) in fillers.items():
        def once() -> np.ndarray:
            return np.concatenate([fn(blank[i:i + batch], cs.holes[i:i + batch])
                                   for i in range(0, len(blank), batch)])
        out = once()   # warm-up, and the output scored below
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            once()
            times.append(time.perf_counter() - t)
        l1 = [M.region_l1(o.astype(np.float32) / 255, b.astype(np.float32) / 255, h > 0)
              for o, b, h in zip(out, bgr, cs.holes)]
        rows.append({"filler": name, "crops": len(blank), "batch": batch,
                     "ms_per_crop": round(1000 * statistics.median(times) / len(blank), 2),
                     "hole_l1": round(float(np.mean(l1)), 4)})
    result = {"command": "bench/gap_fill.py " + " ".join(argv or []), "source": source,
              "hole_fraction": round(float((cs.holes > 0).mean()), 4), "threads": args.threads,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_average_1m": round(os.getloadavg()[0], 2)},
              "rows": rows}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
