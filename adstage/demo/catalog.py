"""Write the demo catalog: a merchant feed, product photos, staged photos and their ground truth.

Layout under ``out_dir`` (paths in ground truth are relative to it, in the feed absolute)::

    feed.<jsonl|csv|parquet>        one row per product (the pipeline's input)
    images/products/<id>.png        unstaged photo: the product on white
    images/staged/<id>.png          staged photo (only for a ``staged_fraction`` of products)
    truth/products/<id>.png         mask of the unstaged photo: 255 = product, 0 = background
    truth/staged/<id>.png           mask of the staged photo:   255 = product, 0 = everything else
    ground_truth.jsonl              shape class, colour, texture, boxes, room style per product

Same seed, same bytes: every product draws from its own generator seeded by (seed, index).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from adstage.demo import products, rooms

FORMATS = ("jsonl", "csv", "parquet")
FEED_COLUMNS = ("product_id", "title", "category", "image_uri", "extra_images", "feed_date")
_README = """Demo catalog written by adstage.demo.catalog (seed {seed}).
Masks in truth/ are uint8 PNGs: 255 (white) = product pixels, 0 (black) = background or decor.
Boxes are half-open [x0, y0, x1, y1] pixel bounds: mask[y0:y1, x0:x1] holds every product pixel.
"""


def _shape_order(n: int, seed: int) -> list[str]:
    """Shape class per product: blocks of every class in shuffled order, so n >= 15 covers all."""
    rng = np.random.default_rng([seed, 1_000_001])
    classes = products.SHAPE_CLASSES
    order: list[str] = []
    while len(order) < n:
        order += [classes[i] for i in rng.permutation(len(classes))]
    return order[:n]


def _staged_indices(shapes: list[str], fraction: float, seed: int) -> set[int]:
    """Exactly round(n * fraction) products, spread over shape classes before doubling up.

    Stratifying keeps a staged donor in as many shape classes as the count allows, which is
    what retrieval of same-shape donors needs.
    """
    rng = np.random.default_rng([seed, 1_000_002])
    k = int(round(len(shapes) * fraction))
    by_class: dict[str, list[int]] = {}
    for i, shape in enumerate(shapes):
        by_class.setdefault(shape, []).append(i)
    rank = [0] * len(shapes)  # position of the product within its class, in a random order
    for shape in sorted(by_class):
        for r, i in enumerate(rng.permutation(by_class[shape])):
            rank[int(i)] = r
    ties = rng.uniform(size=len(shapes))
    order = sorted(range(len(shapes)), key=lambda i: (rank[i], ties[i]))
    return set(order[:k])


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise OSError(f"could not write {path}")


def _product(index: int, shape: str, staged: bool, seed: int, out: Path, unstaged_size: int,
             staged_size: tuple[int, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Render and write one product; returns its ground-truth record and its feed row."""
    pid = f"demo-{index:04d}"
    spec = products.sample_spec(shape, np.random.default_rng([seed, index, 0]),
                                light=index % 10 == 3)  # every tenth: the white-on-white case
    rng = np.random.default_rng([seed, index, 1])
    image, mask, box = products.render_unstaged(spec, rng, unstaged_size)
    _write_png(out / "images" / "products" / f"{pid}.png", image)
    _write_png(out / "truth" / "products" / f"{pid}.png", mask)
    truth: dict[str, Any] = {
        "product_id": pid, "category": spec.category, "shape_class": shape,
        "color": spec.color, "texture": spec.texture, "title": products.title(spec),
        "size_cm": [round(v, 1) for v in spec.size_cm],
        "unstaged": {"image": f"images/products/{pid}.png", "mask": f"truth/products/{pid}.png",
                     "box": box},
        "staged": None,
    }
    extra: list[dict[str, str]] = []
    if staged:
        rng = np.random.default_rng([seed, index, 2])
        room = rooms.render_room(rng, staged_size)
        lift = rng.uniform(45, 60) if shape == "lamp/table" else 0.0  # on a side table
        place = rooms.plan_placement(room, spec.size_cm, rng, lift_cm=lift)
        sprite, smask = products.render_product(spec, place.px_per_cm, rng)
        result = rooms.stage(room, sprite, smask, place, spec.size_cm, rng,
                             rug=spec.category != "cabinet")  # nobody puts a wardrobe on a rug
        _write_png(out / "images" / "staged" / f"{pid}.png", result.image)
        _write_png(out / "truth" / "staged" / f"{pid}.png", result.mask)
        truth["staged"] = {"image": f"images/staged/{pid}.png", "mask": f"truth/staged/{pid}.png",
                           "box": result.box, "room_style": room.floor_kind,
                           "floor": room.floor_name, "wall": room.wall, "decor": list(result.decor)}
        extra.append({"uri": str(out / truth["staged"]["image"]), "role": "lifestyle"})
    row = {"product_id": pid, "title": truth["title"], "category": spec.category,
           "image_uri": str(out / truth["unstaged"]["image"]), "extra_images": extra}
    return truth, row


