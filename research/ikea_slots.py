"""Donor slots on the IKEA room photos: how many rooms give a usable single-piece slot, and do
the slots' categories agree with what the room lists?

    python research/ikea_slots.py --out /tmp/ikea-slots [--detectors NAME ...] [--sheet 24] [--behind]

Reads ../shared/datasets/ikea in place (non-commercial research use); writes a JSON summary and,
with ``--sheet``, contact sheets of the first N rooms under ``--out`` — outside the repository:
never commit IKEA pixels. The slots are made exactly as the nightly cutouts stage makes them
(``adstage.vision.cutouts.DetectorSlots`` on the shipped models of the catalog).

Agreement: a usable slot agrees when its category is among the slot categories of the room's
listed products (``rooms.jsonl`` product ids -> ``products.jsonl`` type -> category) or of its
item names. Rooms hold furniture the catalog does not list, so this is a lower bound.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from adstage.vision import ikea
from adstage.vision.detectors import Detector
from adstage.vision.donors import DonorParams, donor_slots, product_slot_category
from adstage.vision.salient import SalientMasker


def product_types(root: Path) -> dict[str, str]:
    """``products.jsonl``: product id -> its IKEA type ("Two-seat sofa")."""
    return {r["product_id"]: r.get("type", "")
            for r in map(json.loads, (root / "products.jsonl").read_text().splitlines())}


def room_categories(room: dict, types: dict[str, str]) -> set[str]:
    names = [types.get(p, "") for p in room.get("product_ids", [])] + room.get("item_names", [])
    return {c for c in (product_slot_category(ikea.category_of(n)) for n in names) if c}


def draw(bgr: np.ndarray, slots) -> np.ndarray:
    out = bgr.copy()
    for s in slots:
        x0, y0, x1, y1 = s.det_box
        colour = (0, 200, 0) if s.usable else (0, 0, 230)
        if s.usable and s.mask is not None:
            cnts, _ = cv2.findContours(s.mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, cnts, -1, colour, 3)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, 1)
        text = f"{s.label} {s.score:.2f}" + ("" if s.usable else " " + ",".join(s.flags))
        cv2.putText(out, text, (x0 + 2, max(12, y0 + 14)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colour, 1, cv2.LINE_AA)
    return out


def sheet(tiles: list[np.ndarray], cols: int = 3, width: int = 480, height: int = 400
          ) -> np.ndarray:
    def fit(t):
        f = min(width / t.shape[1], height / t.shape[0])
        t = cv2.resize(t, (int(t.shape[1] * f), int(t.shape[0] * f)), interpolation=cv2.INTER_AREA)
        return cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, width - t.shape[1],
                                  cv2.BORDER_CONSTANT)
    tiles = [fit(t) for t in tiles]
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    return np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ikea.DEFAULT_ROOT)
    ap.add_argument("--out", type=Path, required=True, help="folder outside the repository")
    ap.add_argument("--detectors", nargs="+", default=["adstage-detector-oid-ssd"])
    ap.add_argument("--min-score", type=float, default=DonorParams().min_score)
    ap.add_argument("--behind", action="store_true",
                    help="slot_paste_behind: partly hidden pieces are slots (DonorParams.behind)")
    ap.add_argument("--front", action="store_true",
                    help="slot_replace_front: a piece hiding part of another is a slot")
    ap.add_argument("--limit", type=int, default=0, help="first N rooms only (0 = all)")
    ap.add_argument("--sheet", type=int, default=0, help="contact sheets of the first N rooms")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    types = product_types(args.root)
    rooms = [json.loads(l) for l in (args.root / "rooms.jsonl").read_text().splitlines()]
    rooms = rooms[: args.limit] if args.limit else rooms
    detectors = [Detector.shipped(n, threads=2) for n in args.detectors]
    masker = SalientMasker.shipped(threads=2)
    params = DonorParams(min_score=args.min_score, behind=args.behind,
                         replace_front=args.front)

    per_room, flags, labels, tiles = [], Counter(), Counter(), []
    t_det = t_mask = 0.0
    for i, room in enumerate(rooms):
        bgr = cv2.imread(str(args.root / room["image"]))
        t0 = time.perf_counter()
        dets = [d for det in detectors for d in det.detect(bgr, min_score=params.min_score)]
        t1 = time.perf_counter()
        slots = donor_slots(bgr, dets, masker.mask, params)
        t_det, t_mask = t_det + t1 - t0, t_mask + time.perf_counter() - t1
        listed = room_categories(room, types)
        usable = [s for s in slots if s.usable]
        for s in slots:
            flags.update(s.flags or ["usable"])
            labels[s.label] += 1
        per_room.append({"room": room["room_id"], "listed": sorted(listed),
                         "detections": len(slots), "usable": len(usable),
                         "usable_categories": [s.category for s in usable],
                         "agree": sum(s.category in listed for s in usable),
                         "pieces": [{"label": s.label, "category": s.category,
                                     "score": round(s.score, 3), "flags": s.flags,
                                     "area_frac": round(s.area_frac, 4), "box": s.det_box}
                                    for s in slots]})
        if i < args.sheet:
            tiles.append(draw(bgr, slots))
        print(f"{i + 1}/{len(rooms)} {room['room_id'][:60]}: {len(usable)} usable of "
              f"{len(slots)} ({', '.join(str(s.category) for s in usable)}; listed "
              f"{sorted(listed)})", flush=True)
    for k in range(0, len(tiles), 12):
        cv2.imwrite(str(args.out / f"sheet-{k // 12:02d}.jpg"), sheet(tiles[k:k + 12]),
                    [cv2.IMWRITE_JPEG_QUALITY, 85])
    n_usable = sum(r["usable"] for r in per_room)
    summary = {
        "command": "python research/ikea_slots.py "
                    + " ".join(sys.argv[1:] if argv is None else argv),
        "detectors": args.detectors, "min_score": params.min_score, "behind": params.behind,
        "front": params.replace_front,
        "rooms": len(per_room),
        "rooms_with_usable_slot": sum(r["usable"] > 0 for r in per_room),
        "share_rooms_with_usable_slot": round(
            sum(r["usable"] > 0 for r in per_room) / max(len(per_room), 1), 4),
        "usable_slots": n_usable,
        "usable_slots_agreeing": sum(r["agree"] for r in per_room),
        "agreement": round(sum(r["agree"] for r in per_room) / max(n_usable, 1), 4),
        "usable_by_category": dict(Counter(c for r in per_room for c in r["usable_categories"])),
        "rows_by_flag": dict(flags), "detections_by_label": dict(labels),
        "seconds_per_room": {"detect": round(t_det / max(len(rooms), 1), 3),
                             "masks": round(t_mask / max(len(rooms), 1), 3)},
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    (args.out / "rooms.json").write_text(json.dumps(per_room, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
