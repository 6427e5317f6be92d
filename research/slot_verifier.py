"""Does a second opinion on each detector box's category help? (issue 17: detector errors)

    python research/slot_verifier.py features --out /tmp/slot-verifier     # cache (slow part)
    python research/slot_verifier.py evaluate --out /tmp/slot-verifier     # folds, figures

The detectors' class is the slot's category; their mistakes (a chest of drawers called a
table, a children's bed called a couch) are the copy-paste images nobody could ship. The
second opinion: a linear probe on the FID Inception's pool3 features (the set-up builds that
network anyway) of the detector box's crop, trained on product photos labelled by their feed
category — what any catalog has. Two training views per product: the photo's crop on white,
and its cut-out pasted into a room photo, cropped as a detector box would be (10 % margin).

Evaluation by room folds (5): the probe of a fold never saw a product listed in the fold's
rooms nor a room of the fold as paste background. On every usable slot of the fold's rooms
(the pipeline's ``donor_slots``, both shipped detectors) it gives P(category); a slot is kept
when P(its detector category) >= tau. Figures per tau: usable slots, rooms with one, agreement
with the room's listed categories (``research/ikea_slots.py``'s lower bound).

Reads ../shared/datasets/ikea in place (non-commercial research use); writes ``.npz`` caches
and ``summary.json`` (numbers only) under ``--out``, outside the repository.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from adstage.evaluation import features as F
from adstage.onnx_runtime import OrtOptions
from adstage.vision import ikea
from adstage.vision.cutouts import DetectorSlots
from adstage.vision.detectors import Detector
from adstage.vision.donors import DonorParams, crop_box_of, product_slot_category
from adstage.vision.salient import SalientMasker
from research.ikea_slot_masks import cutout, paste, tight_box
from research.ikea_slots import product_types, room_categories

DETECTORS = ("adstage-detector-oid-ssd", "adstage-detector-coco-centernet")
FOLDS = 5


def verifier_class(category: str | None) -> str:
    """The probe's class of a feed category: slot categories, the other staged categories,
    and ``other`` (vases, rugs, shelves...)."""
    if category is None:
        return "other"
    return product_slot_category(category) or category


def fold_of(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % FOLDS


def box_crop(bgr: np.ndarray, box, margin: float) -> np.ndarray:
    x0, y0, x1, y1 = crop_box_of([int(v) for v in box], bgr.shape[:2], margin)
    return np.ascontiguousarray(bgr[y0:y1, x0:x1])


def product_features(root: Path, out: Path, embed, seed: int = 0) -> None:
    products = [json.loads(l) for l in (root / "products.jsonl").read_text().splitlines()]
    rooms = [json.loads(l) for l in (root / "rooms.jsonl").read_text().splitlines()]
    room_imgs = {r["room_id"]: cv2.imread(str(root / r["image"])) for r in rooms}
    rng = np.random.default_rng(seed)
    ids, labels, views, bg_rooms, feats = [], [], [], [], []
    t0 = time.time()
    for i, rec in enumerate(products):
        cut = cutout(root / rec["image"])
        if cut is None:
            continue
        prod, pmask = cut
        crops = [box_crop(cv2.copyMakeBorder(prod, 40, 40, 40, 40, cv2.BORDER_CONSTANT,
                                             value=(255, 255, 255)),
                          [40, 40, 40 + prod.shape[1], 40 + prod.shape[0]], 0.1)]
        bgs = [""]
        room_id = rooms[int(rng.integers(len(rooms)))]["room_id"]
        comp, truth = paste(room_imgs[room_id], prod, pmask, rng, feather=1.0)
        crops.append(box_crop(comp, tight_box(truth), 0.1))
        bgs.append(room_id)
        f = embed(crops)
        for view, (bg, vec) in enumerate(zip(bgs, f)):
            ids.append(rec["product_id"])
            labels.append(verifier_class(ikea.category_of(rec.get("type", ""))))
            views.append(view)
            bg_rooms.append(bg)
            feats.append(vec.astype(np.float32))
        if (i + 1) % 100 == 0:
            print(f"products {i + 1}/{len(products)} ({time.time() - t0:.0f} s)", flush=True)
    np.savez_compressed(out / "products.npz", ids=np.array(ids), labels=np.array(labels),
                        views=np.array(views), bg_rooms=np.array(bg_rooms),
                        feats=np.stack(feats))


def room_features(root: Path, out: Path, embed) -> None:
    rooms = [json.loads(l) for l in (root / "rooms.jsonl").read_text().splitlines()]
    params = DonorParams()
    finder = DetectorSlots([Detector.shipped(n, threads=2) for n in DETECTORS],
                           SalientMasker.shipped(threads=2), params)
    rows, feats = [], []
    t0 = time.time()
    for i, room in enumerate(rooms):
        bgr = cv2.imread(str(root / room["image"]))
        keep = [s for s in finder.slots(bgr) if s.category is not None]
        if keep:
            feats.append(embed([box_crop(bgr, s.det_box, params.crop_margin) for s in keep])
                         .astype(np.float32))
        for s in keep:
            rows.append({"room": room["room_id"], "label": s.label, "category": s.category,
                         "flags": s.flags, "score": s.score, "box": s.det_box,
                         "area_frac": s.area_frac})
        print(f"rooms {i + 1}/{len(rooms)}: {len(keep)} taxonomy pieces "
              f"({time.time() - t0:.0f} s)", flush=True)
    (out / "room_slots.json").write_text(json.dumps(rows))
    np.save(out / "room_feats.npy", np.concatenate(feats))


def train_probe(X: np.ndarray, y: np.ndarray, C: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    return clf.fit(X, y)


def evaluate(root: Path, out: Path, C: float, taus: list[float], classes: str) -> dict:
    p = dict(np.load(out / "products.npz"))
    if classes == "furniture":  # no "other": a dressed bed is not a duvet cover
        keep = p["labels"] != "other"
        p = {k: v[keep] for k, v in p.items()}
    rows = json.loads((out / "room_slots.json").read_text())
    R = np.load(out / "room_feats.npy")
    rooms = {json.loads(l)["room_id"]: json.loads(l)
             for l in (root / "rooms.jsonl").read_text().splitlines()}
    types = product_types(root)
    probs = np.zeros(len(rows))
    top = [""] * len(rows)
    prod_acc = []
    for f in range(FOLDS):
        test_rooms = {r for r in rooms if fold_of(r) == f}
        listed = {pid for r in test_rooms for pid in rooms[r].get("product_ids", [])}
        # products of the fold's rooms, and pastes onto its rooms, stay out of training
        train = np.array([(i not in listed) and (b not in test_rooms)
                          for i, b in zip(p["ids"], p["bg_rooms"])])
        held = np.array([i in listed for i in p["ids"]])
        clf = train_probe(p["feats"][train], p["labels"][train], C)
        if held.any():
            prod_acc.append((clf.predict(p["feats"][held]) == p["labels"][held]).mean())
        idx = [k for k, r in enumerate(rows) if r["room"] in test_rooms]
        if not idx:
            continue
        pr = clf.predict_proba(R[idx])
        known = list(clf.classes_)
        for j, k in enumerate(idx):
            c = rows[k]["category"]
            probs[k] = pr[j, known.index(c)] if c in known else 0.0
            top[k] = known[int(np.argmax(pr[j]))]
    listed_cats = {r: room_categories(rooms[r], types) for r in rooms}
    usable = [k for k, r in enumerate(rows) if not r["flags"]]
    result = {"C": C, "classes": classes, "rooms": len(rooms), "usable_slots": len(usable),
              "held_product_accuracy_per_fold": [round(float(a), 3) for a in prod_acc],
              "by_tau": []}
    for tau in [0.0] + taus:
        kept = [k for k in usable if probs[k] >= tau]
        agree = sum(rows[k]["category"] in listed_cats[rows[k]["room"]] for k in kept)
        dropped = [k for k in usable if probs[k] < tau]
        dropped_agree = sum(rows[k]["category"] in listed_cats[rows[k]["room"]]
                            for k in dropped)
        result["by_tau"].append({
            "tau": tau, "usable_slots": len(kept),
            "rooms_with_usable_slot": len({rows[k]["room"] for k in kept}),
            "agreement": round(agree / max(1, len(kept)), 4),
            "dropped": len(dropped), "dropped_that_agreed": dropped_agree,
            "by_category": dict(Counter(rows[k]["category"] for k in kept))})
    result["disputes"] = [{"room": rows[k]["room"][:60], "category": rows[k]["category"],
                           "p": round(float(probs[k]), 3), "probe_top": top[k],
                           "listed": sorted(listed_cats[rows[k]["room"]])}
                          for k in usable if probs[k] < 0.5]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("features", "evaluate"))
    ap.add_argument("--root", type=Path, default=ikea.DEFAULT_ROOT)
    ap.add_argument("--out", type=Path, required=True, help="folder outside the repository")
    ap.add_argument("--C", type=float, default=0.05, help="inverse L2 strength of the probe")
    ap.add_argument("--classes", choices=("all", "furniture"), default="furniture",
                    help="train on every product (with an 'other' class) or furniture only")
    ap.add_argument("--tau", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5])
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "features":
        embed = F.embedder(str(F.default_inception_path()), options=OrtOptions(threads=2))
        if not (args.out / "products.npz").exists():
            product_features(args.root, args.out, embed)
        room_features(args.root, args.out, embed)
        return 0
    result = evaluate(args.root, args.out, args.C, args.tau, args.classes)
    result["command"] = "python research/slot_verifier.py evaluate " + " ".join(argv or [])
    (args.out / f"summary-{args.classes}-C{args.C}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "disputes"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
