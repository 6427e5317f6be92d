"""Which mask method draws the best silhouette of one piece of furniture in its detector box?

    python research/ikea_slot_masks.py --n 150 --seed 0 --out /tmp/ikea-slot-masks

Exact ground truth by construction: IKEA product cut-outs (``product_mask_from_white`` on the
product photo's white background; furniture categories chair / armchair / sofa / table / bed
by ``ikea.category_of`` of ``products.jsonl`` ``type``) are pasted into IKEA room photos at
floor-like positions (product height 25-55 % of the room's height, bottom edge in the lower
40 % of the photo, random x) with a feathered alpha edge (Gaussian, sigma ``--feather`` px).
The truth is the pasted mask (alpha >= 0.5).

Two box sources per paste:

* ``slack``: the truth's tight box expanded by a random 0-6 % of its side on every side (a
  detector's slack);
* ``detector``: both shipped detectors (``adstage-detector-oid-ssd``,
  ``adstage-detector-coco-centernet``, ``--min-score`` 0.3) run on the composite; the box of
  any class with the best IoU with the truth's tight box is taken when that IoU >= 0.5 (the
  share of pastes with such a box is a detector-recall figure on pasted products).

For every box and every method of ``donors.MASK_METHODS`` (salient | grabcut | both) the mask is
exactly the pipeline's: ``piece_mask(bgr, det_box, crop_box_of(det_box, hw,
DonorParams().crop_margin), masker.mask, DonorParams(refine=method))``; scored by IoU with the
truth, and timed (wall and process CPU seconds of the ``piece_mask`` call, the mask net
included).

Reads ../shared/datasets/ikea in place (non-commercial research use); writes ``results.json``
(per paste, no pixels) and a few contact sheets under ``--out`` — a folder outside the
repository: never commit IKEA pixels.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from adstage.generative.masks import product_mask_from_white
from adstage.vision import ikea
from adstage.vision.detectors import Detector
from adstage.vision.donors import (MASK_METHODS, DonorParams, _int_box, crop_box_of, piece_mask,
                                   product_slot_category, slot_category)
from adstage.vision.salient import SalientMasker

FURNITURE = ("chair", "armchair", "sofa", "table", "bed")
DETECTORS = ("adstage-detector-oid-ssd", "adstage-detector-coco-centernet")
CLEAN_WHITE_HOLES = 0.05   # pieces whose truth holds < 5 % enclosed white: the clean subset
REPO = Path(__file__).resolve().parents[1]


# --- ground truth ---------------------------------------------------------------------------
def cutout(path: Path, min_keep: float = 0.9, open_holes: bool = False):
    """The product photo and its mask cropped to the mask's tight box, or None when the white
    threshold breaks the product into pieces (the largest part keeps < ``min_keep`` of the
    non-white pixels) or finds almost nothing. ``open_holes``: the enclosed white holes
    (:func:`white_holes`) are taken out of the mask, so a paste shows the room through them
    as a real room shows its floor between a table's legs."""
    img = cv2.imread(str(path))
    if img is None:
        return None
    mask = product_mask_from_white(img)
    raw = img.min(axis=-1) < 240
    if mask.mean() / 255 < 0.03 or (raw & (mask > 0)).sum() < min_keep * raw.sum():
        return None
    if open_holes:
        mask = np.where(white_holes(img, mask > 0), 0, mask).astype(np.uint8)
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return img[y0:y1, x0:x1], mask[y0:y1, x0:x1]


