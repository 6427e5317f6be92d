"""The demo catalog: deterministic, exact masks and boxes, valid feeds in every format."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from adstage.demo import catalog, products

N = 40
DS = "2026-11-24"


def _truth(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "ground_truth.jsonl").read_text().splitlines()]


def _read(root: Path, rel: str, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    image = cv2.imread(str(root / rel), flags)
    assert image is not None, rel
    return image


def _tight(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo")
    return root, catalog.generate_catalog(root, n_products=N, seed=7, ds=DS)


@pytest.mark.slow
def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 11), (b, 11), (c, 12)):
        catalog.generate_catalog(out, n_products=8, seed=seed, feed_format="parquet")
    files = sorted(p.relative_to(a) for p in a.rglob("*.png")) + [Path("ground_truth.jsonl")]
    assert sorted(p.relative_to(b) for p in b.rglob("*.png")) == files[:-1]
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    # The feed holds absolute paths; apart from them it is the same table.
    rows = [pq.read_table(d / "feed.parquet").to_pylist() for d in (a, b)]
    assert json.dumps(rows[0], default=str).replace(str(a), "") == \
        json.dumps(rows[1], default=str).replace(str(b), "")
    first = "images/products/demo-0001.png"
    assert (a / first).read_bytes() != (c / first).read_bytes()


@pytest.mark.slow
def test_masks_are_binary_and_match_their_images(demo):
    root, _ = demo
    for t in _truth(root):
        for view, size in (("unstaged", (256, 256)), ("staged", (384, 512))):
            if t[view] is None:
                continue
            image, mask = _read(root, t[view]["image"]), _read(root, t[view]["mask"])
            assert image.shape == (*size, 3) and image.dtype == np.uint8
            assert mask.shape == size and mask.dtype == np.uint8
            assert set(np.unique(mask)) == {0, 255}
            assert t[view]["box"] == _tight(mask), (t["product_id"], view)


@pytest.mark.slow
def test_unstaged_photos_show_the_product_on_white(demo):
    root, _ = demo
    for t in _truth(root):
        image, mask = _read(root, t["unstaged"]["image"]), _read(root, t["unstaged"]["mask"])
        product, background = image[mask > 0].astype(int), image[mask == 0].astype(int)
        # Every product pixel, white products included, is a few levels off the backdrop.
        assert (255 - product).max(axis=1).min() >= 10, t["product_id"]
        assert background.min() >= 248, t["product_id"]
        x0, y0, x1, y1 = t["unstaged"]["box"]
        assert 0.6 * 256 - 2 <= max(x1 - x0, y1 - y0) <= 0.85 * 256 + 2
        assert abs((x0 + x1) - 256) <= 2 and abs((y0 + y1) - 256) <= 2  # centred


@pytest.mark.slow
def test_staged_products_stand_inside_the_frame(demo):
    root, _ = demo
    staged = [t for t in _truth(root) if t["staged"]]
    assert staged
    for t in staged:
        mask = _read(root, t["staged"]["mask"])
        h, w = mask.shape
        x0, y0, x1, y1 = t["staged"]["box"]
        assert 0 < x0 < x1 < w and 0 < y0 < y1 < h, t["product_id"]
        assert (x1 - x0) * (y1 - y0) > 0.01 * w * h  # large enough to be an ad
        assert t["staged"]["room_style"] in ("wood_planks", "tiles", "carpet")
        # Same colour as the unstaged product: the median product pixel agrees roughly.
        un = _read(root, t["unstaged"]["image"])[_read(root, t["unstaged"]["mask"]) > 0]
        st = _read(root, t["staged"]["image"])[mask > 0]
        assert np.abs(np.median(un, 0) - np.median(st, 0)).max() < 40, t["product_id"]


@pytest.mark.slow
def test_counts_honour_staged_fraction_and_cover_every_class(demo, tmp_path):
    root, summary = demo
    truth = _truth(root)
    assert summary["n_products"] == len(truth) == N
    assert summary["n_staged"] == sum(t["staged"] is not None for t in truth) == round(N * 0.6)
    assert len(list((root / "images/staged").glob("*.png"))) == summary["n_staged"]
    assert len(list((root / "truth/products").glob("*.png"))) == N
    assert {t["category"] for t in truth} == set(products.CATEGORIES)
    assert {t["shape_class"] for t in truth} == set(products.SHAPE_CLASSES)
    allowed = {"sofa", "armchair", "chair", "table", "lamp", "cabinet", "bed"}
    assert set(products.CATEGORIES) <= allowed
    assert all(2 <= sum(s.startswith(c + "/") for s in products.SHAPE_CLASSES) <= 3
               for c in products.CATEGORIES)
    assert 0.075 <= summary["n_light"] / N <= 0.15
    # Every shape class keeps a staged donor when there are at least as many as classes.
    assert {t["shape_class"] for t in truth if t["staged"]} == set(products.SHAPE_CLASSES)
    for fraction, expected in ((0.0, 0), (1.0, 5), (0.5, 2)):
        s = catalog.generate_catalog(tmp_path / str(fraction), n_products=5,
                                     staged_fraction=fraction)
        assert s["n_staged"] == expected


def _validate_rows(rows: list[dict], root: Path) -> None:
    from adstage.config import DEFAULT_CATEGORIES
    from adstage.feed import parse_record

    truth = {t["product_id"]: t for t in _truth(root)}
    assert [r["product_id"] for r in rows] == sorted(truth)
    for row in rows:
        assert list(row) == list(catalog.FEED_COLUMNS)
        t = truth[row["product_id"]]
        assert row["category"] == t["category"] and row["title"]
        assert Path(row["image_uri"]).is_absolute() and Path(row["image_uri"]).is_file()
        assert row["image_uri"] == str(root.resolve() / t["unstaged"]["image"])
        extra = row["extra_images"]
        if t["staged"] is None:
            assert extra == []
        else:
            uri = str(root.resolve() / t["staged"]["image"])
            assert extra == [{"uri": uri, "role": "lifestyle"}]
        assert str(row["feed_date"]) == DS
        record = parse_record(json.dumps(row, default=str), feed_dir=str(root),
                              categories=DEFAULT_CATEGORIES)
        assert [i.role for i in record.images] == ["primary"] + ["lifestyle"] * len(extra)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_feed_rows_are_valid_in_every_format(tmp_path, fmt):
    summary = catalog.generate_catalog(tmp_path, n_products=6, seed=5, feed_format=fmt, ds=DS)
    feed = Path(summary["feed"])
    assert feed.name == f"feed.{fmt}"
    if fmt == "jsonl":
        rows = [json.loads(line) for line in feed.read_text().splitlines()]
    elif fmt == "csv":
        with feed.open(newline="") as f:
            rows = [{**r, "extra_images": json.loads(r["extra_images"])} for r in csv.DictReader(f)]
    else:
        table = pq.read_table(feed)
        kind = str(table.schema.field("extra_images").type)
        assert kind == "list<element: struct<uri: string, role: string>>"
        rows = table.to_pylist()
    _validate_rows(rows, tmp_path)


def test_cli_writes_a_catalog_and_prints_a_summary(tmp_path, capsys):
    assert catalog.main(["--out", str(tmp_path), "--products", "3", "--seed", "2",
                         "--format", "csv", "--ds", "2026-01-02"]) == 0
    out = capsys.readouterr().out
    assert "3 products" in out and (tmp_path / "feed.csv").is_file()
    with pytest.raises(SystemExit) as exc:
        catalog.main(["--help"])
    assert exc.value.code == 0
    assert "--staged-fraction" in capsys.readouterr().out


def test_render_product_is_exact_at_any_scale():
    spec = products.sample_spec("sofa/corner", np.random.default_rng(0))
    for scale in (0.5, 1.3, 2.7):
        sprite, mask = products.render_product(spec, scale, np.random.default_rng(1))
        assert sprite.shape[:2] == mask.shape and set(np.unique(mask)) == {0, 255}
        assert not sprite[mask == 0].any()
        w_cm, h_cm = spec.size_cm
        assert abs(mask.shape[1] - w_cm * scale) <= 2 and abs(mask.shape[0] - h_cm * scale) <= 2


def test_a_smaller_rerun_leaves_no_stale_files(tmp_path):
    catalog.generate_catalog(tmp_path, n_products=6, staged_fraction=1.0, feed_format="csv")
    catalog.generate_catalog(tmp_path, n_products=3, staged_fraction=0.0)
    assert len(list(tmp_path.rglob("demo-*.png"))) == 6  # 3 photos + 3 masks
    assert sorted(p.name for p in tmp_path.glob("feed.*")) == ["feed.jsonl"]


@pytest.mark.parametrize("shape", products.SHAPE_CLASSES)
def test_masks_have_no_pinholes(shape):
    """Holes are real gaps (between chair legs, ladder rungs), never seams between parts."""
    for k in range(3):
        rng = np.random.default_rng([k, 99])
        spec = products.sample_spec(shape, rng)
        for scale in (0.9, 2.3):
            _, mask = products.render_product(spec, scale, rng)
            background = (np.pad(mask, 1) == 0).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
            holes = sorted(stats[1:, cv2.CC_STAT_AREA])[:-1]  # the largest is the outside
            assert not holes or holes[0] >= 16, (shape, k, scale, holes[:3])
