"""The nightly stages, end to end, on the IKEA research set as a real catalog.

    PYSPARK_PYTHON=.venv/bin/python python research/ikea_catalog_run.py --home /tmp/adstage-ikea
    # [--products N] [--sheet 36]

A feed is written from ``../shared/datasets/ikea``: every product whose type maps to a pipeline
category (``adstage.vision.ikea.category_of``) with its photo on white as the primary image, and
each room photo as a lifestyle image of every listed product in the feed (a real catalog's
shape: one room under several products). Then, in one Spark application and exactly as the
nightly jobs run them: ingest -> classify -> cutouts & slots -> shape index -> pairing ->
copy-paste staging (copy_paste + hard_paste), with the evaluation hold-out (held-apart rooms
are never donors). The summary (numbers only) goes to ``<home>/summary.json``; the contact
sheets of staged images to ``<home>/sheets/`` - outside the repository: never commit IKEA pixels.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

DS = "2026-12-01"


def write_feed(root: Path, out: Path, products: int, seed: int) -> dict:
    from adstage.vision import ikea

    recs = [json.loads(l) for l in (root / "products.jsonl").read_text().splitlines()]
    recs = [r for r in recs if ikea.category_of(r.get("type", "")) and (root / r["image"]).is_file()]
    if products:
        recs = random.Random(seed).sample(recs, min(products, len(recs)))
    keep = {r["product_id"] for r in recs}
    lifestyle: dict[str, list[str]] = {}
    for line in (root / "rooms.jsonl").read_text().splitlines():
        room = json.loads(line)
        for pid in room.get("product_ids", []):
            if pid in keep:
                lifestyle.setdefault(pid, []).append(str((root / room["image"]).resolve()))
    rows = [{"product_id": r["product_id"], "title": f"{r['name']} {r['type']}",
             "category": ikea.category_of(r["type"]),
             "image_uri": str((root / r["image"]).resolve()),
             "extra_images": [{"uri": u, "role": "lifestyle"} for u in lifestyle.get(r["product_id"], [])]}
            for r in sorted(recs, key=lambda r: r["product_id"])]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"products": len(rows), "lifestyle_links": sum(len(v) for v in lifestyle.values()),
            "rooms_linked": len({u for v in lifestyle.values() for u in v}),
            "categories": dict(Counter(r["category"] for r in rows))}


def listed_agreement(settings, cp, slot_cat: dict, root: Path) -> dict:
    """Copy-paste images whose replaced piece is of a category the donor room lists
    (``rooms.jsonl`` -> slot categories, as ``research/ikea_slots.py`` counts agreement): a
    lower bound on right-category replacements (rooms hold unlisted furniture too)."""
    from adstage.report import read_table
    from research.ikea_slots import product_types, room_categories

    types = product_types(root)
    rooms = {r["room_id"]: r for r in map(json.loads, (root / "rooms.jsonl").read_text().splitlines())}
    cat = read_table(settings, "catalog_images")
    room_of = {i: Path(u).stem for i, u in zip(cat["image_id"], cat["source_uri"])}
    agree = [slot_cat.get(s) in room_categories(rooms.get(room_of.get(d), {}), types)
             for s, d in zip(cp["slot_id"], cp["donor_image_id"])]
    return {"images": int(sum(agree)), "share": round(sum(agree) / max(len(agree), 1), 4)}


def summarise(settings, ds: str, root: Path) -> dict:
    import numpy as np

    from adstage.report import read_table
    from adstage.vision.donors import product_slot_category

    slots = read_table(settings, "donor_slots")
    staged = read_table(settings, "staged_images", ds=ds)
    rejects = read_table(settings, "staging_rejects", ds=ds)
    pairs_rej = read_table(settings, "pairing_rejects", ds=ds)
    labels = read_table(settings, "image_labels", ds=ds)
    cuts = read_table(settings, "product_cutouts", ds=ds)
    cp = staged[staged["method"] == "copy_paste"]
    rej = rejects[rejects["method"] == "copy_paste"]
    products = set(cuts["product_id"])
    in_cat = {p for p, c in zip(cuts["product_id"], cuts["category"]) if product_slot_category(c)}
    photos = slots.drop_duplicates("image_uri")
    usable = slots[slots["usable"]].drop_duplicates(["image_uri", "slot_index"])
    counts = cp["slot_id"].value_counts()
    slot_cat = dict(zip(slots["slot_id"], slots["category"]))
    return {
        "labels": {f"{r}->{l}": n for (r, l), n in
                   Counter(zip(labels["image_role"], labels["label"])).most_common()},
        "staged_photos": int(len(photos)),
        "staged_photos_with_usable_slot": int(usable["image_uri"].nunique()),
        "usable_slots": int(len(usable)),
        "usable_slots_by_category": dict(Counter(usable["category"])),
        "slot_flags": dict(Counter(f for fl in slots["flags"].dropna() for f in fl)),
        "products": len(products),
        "products_with_like_category": len(in_cat),
        "copy_paste_images": int(len(cp)),
        "share_with_copy_paste": round(len(cp) / max(len(products), 1), 4),
        "share_of_like_category_with_copy_paste": round(
            len(set(cp["product_id"]) & in_cat) / max(len(in_cat), 1), 4),
        "every_other_product_has_a_reason": set(cp["product_id"]) | set(rej["product_id"]) >= products,
        "reasons": dict(Counter(rej["reason"])),
        "pairing_reasons": dict(Counter(pairs_rej["reason"])),
        "distinct_donor_slots": int(len(counts)),
        "max_slot_share": round(float(counts.max() / len(cp)), 4) if len(cp) else None,
        "top_slot_uses": [int(v) for v in counts.head(5)],
        "unlike_slot_images": int(sum(product_slot_category(c) != slot_cat.get(s)
                                      for c, s in zip(cp["category"], cp["slot_id"]))),
        "images_on_a_listed_category": listed_agreement(settings, cp, slot_cat, root),
        "median_size_ratio": round(float(np.median(cp["size_ratio"])), 4) if len(cp) else None,
        "size_ratio_p10_p90": ([round(float(np.percentile(cp["size_ratio"], q)), 3)
                                for q in (10, 90)] if len(cp) else None),
        "median_gap_share": round(float(np.median(cp["gap_share"])), 4) if len(cp) else None,
        "preservation_max": float(cp["preservation_max"].max()) if len(cp) else None,
        "seam_copy_minus_hard_per_image": seam_paired(staged),
    }


def seam_paired(staged, draws: int = 5000) -> dict | None:
    """Each product's copy-paste ``seam_score`` minus its hard paste's (the evaluation stage
    writes them; higher = more "pasted"), mean and paired bootstrap 95 % interval."""
    import numpy as np

    by = {m: staged[staged["method"] == m].set_index("product_id")["seam_score"].dropna()
          for m in ("copy_paste", "hard_paste")}
    ids = sorted(set(by["copy_paste"].index) & set(by["hard_paste"].index))
    if not ids:
        return None
    d = np.array([by["copy_paste"][i] - by["hard_paste"][i] for i in ids], np.float64)
    rng = np.random.default_rng(0)
    means = d[rng.integers(0, len(d), (draws, len(d)))].mean(axis=1)
    return {"products": len(ids), "mean": round(float(d.mean()), 4),
            "ci95": [round(float(np.percentile(means, q)), 4) for q in (2.5, 97.5)]}


def sheets(settings, ds: str, out: Path, n: int, seed: int) -> None:
    import cv2
    import numpy as np

    from adstage.imagestore import ImageStore
    from adstage.report import read_table

    store = ImageStore(settings.image_store_uri)
    staged = read_table(settings, "staged_images", ds=ds)
    cp = staged[staged["method"] == "copy_paste"]
    hp = staged[staged["method"] == "hard_paste"].set_index("product_id")
    picks = cp.sample(min(n, len(cp)), random_state=seed) if len(cp) else cp
    out.mkdir(parents=True, exist_ok=True)

    def tile(uri, w=400, h=300):
        img = store.get_image(uri)
        f = min(w / img.shape[1], h / img.shape[0])
        img = cv2.resize(img, (int(img.shape[1] * f), int(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
        return cv2.copyMakeBorder(img, 0, h - img.shape[0], 0, w - img.shape[1], cv2.BORDER_CONSTANT)

    rows = []
    for r in picks.itertuples():
        trio = [tile(r.product_image_uri), tile(r.donor_image_uri), tile(r.output_uri)]
        if r.product_id in hp.index:
            trio.append(tile(hp.loc[r.product_id, "output_uri"]))
        while len(trio) < 4:
            trio.append(np.zeros_like(trio[0]))
        row = np.hstack(trio)
        cv2.putText(row, f"{r.product_id} {r.category} slot {r.slot_id[-12:]} ratio {r.size_ratio:.2f}",
                    (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1, cv2.LINE_AA)
        rows.append(row)
    for k in range(0, len(rows), 6):
        cv2.imwrite(str(out / f"staged-{k // 6:02d}.jpg"), np.vstack(rows[k:k + 6]),
                    [cv2.IMWRITE_JPEG_QUALITY, 85])


def main(argv: list[str] | None = None) -> int:
    from adstage.vision import ikea

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ikea.DEFAULT_ROOT)
    ap.add_argument("--home", type=Path, required=True, help="adstage home, outside the repository")
    ap.add_argument("--products", type=int, default=0, help="seeded sample (0 = every product)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sheet", type=int, default=36, help="staged images on the contact sheets")
    ap.add_argument("--phase", choices=("all", "summary"), default="all")
    ap.add_argument("--from-stage", default="ingest",
                    help="re-run from this stage on (e.g. pair_donors after a pairing change)")
    ap.add_argument("--conf", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--evaluate", action="store_true",
                    help="then the nightly evaluation stage: FD/KID on Inception and the seam "
                         "measure of copy_paste and hard_paste against the held-apart rooms")
    args = ap.parse_args(argv)

    from adstage import ingest, logs
    from adstage.config import Settings, parse_overrides
    from adstage.spark import get_session
    from adstage.staging import copy_paste
    from adstage.vision import classify, cutouts, pair_donors, shape_index

    conf = {"home": str(args.home), "allowed_roots": str(args.root.resolve()), "onnx_device": "cpu",
            "staging_methods": "copy_paste,hard_paste", **parse_overrides(args.conf)}
    settings = Settings.load(conf)
    logs.setup("INFO")
    feed = args.home / "feed.jsonl"
    report: dict = {"command": "python research/ikea_catalog_run.py "
                    + " ".join(sys.argv[1:] if argv is None else argv),
                    "settings": {k: conf[k] for k in conf if k not in ("home", "allowed_roots")}}
    if args.phase == "all":
        report["feed"] = write_feed(args.root, feed, args.products, args.seed)
        spark = get_session(settings, "adstage-ikea-catalog")
        seconds, started = {}, False
        stages = [("ingest", lambda: ingest.run(spark, settings, DS, str(feed))),
                  ("classify", lambda: classify.run(spark, settings, DS)),
                  ("cutouts", lambda: cutouts.run(spark, settings, DS)),
                  ("shape_index", lambda: shape_index.run(spark, settings, DS)),
                  ("pair_donors", lambda: pair_donors.run(spark, settings, DS)),
                  ("stage_copy_paste", lambda: copy_paste.run(spark, settings, DS))]
        if args.evaluate:
            from adstage.evaluation import evaluate

            stages.append(("evaluate", lambda: report.update(
                evaluation=evaluate.run(spark, settings, DS))))
        for name, fn in stages:
            started = started or name == args.from_stage
            if not started:
                continue
            t0 = time.perf_counter()
            fn()
            seconds[name] = round(time.perf_counter() - t0, 1)
            print(f">> {name}: {seconds[name]} s", flush=True)
        report["seconds"] = seconds
        spark.stop()
    report["summary"] = summarise(settings, DS, args.root)
    sheets(settings, DS, args.home / "sheets", args.sheet, args.seed)
    (args.home / "summary.json").write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