def white_holes(img: np.ndarray, mask: np.ndarray, threshold: int = 240,
                white: float = 245.0) -> np.ndarray:
    """The enclosed, near-white holes which the mask's hole filling kept (the background seen
    through a chair back, a loft bed, a glass top, under a table's stretcher, but also a white
    table top drawn only by its edges): pasted as white, counted as the piece."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    raw = cv2.morphologyEx((img.min(axis=-1) < threshold).astype(np.uint8) * 255,
                           cv2.MORPH_CLOSE, kernel) > 0
    n, lab, stats, _ = cv2.connectedComponentsWithStats((mask & ~raw).astype(np.uint8), 8)
    low = img.min(axis=-1)
    keep = [j for j in range(1, n)
            if stats[j, cv2.CC_STAT_AREA] >= 50 and low[lab == j].mean() >= white]
    return np.isin(lab, keep)


def white_hole_share(path: Path, threshold: int = 240, white: float = 245.0) -> float:
    """Share of the product mask that is enclosed white (:func:`white_holes`)."""
    img = cv2.imread(str(path))
    mask = product_mask_from_white(img, threshold) > 0
    return float(white_holes(img, mask, threshold, white).sum() / max(1, mask.sum()))


def paste(room: np.ndarray, prod: np.ndarray, pmask: np.ndarray, rng: np.random.Generator,
          feather: float, height: tuple[float, float] = (0.25, 0.55),
          bottom: tuple[float, float] = (0.6, 1.0)):
    """Composite and exact truth (uint8 0/255, alpha >= 0.5) of one product in one room: its
    height a share ``height`` of the room's, its bottom edge at a share ``bottom`` of it."""
    H, W = room.shape[:2]
    ph, pw = pmask.shape
    h = rng.uniform(*height) * H
    w = h * pw / ph
    if w > 0.9 * W:                      # a wide sofa or bed: as wide as the room allows
        w, h = 0.9 * W, 0.9 * W * ph / pw
    h, w = max(8, int(round(h))), max(8, int(round(w)))
    bottom = int(round(rng.uniform(*bottom) * H))
    bottom = min(H, max(bottom, h))
    x0 = int(rng.integers(0, W - w + 1))
    y0 = bottom - h
    p = cv2.resize(prod, (w, h), interpolation=cv2.INTER_AREA)
    m = cv2.resize(pmask.astype(np.float32) / 255, (w, h), interpolation=cv2.INTER_AREA)
    truth_small = m >= 0.5
    alpha_small = truth_small.astype(np.float32)
    if feather > 0:
        alpha_small = cv2.GaussianBlur(alpha_small, (0, 0), feather)
    truth = np.zeros((H, W), np.uint8)
    truth[y0:bottom, x0:x0 + w] = truth_small.astype(np.uint8) * 255
    alpha = np.zeros((H, W), np.float32)
    alpha[y0:bottom, x0:x0 + w] = alpha_small
    fg = np.zeros_like(room)
    fg[y0:bottom, x0:x0 + w] = p
    a = alpha[..., None]
    comp = np.clip(a * fg.astype(np.float32) + (1 - a) * room.astype(np.float32) + 0.5, 0, 255)
    return comp.astype(np.uint8), truth


def tight_box(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def slack_box(box: list[int], hw, rng: np.random.Generator, slack: float) -> list[int]:
    H, W = hw
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    d = rng.uniform(0, slack, 4)
    return _int_box((x0 - d[0] * bw, y0 - d[1] * bh, x1 + d[2] * bw, y1 + d[3] * bh), H, W)


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


# --- measuring ------------------------------------------------------------------------------
# Every mask method, and ``both`` without the open-floor treatment of tables (``open_under``).
METHODS = {**{m: DonorParams(refine=m) for m in MASK_METHODS},
           "both-closed": DonorParams(refine="both", open_under=())}


def run_methods(bgr, det_box, truth, masker, margin, category: str | None) -> dict:
    H, W = bgr.shape[:2]
    crop = crop_box_of(det_box, (H, W), margin)
    out = {}
    for method, params in METHODS.items():
        t0, c0 = time.perf_counter(), time.process_time()
        m = piece_mask(bgr, det_box, crop, masker.mask, params, category)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[method] = {"iou": round(mask_iou(m, truth), 4), "wall_s": round(wall, 4),
                       "cpu_s": round(cpu, 4), "_mask": m}
    return out


def summarise(rows: list[dict], key: str) -> dict:
    """Per method: n, mean / median IoU, share >= 0.8, wall and CPU s/piece."""
    table = {}
    for method in METHODS:
        vals = [r[key][method] for r in rows if r.get(key)]
        if not vals:
            continue
        ious = [v["iou"] for v in vals]
        table[method] = {
            "n": len(ious), "mean_iou": round(statistics.fmean(ious), 3),
            "median_iou": round(statistics.median(ious), 3),
            "share_ge_0.8": round(sum(i >= 0.8 for i in ious) / len(ious), 3),
            "wall_s": round(statistics.fmean(v["wall_s"] for v in vals), 3),
            "cpu_s": round(statistics.fmean(v["cpu_s"] for v in vals), 3)}
    return table


def paired(rows: list[dict], key: str, a: str, b: str, seed: int = 0,
           draws: int = 2000) -> dict:
    """``b`` against ``a`` on the same pieces: mean IoU difference with a 95 % bootstrap
    interval, and the shares of pieces where ``b`` is better / worse by more than 0.02."""
    d = np.asarray([r[key][b]["iou"] - r[key][a]["iou"] for r in rows if r.get(key)])
    if not len(d):
        return {}
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, len(d), (draws, len(d)))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"n": int(len(d)), "mean_diff": round(float(d.mean()), 3),
            "ci95": [round(float(lo), 3), round(float(hi), 3)],
            "better": round(float((d > 0.02).mean()), 3),
            "worse": round(float((d < -0.02).mean()), 3)}


