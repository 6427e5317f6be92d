"""IKEA figures of the vision core (numbers for docs/vision-core.md; pictures only to var/ or /tmp).

    python research/evaluate_ikea.py classifier          # accuracy + confusion, test split
    python research/evaluate_ikea.py cutouts  [--sheet var/vision/ikea_cutouts.jpg]
    python research/evaluate_ikea.py slots    [--sheet var/vision/ikea_slots.jpg]
    python research/evaluate_ikea.py retrieval
    python research/evaluate_ikea.py synthetic-slots  # held-back synthetic scenes

Models are the shipped ONNX files (``models/``); the IKEA set is read in place and nothing derived
from it is written into the repository (contact sheets go where --sheet says; keep that under
the gitignored var/ or /tmp).
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from adstage import registry
from adstage.onnx_runtime import session_from_bytes
from adstage.vision import ikea, shape
from adstage.vision.backdrop_cutout import cut_out
from adstage.vision.slots import Segmenter, SlotParams, find_slots


def _sheet(tiles: list[np.ndarray], path: str, cols: int = 8, tile: int = 160) -> None:
    if not tiles:
        return
    rows = []
    for i in range(0, len(tiles), cols):
        row = [cv2.resize(t, (tile, int(tile * t.shape[0] / t.shape[1]))) for t in tiles[i:i + cols]]
        h = max(r.shape[0] for r in row)
        row = [cv2.copyMakeBorder(r, 0, h - r.shape[0], 0, 0, cv2.BORDER_CONSTANT) for r in row]
        row += [np.zeros((h, tile, 3), np.uint8)] * (cols - len(row))
        rows.append(np.hstack(row))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(path, np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 80])


def _overlay(img: np.ndarray, mask: np.ndarray, colour=(0, 0, 255), box=None) -> np.ndarray:
    out = img.copy()
    tint = np.zeros_like(img)
    tint[:] = colour
    sel = mask > 127
    out[sel] = (0.55 * img[sel] + 0.45 * tint[sel]).astype(np.uint8)
    contours, _ = cv2.findContours((mask > 127).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, colour, 2)
    if box:
        cv2.rectangle(out, tuple(box[:2]), (box[2] - 1, box[3] - 1), (0, 160, 0), 1)
    return out


def classifier(_args) -> dict:
    from adstage.vision.classifier import balanced_accuracy, confusion, eval_set, ikea_pool

    sess = session_from_bytes(registry.shipped("classifier", "classifier.onnx").data, "cpu")
    x, y = eval_set(ikea_pool(test=True), 4, seed=5)
    p = np.concatenate([sess.run(None, {"image": x[i:i + 64]})[0] for i in range(0, len(x), 64)])
    c = confusion(y, (p >= 0.5).astype(int))
    return {"split": "IKEA test (20% of products and rooms by hash; rooms whole + 4 crops)",
            "n": int(len(y)), "confusion": c, "accuracy": round((c["tp"] + c["tn"]) / len(y), 4),
            "balanced_accuracy": round(balanced_accuracy(c), 4)}


def cutouts(args) -> dict:
    items = [i for i in ikea.items() if i.kind == "product"]
    meta = {json.loads(l)["product_id"]: json.loads(l)
            for l in (ikea.DEFAULT_ROOT / "products.jsonl").read_text().splitlines()}
    flags, light_ok, light_n, area, tiles = collections.Counter(), 0, 0, [], []
    ok = 0
    rng = np.random.default_rng(0)
    show = set(rng.choice(len(items), min(args.n_sheet, len(items)), replace=False).tolist())
    for n, it in enumerate(items):
        img = cv2.imread(str(it.path))
        if img is None:
            flags["unreadable"] += 1
            continue
        c = cut_out(img)
        ok += c.ok
        flags.update(c.flags)
        area.append(c.area_frac)
        colour = (meta.get(it.key, {}).get("color") or "").lower()
        if "white" in colour or "light grey" in colour or "light gray" in colour:
            light_n += 1
            light_ok += c.ok
        if args.sheet and n in show:
            tiles.append(_overlay(img, c.alpha, box=c.box))
    if args.sheet:
        _sheet(tiles, args.sheet)
    return {"products": len(items), "ok": ok, "ok_share": round(ok / len(items), 4),
            "flags": dict(flags), "light_products": light_n,
            "light_ok_share": round(light_ok / max(light_n, 1), 4),
            "area_frac_median": round(float(np.median(area)), 4)}


def slots(args) -> dict:
    seg = Segmenter(session_from_bytes(registry.shipped("segmenter", "segmenter.onnx").data, "cpu"))
    rooms = [i for i in ikea.items() if i.kind == "room"]
    with_slot, n_slots, n_usable, tiles, flags = 0, 0, 0, [], collections.Counter()
    for it in rooms:
        img = cv2.imread(str(it.path))
        if img is None:
            continue
        prob = seg.predict([img])[0]
        found = find_slots(prob, img.shape[:2], SlotParams(), bgr=img)
        n_slots += len(found)
        usable = [s for s in found if s.usable]
        n_usable += len(usable)
        with_slot += bool(usable)
        for s in found:
            flags.update(s.flags)
        if args.sheet:
            vis = img.copy()
            for s in found:
                vis = _overlay(vis, s.mask, (0, 0, 255) if s.usable else (255, 128, 0), s.box)
            tiles.append(vis)
    if args.sheet:
        _sheet(tiles, args.sheet, cols=6, tile=240)
    return {"rooms": len(rooms), "rooms_with_usable_slot": with_slot,
            "usable_share": round(with_slot / max(len(rooms), 1), 4), "slots": n_slots,
            "usable_slots": n_usable, "flags": dict(flags)}


def retrieval(_args) -> dict:
    """Shape-only retrieval among real product silhouettes: does the nearest shape share the
    query's category? Queries: test-split products; donors: train-split products (cutout masks
    standing in for donor slots); only products in pipeline categories with a clean cutout."""
    data = {True: [], False: []}
    for it in ikea.items():
        if it.kind != "product" or it.category is None:
            continue
        img = cv2.imread(str(it.path))
        if img is None:
            continue
        c = cut_out(img)
        if c.ok:
            data[it.test].append((it.category, shape.describe(c.mask).vector))
    donors = np.stack([v for _, v in data[False]])
    cats = np.array([c for c, _ in data[False]])
    top1 = top5 = 0
    for cat, v in data[True]:
        order = np.argsort(-(donors @ v))[:5]
        top1 += cats[order[0]] == cat
        top5 += cat in set(cats[order])
    n = len(data[True])
    prior = collections.Counter(cats)
    chance = sum((prior[c] / len(cats)) for c, _ in data[True]) / max(n, 1)
    return {"queries": n, "donors": len(cats), "top1_category_agreement": round(top1 / n, 4),
            "top5_contains_category": round(top5 / n, 4), "chance_top1": round(chance, 4)}


def synthetic_slots(_args) -> dict:
    """Slot IoU of the shipped segmenter on held-back synthetic scenes (demo rooms; cut-paste of
    IKEA test-split products), from the map alone and after refinement."""
    from adstage.vision.segmenter import evaluate_onnx

    return evaluate_onnx(registry.MODELS_DIR / "segmenter" / "segmenter.onnx")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python research/evaluate_ikea.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["classifier", "cutouts", "slots", "retrieval",
                                    "synthetic-slots"])
    p.add_argument("--sheet", default=None, help="write a contact sheet here (JPEG; var/ or /tmp)")
    p.add_argument("--n-sheet", type=int, default=48, help="products on the cutout sheet")
    args = p.parse_args(argv)
    result = {"classifier": classifier, "cutouts": cutouts, "slots": slots,
              "retrieval": retrieval, "synthetic-slots": synthetic_slots}[args.what](args)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