def _clear_previous(out: Path) -> None:
    """Remove what an earlier run wrote here, so a smaller rerun leaves no stale products.

    Only our own names are touched: ``demo-*.png`` in the image/mask folders and ``feed.*``.
    """
    for folder in ("images/products", "images/staged", "truth/products", "truth/staged"):
        for path in (out / folder).glob("demo-*.png"):
            path.unlink()
    for fmt in FORMATS:
        (out / f"feed.{fmt}").unlink(missing_ok=True)


def _write_feed(path: Path, rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FEED_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "extra_images": json.dumps(row["extra_images"])})
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        image = pa.struct([("uri", pa.string()), ("role", pa.string())])
        schema = pa.schema([("product_id", pa.string()), ("title", pa.string()),
                            ("category", pa.string()), ("image_uri", pa.string()),
                            ("extra_images", pa.list_(image)), ("feed_date", pa.date32())])
        columns = {c: [r[c] for r in rows] for c in FEED_COLUMNS}
        columns["feed_date"] = [dt.date.fromisoformat(d) for d in columns["feed_date"]]
        pq.write_table(pa.table(columns, schema=schema), path)
    else:
        raise ValueError(f"unknown feed format {fmt!r}; expected one of {', '.join(FORMATS)}")


def generate_catalog(out_dir: str | Path, n_products: int = 40, seed: int = 7,
                     feed_format: str = "jsonl", ds: str = "2026-11-24",
                     staged_fraction: float = 0.6, unstaged_size: int = 256,
                     staged_size: tuple[int, int] = (512, 384)) -> dict[str, Any]:
    """Generate the demo catalog under ``out_dir`` (see the module docstring for the layout).

    ``staged_size`` is (width, height). Returns a summary: counts per category and shape class,
    and the paths of the feed, the ground truth and the image folders.
    """
    if feed_format not in FORMATS:
        raise ValueError(f"unknown feed format {feed_format!r}; "
                         f"expected one of {', '.join(FORMATS)}")
    try:
        ds = dt.date.fromisoformat(ds).isoformat()
    except (TypeError, ValueError):
        raise ValueError(f"ds must be a YYYY-MM-DD date, got {ds!r}") from None
    if n_products < 0:
        raise ValueError("n_products must be >= 0")
    if not 0.0 <= staged_fraction <= 1.0:
        raise ValueError("staged_fraction must be within [0, 1]")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous(out)
    shapes = _shape_order(n_products, seed)
    staged = _staged_indices(shapes, staged_fraction, seed)
    truths, rows = [], []
    for i, shape in enumerate(shapes):
        truth, row = _product(i + 1, shape, i in staged, seed, out, unstaged_size,
                              tuple(staged_size))
        truths.append(truth)
        rows.append({**row, "feed_date": ds})
    feed = out / f"feed.{feed_format}"
    _write_feed(feed, rows, feed_format)
    gt = out / "ground_truth.jsonl"
    gt.write_text("".join(json.dumps(t) + "\n" for t in truths), encoding="utf-8")
    (out / "README.txt").write_text(_README.format(seed=seed), encoding="utf-8")

    def count(key: str) -> dict[str, int]:
        return dict(sorted(Counter(t[key] for t in truths).items()))

    return {
        "out_dir": str(out), "feed": str(feed), "ground_truth": str(gt),
        "images": str(out / "images"), "masks": str(out / "truth"),
        "n_products": n_products, "n_staged": len(staged),
        "n_unstaged_only": n_products - len(staged),
        "n_light": sum(t["color"] in products.LIGHT_COLORS for t in truths),
        "categories": count("category"), "shape_classes": count("shape_class"),
    }


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m adstage.demo.catalog --out DIR [--products N] [--seed S] ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m adstage.demo.catalog",
        description="Generate the deterministic demo catalog (feed, photos, masks, ground truth).")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--products", type=int, default=40, help="number of products (default 40)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="feed file format")
    parser.add_argument("--ds", default="2026-11-24", help="feed date, YYYY-MM-DD")
    parser.add_argument("--staged-fraction", type=float, default=0.6,
                        help="share of products that also get a staged photo (default 0.6)")
    parser.add_argument("--unstaged-size", type=int, default=256, help="side of unstaged photos")
    parser.add_argument("--staged-size", type=_size, default=(512, 384),
                        help="WIDTHxHEIGHT of staged photos (default 512x384)")
    args = parser.parse_args(argv)
    summary = generate_catalog(args.out, args.products, args.seed, args.format, args.ds,
                               args.staged_fraction, args.unstaged_size, args.staged_size)
    print(f"demo catalog: {summary['n_products']} products ({summary['n_staged']} staged, "
          f"{summary['n_unstaged_only']} to stage, {summary['n_light']} white/light grey) "
          f"in {summary['out_dir']}")
    print(f"feed: {summary['feed']}")
    print("categories: " + ", ".join(f"{k} {v}" for k, v in summary["categories"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