def build_summary(rows: list[dict], meta: dict, detectors: bool = True) -> dict:
    """The tables of the report from the per-paste rows (``results.json``'s ``rows``)."""
    summary: dict = {"n": len(rows), **meta,
                     "products_distinct": len({r["product"] for r in rows}),
                     "rooms_distinct": len({r["room"] for r in rows})}
    cats = sorted({r["category"] for r in rows})
    summary["slack_boxes"] = {"all": summarise(rows, "slack"),
                              **{c: summarise([r for r in rows if r["category"] == c], "slack")
                                 for c in cats}}
    summary["category_n"] = {c: sum(r["category"] == c for r in rows) for c in cats}
    clean = [r for r in rows if r.get("white_holes", 1.0) < CLEAN_WHITE_HOLES]
    summary["clean_n"] = len(clean)
    summary["slack_boxes_clean"] = summarise(clean, "slack")
    summary["detector_boxes_clean"] = summarise([r for r in clean if r.get("detector")],
                                                "detector")
    pairs = [("salient", "both"), ("grabcut", "both"), ("salient", "grabcut"),
             ("both-closed", "both")] + [("both", m) for m in METHODS if m.startswith("open")]
    summary["paired_slack"] = {f"{b}-{a}": paired(rows, "slack", a, b) for a, b in pairs}
    summary["paired_slack_clean"] = {f"{b}-{a}": paired(clean, "slack", a, b)
                                     for a, b in pairs}
    if detectors:
        rec = {}
        for name in DETECTORS:
            rec[name] = {
                "any_box_iou_ge_0.5": round(sum(r["detectors"][name]["best_iou"] >= 0.5
                                                for r in rows) / len(rows), 3),
                "same_category_iou_ge_0.5": round(
                    sum(r["detectors"][name]["best_iou_same_category"] >= 0.5
                        for r in rows) / len(rows), 3),
                "wall_s": round(statistics.fmean(r["detectors"][name]["wall_s"]
                                                 for r in rows), 3)}
        rec["either"] = {
            "any_box_iou_ge_0.5": round(sum(r["det_best_iou"] >= 0.5 for r in rows)
                                        / len(rows), 3),
            "same_category_iou_ge_0.5": round(sum(
                max(r["detectors"][n]["best_iou_same_category"] for n in DETECTORS) >= 0.5
                for r in rows) / len(rows), 3)}
        rec["either_by_category"] = {
            c: round(sum(r["det_best_iou"] >= 0.5 for r in rows if r["category"] == c)
                     / max(1, summary["category_n"][c]), 3) for c in cats}
        summary["detector_recall"] = rec
        hit = [r for r in rows if r.get("detector")]
        summary["detector_boxes"] = {
            "all": summarise(hit, "detector"),
            **{c: summarise([r for r in hit if r["category"] == c], "detector") for c in cats}}
        summary["paired_detector"] = {f"{b}-{a}": paired(hit, "detector", a, b)
                                      for a, b in pairs}
        # The same pastes with slack boxes, for a like-for-like comparison.
        summary["slack_boxes_on_detector_hits"] = summarise(hit, "slack")
    return summary


