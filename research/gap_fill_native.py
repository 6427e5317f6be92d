"""Which gap filler for the nightly: EdgeConnect vs OpenCV Telea at the nightly's own resolution.

    PYTHONPATH=. python research/gap_fill_native.py --out /tmp/adstage-gapfill

generators_ikea_eval.py measures the generators at the scale they were trained at (rooms
area-resized to a 384 px short side). The nightly stages rooms as ingested (IKEA: 1024 px
wide, 629-768 px short side), so a gap there is about twice as many pixels across. This script
measures the fill where the nightly makes it: each held-apart IKEA room (the generators' own
split, ``data.ikea_split``; never seen in training) at its own size, ``--holes-per-room``
silhouette-difference gaps (``SilhouetteBank.random_gap_mask`` of held-apart product
silhouettes, dilated 4 px as ``staging_dilate_px``), filled through ``composite.inpaint_gap``
(the staging job's 256² crops) by:

* ``edgeconnect`` - each ``--onnx name=EDGE.onnx,INPAINT.onnx`` pair (default: the shipped one);
* ``<name>_at_<side>`` - the same pair on the room area-resized to ``--train-side`` (the
  generators' training scale), its fill resized back (does matching the scale rescue it?);
* ``telea`` / ``telea_at_<side>`` - OpenCV Telea, radius 5 (``gap_fill.TELEA_RADIUS``).

Hole L1 in [0, 1] units over the gap's pixels (the room is its own truth); paired differences
with normal 95 % intervals. Numbers only; nothing but ``--out/results.json`` is written.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from adstage.generative import data as data_mod
from adstage.generative import inference
from adstage.generative import metrics as M
from adstage.staging.composite import inpaint_gap, opencv_inpainter, rgb_inpainter
from adstage.staging.gap_fill import TELEA_RADIUS
from research import generators_ikea_eval

SEED = 192


def at_side(fn, room: np.ndarray, gap: np.ndarray, side: int) -> np.ndarray:
    """Fill ``gap`` on the room area-resized to a ``side`` px short side; gap pixels back at
    full size (bilinear), every other pixel as it was."""
    f = side / min(room.shape[:2])
    if f >= 1:
        return inpaint_gap(room, gap, fn)[0]
    h, w = round(room.shape[0] * f), round(room.shape[1] * f)
    small = cv2.resize(room, (w, h), interpolation=cv2.INTER_AREA)
    # Any gap pixel under a small pixel makes it a hole, and one more pixel of margin, so every
    # full-size gap pixel is resampled from filled pixels only.
    sgap = (cv2.resize(gap, (w, h), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8) * 255
    sgap = cv2.dilate(sgap, np.ones((3, 3), np.uint8))
    up = cv2.resize(inpaint_gap(small, sgap, fn)[0], (room.shape[1], room.shape[0]),
                    interpolation=cv2.INTER_LINEAR)
    return np.where((gap > 0)[..., None], up, room)


def paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """``b − a`` with its normal 95 % interval (``generators_ikea_eval.paired``), rounded."""
    return {k: round(v, 4) for k, v in generators_ikea_eval.paired(a, b).items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/tmp/adstage-gapfill")
    p.add_argument("--root", default=data_mod.IKEA_ROOT)
    p.add_argument("--share", type=float, default=0.2)
    p.add_argument("--onnx", action="append", default=[], help="name=EDGE.onnx,INPAINT.onnx "
                   "(default: shipped=models/generative/edgeconnect_{edge,inpaint}.onnx)")
    p.add_argument("--holes-per-room", type=int, default=2)
    p.add_argument("--train-side", type=int, default=384)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    specs = args.onnx or ["shipped=models/generative/edgeconnect_edge.onnx,"
                          "models/generative/edgeconnect_inpaint.onnx"]
    fills = {"telea": opencv_inpainter(TELEA_RADIUS)}
    for spec in specs:
        name, paths = spec.split("=", 1)
        edge, inpaint = paths.split(",")
        fills[name] = rgb_inpainter(inference.EdgeConnectInpainter(
            inference.session(edge, threads=args.threads), inference.session(inpaint, threads=args.threads)))
    split = data_mod.ikea_split(args.root, args.share)
    held = {Path(r).stem for r in split["held_rooms"]}
    bank = data_mod.product_bank(split["held_products"])
    t0 = time.monotonic()
    scores: dict[str, list[float]] = {}
    sizes, shares = [], []
    rooms = [r for r in data_mod.ikea_room_paths(args.root) if Path(r).stem in held]
    for i, path in enumerate(rooms):
        room = cv2.imread(path, cv2.IMREAD_COLOR)
        rng = np.random.default_rng([SEED, i])
        for _ in range(args.holes_per_room):
            gap = bank.random_gap_mask(*room.shape[:2], rng, dilate_px=4)
            if not gap.any():
                continue
            hole = gap > 0
            blank = room.copy()
            blank[hole] = 255
            truth = room.astype(np.float32) / 255
            sizes.append(min(room.shape[:2]))
            shares.append(float(hole.mean()))
            for name, fn in fills.items():
                for label, out in ((name, inpaint_gap(blank, gap, fn)[0]),
                                   (f"{name}_at_{args.train_side}", at_side(fn, blank, gap, args.train_side))):
                    scores.setdefault(label, []).append(M.region_l1(out.astype(np.float32) / 255, truth, hole))
        print(f"{i + 1}/{len(rooms)} rooms", flush=True)
    arr = {k: np.asarray(v) for k, v in scores.items()}
    res = {"command": "PYTHONPATH=. python research/gap_fill_native.py " + " ".join(
               f"--onnx {s}" for s in args.onnx),
           "rooms": len(rooms), "gaps": len(sizes), "short_side_median": float(np.median(sizes)),
           "gap_share_of_photo_mean": round(float(np.mean(shares)), 4),
           "hole_l1": {k: round(float(v.mean()), 4) for k, v in arr.items()},
           "paired_vs_telea": {k: paired(arr["telea"], v) for k, v in arr.items() if k != "telea"},
           "seconds": round(time.monotonic() - t0, 1)}
    for name in fills:
        if name != "telea":
            res.setdefault("paired_scale", {})[name] = paired(arr[name], arr[f"{name}_at_{args.train_side}"])
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