def outline(img: np.ndarray, mask: np.ndarray, colour, thick: int = 2) -> None:
    cnts, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(img, cnts, -1, colour, thick)


def tile(comp, truth, box, res, label, size=300) -> np.ndarray:
    """Composite cropped round the box; one panel per method: truth green, mask red."""
    H, W = comp.shape[:2]
    x0, y0, x1, y1 = crop_box_of(box, (H, W), 0.15)
    panels = []
    for method in METHODS:
        p = comp.copy()
        outline(p, truth, (0, 200, 0), 2)
        outline(p, res[method]["_mask"], (0, 0, 255), 2)
        cv2.rectangle(p, tuple(box[:2]), (box[2] - 1, box[3] - 1), (255, 160, 0), 1)
        p = p[y0:y1, x0:x1]
        f = size / max(p.shape[:2])
        p = cv2.resize(p, (max(1, int(p.shape[1] * f)), max(1, int(p.shape[0] * f))))
        p = cv2.copyMakeBorder(p, 0, size - p.shape[0], 0, size - p.shape[1],
                               cv2.BORDER_CONSTANT)
        cv2.putText(p, f"{label} {method} {res[method]['iou']:.2f}", (4, 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        panels.append(p)
    return np.hstack(panels)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--root", type=Path, default=ikea.DEFAULT_ROOT)
    ap.add_argument("--out", type=Path, default=None,
                    help="folder outside the repository (results.json, contact sheets); "
                         "required unless --from-results")
    ap.add_argument("--n", type=int, default=150, help="pastes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slack", type=float, default=0.06, help="max box slack per side")
    ap.add_argument("--feather", type=float, default=1.0, help="alpha edge sigma, px")
    ap.add_argument("--min-score", type=float, default=0.3, help="detector score threshold")
    ap.add_argument("--no-detectors", action="store_true", help="slack boxes only")
    ap.add_argument("--categories", nargs="+", default=list(FURNITURE), choices=FURNITURE,
                    help="product categories pasted")
    ap.add_argument("--open-holes", action="store_true",
                    help="paste without the enclosed white (the room shows between legs)")
    ap.add_argument("--open-tops", nargs="*", type=float, default=[],
                    help="also measure the open-floor silhouette (DonorParams.open_under) on "
                         "the pasted categories with these sure-top shares, as open<NN>")
    ap.add_argument("--sheets", type=int, default=3, help="contact sheets of 8 pastes each")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--from-results", type=Path, default=None,
                    help="recompute the summary of an earlier run's results.json (no pastes)")
    args = ap.parse_args(argv)
    if args.from_results:
        data = json.loads(args.from_results.read_text())
        METHODS.update({m: None for m in data["rows"][0]["slack"] if m not in METHODS})
        meta = {k: data["summary"][k] for k in ("seed", "slack", "feather", "min_score",
                                                "products_skipped_draws", "wall_s_total")
                if k in data["summary"]}
        rows = data["rows"]
        shares: dict[str, float] = {}
        for r in rows:
            if "white_holes" not in r:
                if r["product"] not in shares:
                    path = args.root / "products" / f"{r['product']}.jpg"
                    shares[r["product"]] = round(white_hole_share(path), 4)
                r["white_holes"] = shares[r["product"]]
        print(json.dumps(build_summary(rows, meta, all("detectors" in r for r in rows)),
                         indent=1))
        return 0
    if args.out is None:
        ap.error("--out is required")
    out = args.out.resolve()
    if out == REPO or REPO in out.parents:
        ap.error("--out must be outside the repository (IKEA pixels are never committed)")
    out.mkdir(parents=True, exist_ok=True)

    pasted = tuple({product_slot_category(c) for c in args.categories} - {None})
    METHODS.update({f"open{round(t * 100)}": DonorParams(open_under=pasted, open_top=t)
                    for t in args.open_tops})
    items = ikea.items(args.root)
    products = [i for i in items if i.kind == "product" and i.category in args.categories]
    rooms = [i for i in items if i.kind == "room"]
    rng = np.random.default_rng(args.seed)
    masker = SalientMasker.shipped(threads=args.threads)
    detectors = [] if args.no_detectors else [Detector.shipped(n, threads=args.threads)
                                               for n in DETECTORS]
    margin = DonorParams().crop_margin
    cut_cache: dict[str, tuple | None] = {}
    rows: list[dict] = []
    tiles: list[np.ndarray] = []
    skipped = 0
    t_start = time.perf_counter()
    while len(rows) < args.n:
        prod = products[int(rng.integers(len(products)))]
        room = rooms[int(rng.integers(len(rooms)))]
        if prod.key not in cut_cache:
            cut_cache[prod.key] = cutout(prod.path, open_holes=args.open_holes)
        if cut_cache[prod.key] is None:
            skipped += 1
            continue
        pimg, pmask = cut_cache[prod.key]
        comp, truth = paste(cv2.imread(str(room.path)), pimg, pmask, rng, args.feather)
        H, W = truth.shape
        tbox = tight_box(truth)
        box = slack_box(tbox, (H, W), rng, args.slack)
        row = {"product": prod.key, "category": prod.category, "room": room.key,
               "white_holes": round(white_hole_share(prod.path), 4),
               "truth_box": tbox, "truth_frac": round(float((truth > 0).mean()), 4),
               "box": box}
        res = run_methods(comp, box, truth, masker, margin, product_slot_category(prod.category))
        row["slack"] = res
        if detectors:
            best, per_det = None, {}
            want = product_slot_category(prod.category)
            for det in detectors:
                t0 = time.perf_counter()
                dets = det.detect(comp, args.min_score)
                dt = time.perf_counter() - t0
                scored = sorted(((box_iou(d.box, tbox), d) for d in dets),
                                key=lambda x: -x[0])
                b_iou, b = scored[0] if scored else (0.0, None)
                cat_iou = max((i for i, d in scored if slot_category(d.label) == want),
                              default=0.0)
                per_det[det.spec.name] = {
                    "best_iou": round(b_iou, 4), "label": b.label if b else None,
                    "score": round(b.score, 3) if b else None,
                    "best_iou_same_category": round(cat_iou, 4), "wall_s": round(dt, 3)}
                if b is not None and (best is None or b_iou > best[0]):
                    best = (b_iou, b)
            row["detectors"] = per_det
            row["det_best_iou"] = round(best[0], 4) if best else 0.0
            if best and best[0] >= 0.5:
                dbox = _int_box(best[1].box, H, W)
                row["det_box"] = dbox
                row["det_label"] = best[1].label
                row["detector"] = res_det = run_methods(comp, dbox, truth, masker, margin,
                                                        product_slot_category(prod.category))
                if len(tiles) < 8 * args.sheets and len(rows) % 2:
                    tiles.append(tile(comp, truth, dbox, res_det, f"det {prod.category}"))
        if len(tiles) < 8 * args.sheets and not len(rows) % 2:
            tiles.append(tile(comp, truth, box, res, f"slack {prod.category}"))
        rows.append(row)
        done = len(rows)
        if done % 10 == 0 or done == args.n:
            el = time.perf_counter() - t_start
            print(f"{done}/{args.n} pastes, {el:.0f}s", file=sys.stderr, flush=True)

    for r in rows:
        for key in ("slack", "detector"):
            for v in (r.get(key) or {}).values():
                v.pop("_mask", None)

    meta = {"seed": args.seed, "slack": args.slack, "feather": args.feather,
            "categories": args.categories, "open_holes": args.open_holes,
            "min_score": args.min_score, "products_skipped_draws": skipped,
            "wall_s_total": round(time.perf_counter() - t_start, 1)}
    summary = build_summary(rows, meta, bool(detectors))
    (out / "results.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    for s in range(0, len(tiles), 8):
        part = tiles[s:s + 8]
        cv2.imwrite(str(out / f"sheet_{s // 8:02d}.jpg"), np.vstack(part),
                    [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
