"""Vision core without Spark: cutouts, shape descriptors, FAISS indexes, slots and pairing on
small arrays and on a small demo catalog with ground truth; the shipped classifier via ORT."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from adstage.demo.catalog import generate_catalog
from adstage import registry
from adstage.vision import backdrop_cutout, shape, shape_index, slots
from adstage.vision.codes import VisionReason
from adstage.vision.donors import product_slot_category
from adstage.vision.pair_donors import LoadedIndex, PairingParams, Query, pair


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("demo")
    generate_catalog(out, 40, seed=7)
    truth = [json.loads(line) for line in (out / "ground_truth.jsonl").read_text().splitlines()]
    return out, truth


def read(root: Path, rel: str, flags=cv2.IMREAD_COLOR) -> np.ndarray:
    return cv2.imread(str(root / rel), flags)


# ---- cutouts ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_cutout_iou_on_demo_ground_truth(demo):
    root, truth = demo
    ious, light = [], []
    for t in truth:
        c = backdrop_cutout.cut_out(read(root, t["unstaged"]["image"]))
        gt = read(root, t["unstaged"]["mask"], cv2.IMREAD_GRAYSCALE)
        ious.append(backdrop_cutout.iou(c.mask, gt))
        assert c.ok, (t["product_id"], c.flags)
        assert c.box == t["unstaged"]["box"] or backdrop_cutout.iou(c.mask, gt) > 0.95
        if t["color"] in ("white", "light grey"):
            light.append(ious[-1])
    assert np.mean(ious) >= 0.98 and min(ious) >= 0.95, (np.mean(ious), min(ious))
    assert light and min(light) >= 0.95  # white-on-white, the hard case


def test_cutout_soft_edge_and_polarity():
    img = np.full((120, 160, 3), 250, np.uint8)
    cv2.rectangle(img, (40, 30), (119, 89), (60, 80, 200), -1)
    c = backdrop_cutout.cut_out(img)
    assert c.ok and c.box == [40, 30, 120, 90]
    assert c.mask[60, 80] == 255 and c.mask[5, 5] == 0
    # The soft edge has intermediate alpha only along the outline.
    assert 0 < c.alpha[60, 39] < 255 or 0 < c.alpha[60, 40] < 255
    assert set(np.unique(c.mask)) <= {0, 255}


def test_cutout_flags_a_busy_background():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)
    c = backdrop_cutout.cut_out(img)
    assert backdrop_cutout.BACKGROUND_NOT_UNIFORM in c.flags and not c.ok


def test_cutout_keeps_see_through_gaps_open():
    img = np.full((100, 100, 3), 252, np.uint8)
    cv2.rectangle(img, (20, 20), (79, 79), (40, 40, 40), 6)  # a frame: its inside is backdrop
    c = backdrop_cutout.cut_out(img)
    assert c.mask[50, 50] == 0 and c.mask[20, 50] == 255


def test_cutout_empty_image():
    c = backdrop_cutout.cut_out(np.full((64, 64, 3), 255, np.uint8))
    assert backdrop_cutout.EMPTY in c.flags and c.box == [0, 0, 0, 0]


# ---- shape descriptors and indexes -----------------------------------------------------------
def test_descriptor_is_scale_and_position_invariant_but_not_aspect():
    a = np.zeros((200, 200), np.uint8)
    cv2.ellipse(a, (60, 80), (40, 20), 0, 0, 360, 255, -1)
    b = cv2.resize(a, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    b = np.roll(b, 37, axis=1)
    tall = np.zeros((200, 200), np.uint8)
    cv2.ellipse(tall, (100, 100), (20, 40), 0, 0, 360, 255, -1)
    da, db, dt = shape.describe(a), shape.describe(b), shape.describe(tall)
    assert da.vector.shape == (shape.DIM,) and abs(np.linalg.norm(da.vector) - 1) < 1e-5
    assert shape.similarity(da.vector, db.vector) > 0.98
    assert shape.similarity(da.vector, dt.vector) < 0.9
    assert da.aspect == pytest.approx(2.0, rel=0.05)
    with pytest.raises(ValueError):
        shape.describe(np.zeros((8, 8), np.uint8))


def test_flat_and_hnsw_agree(tmp_path):
    rng = np.random.default_rng(1)
    v = rng.normal(size=(500, 64)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    flat = shape_index.build(v, "flat_ip")
    hnsw = shape_index.from_bytes(shape_index.to_bytes(shape_index.build(v, "hnsw_ip")))
    _, a = flat.search(v[:50], 1)
    _, b = hnsw.search(v[:50], 1)
    assert (a == b).mean() >= 0.95
    assert shape_index.index_type_for(10, 100) == "flat_ip"
    assert shape_index.index_type_for(101, 100) == "hnsw_ip"
    # storage round trip through the warehouse helpers
    shape_index.write_bytes(str(tmp_path / "x" / "i.faiss"), shape_index.to_bytes(flat))
    again = shape_index.from_bytes(shape_index.read_bytes(str(tmp_path / "x" / "i.faiss")))
    assert again.ntotal == 500


def _index_of(truth, root, kind="staged"):
    import pandas as pd

    donors = [t for t in truth if t[kind]]
    vecs, rows = [], []
    for t in donors:
        s = shape.describe(read(root, t[kind]["mask"], cv2.IMREAD_GRAYSCALE))
        vecs.append(s.vector)
        rows.append({"slot_id": t["product_id"] + "-0", "image_id": "img-" + t["product_id"],
                     "product_id": t["product_id"], "category": t["category"],
                     "aspect": s.aspect, "box": s.box, "shape_class": t["shape_class"]})
    members = pd.DataFrame(rows)
    # Indexed under slot categories, as shape_index does (armchair -> chair, couch -> sofa).
    key = members["category"].map(lambda c: product_slot_category(c) or c)
    out = {}
    for cat, group in members.groupby(key):
        idx = shape_index.build(np.stack([vecs[i] for i in group.index]), "flat_ip")
        out[cat] = LoadedIndex(cat, f"{cat}@v1", idx, group.reset_index(drop=True))
    return out, members


@pytest.mark.slow
def test_retrieval_recall_at_5_on_demo_ground_truth(demo):
    """Query = the product's own cutout; donors = the demo's exact staged masks."""
    root, truth = demo
    indexes, members = _index_of(truth, root)
    hits = n = 0
    for t in truth:
        same = members[(members.shape_class == t["shape_class"])
                       & (members.product_id != t["product_id"])]
        if same.empty:
            continue
        c = backdrop_cutout.cut_out(read(root, t["unstaged"]["image"]))
        s = shape.describe(c.mask)
        got = pair(Query(t["product_id"], t["category"], "q", s.vector, s.aspect, c.box),
                   indexes, PairingParams(top_k=5, max_aspect_log_ratio=0.6, min_similarity=0.3,
                                          max_upscale=10))
        assert all(g.get("donor_product_id") != t["product_id"] for g in got)
        classes = set(members.set_index("slot_id").loc[[g["slot_id"] for g in got
                                                        if g.get("slot_id")], "shape_class"])
        n += 1
        hits += t["shape_class"] in classes
    assert n >= 30 and hits / n >= 0.9, (hits, n)


@pytest.mark.slow
def test_pairing_reasons_and_fallback(demo):
    root, truth = demo
    indexes, _ = _index_of(truth, root)
    t = truth[0]
    c = backdrop_cutout.cut_out(read(root, t["unstaged"]["image"]))
    s = shape.describe(c.mask)
    q = Query(t["product_id"], "no-such-category", "q", s.vector, s.aspect, c.box)
    loose = dict(min_similarity=0.0, max_aspect_log_ratio=5, max_upscale=100)
    # Like for like by default: a category without a like slot gets a reason, not a donor.
    unlike = pair(q, indexes, PairingParams(**loose))
    assert [r["reason"] for r in unlike] == [VisionReason.NO_LIKE_SLOT.value]
    got = pair(q, indexes, PairingParams(**loose, like_only=False))
    assert got and all(g["match"] == "shape_only" for g in got)
    assert [g["rank"] for g in got] == list(range(1, len(got) + 1))
    none = pair(q, {}, PairingParams())
    assert none[0]["reason"] == VisionReason.NO_DONOR_IN_CATALOG.value
    strict = pair(q, indexes, PairingParams(min_similarity=1.01, like_only=False))
    assert strict[0]["reason"] == VisionReason.NO_COMPATIBLE_DONOR.value
    assert "similarity" in strict[0]["detail"]


@pytest.mark.slow
def test_pairing_spreads_near_equal_products_over_near_equal_slots(demo):
    """Two hundred products of one shape: without the jitter all take the one best slot."""
    root, truth = demo
    indexes, members = _index_of(truth, root)
    t = next(t for t in truth if t["category"] in indexes)
    c = backdrop_cutout.cut_out(read(root, t["unstaged"]["image"]))
    s = shape.describe(c.mask)
    loose = dict(min_similarity=0.0, max_aspect_log_ratio=5, max_upscale=100, top_k=1)
    firsts = {}
    for diversity in (0.0, 0.5):
        tops = [pair(Query(f"p{i}", t["category"], "q", s.vector, s.aspect, c.box), indexes,
                     PairingParams(**loose, diversity=diversity))[0]["slot_id"]
                for i in range(200)]
        firsts[diversity] = max(tops.count(x) for x in set(tops)) / len(tops)
    assert firsts[0.0] == 1.0 and firsts[0.5] < 0.8, firsts


# ---- slots -----------------------------------------------------------------------------------
def test_find_slots_components_quality_and_frame():
    prob = np.zeros((96, 128), np.float32)
    prob[40:90, 20:60] = 0.97      # a confident product
    prob[10:30, 100:128] = 0.55    # unsure, and cut by the right edge
    prob[5:7, 5:7] = 0.9           # a speck
    found = slots.find_slots(prob, (384, 512))
    assert len(found) == 2
    big, small = found
    assert big.usable and big.box == [80, 160, 240, 360] and big.quality > 0.9
    assert not small.usable and slots.CUT_BY_FRAME in small.flags
    assert slots.find_slots(np.zeros((96, 128), np.float32), (384, 512)) == []


# ---- models ----------------------------------------------------------------------------------
def test_shipped_models_have_cards_and_load_without_torch():
    import subprocess
    import sys

    code = ("import sys; from adstage import registry, onnx_runtime; from adstage.vision import classify, cutouts, "
            "pair_donors, shape_index; m = registry.shipped('classifier', 'classifier.onnx'); "
            "s = registry.shipped('segmenter', 'segmenter.onnx'); "
            "onnx_runtime.session_from_bytes(m.data, 'cpu'); "
            "onnx_runtime.session_from_bytes(s.data, 'cpu'); "
            "assert 'torch' not in sys.modules, 'nightly path imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)
    for folder, name in (("classifier", "classifier.onnx"), ("segmenter", "segmenter.onnx")):
        m = registry.shipped(folder, name)
        assert len(m.data) < 5 * 2**20
        for key in ("architecture", "input", "output", "data", "training"):
            assert key in m.card, (folder, key)


@pytest.mark.slow
def test_shipped_classifier_on_demo(demo):
    from adstage.vision.classify import label_images
    from adstage.onnx_runtime import session_from_bytes

    root, truth = demo
    sess = session_from_bytes(registry.shipped("classifier", "classifier.onnx").data, "cpu")
    images, expected = [], {}
    for t in truth:
        for kind in ("unstaged", "staged"):
            if t[kind]:
                key = f"{t['product_id']}-{kind}"
                images.append((key, (root / t[kind]["image"]).read_bytes()))
                expected[key] = kind
    images.append(("broken", b"not a png"))
    rows = {r["image_id"]: r for r in label_images(images, sess, 0.5, batch=16)}
    assert rows["broken"]["reason"] == "corrupt_image" and rows["broken"]["label"] is None
    right = sum(rows[k]["label"] == v for k, v in expected.items())
    assert right == len(expected)


@pytest.mark.slow
def test_registry_champion_wins_over_shipped(tmp_path):
    from conftest import make_settings

    settings = make_settings(tmp_path)
    name = "test-staged-classifier"
    first = registry.resolve(settings, name, "classifier", "classifier.onnx")
    assert first.source == "shipped" and first.version.startswith("shipped-")
    onnx_file = registry.MODELS_DIR / "classifier" / "classifier.onnx"
    version = registry.register_onnx(settings, onnx_file, name, {"architecture": "test"})
    got = registry.resolve(settings, name, "classifier", "classifier.onnx")
    assert (got.source, got.version) == ("registry", version)
    assert got.data == onnx_file.read_bytes() and got.card["architecture"] == "test"


@pytest.mark.slow
def test_bad_images_cost_their_own_row_only(demo, tmp_path):
    from adstage.imagestore import ImageStore
    from adstage.onnx_runtime import session_from_bytes
    from adstage.vision.cutouts import SegmenterSlots, process_batch
    from adstage.vision.slots import Segmenter, SlotParams

    root, truth = demo
    staged = next(t for t in truth if t["staged"])
    seg = SegmenterSlots(Segmenter(session_from_bytes(
        registry.shipped("segmenter", "segmenter.onnx").data, "cpu")), SlotParams(), 8)
    records = [
        {"image_id": "good-unstaged", "label": "unstaged",
         "data": (root / truth[0]["unstaged"]["image"]).read_bytes()},
        {"image_id": "good-staged", "label": "staged",
         "data": (root / staged["staged"]["image"]).read_bytes()},
        {"image_id": "missing", "label": "staged", "data": None},
        {"image_id": "garbage", "label": "unstaged", "data": b"\x89PNG broken"},
    ]
    rows = process_batch(records, seg, ImageStore(str(tmp_path / "store")))
    by_id: dict[str, list[dict]] = {}
    for r in rows:
        by_id.setdefault(r["image_id"], []).append(r)
    assert by_id["good-unstaged"][0]["ok"] and len(by_id["good-unstaged"][0]["shape"]) == shape.DIM
    assert any(r["ok"] for r in by_id["good-staged"])
    assert [r["reason"] for r in by_id["missing"]] == ["corrupt_image"]
    assert [r["reason"] for r in by_id["garbage"]] == ["corrupt_image"]
    assert by_id["missing"][0]["kind"] == "slot" and by_id["garbage"][0]["kind"] == "cutout"


def test_slot_refinement_does_not_depend_on_what_ran_before():
    """GrabCut draws on OpenCV's RNG: a slot's mask must not change with the photos a worker
    refined before it (re-runs partition and order the photos differently)."""
    from adstage.vision.slots import refine_mask

    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    bgr[30:70, 40:90] = rng.integers(100, 160, (40, 50, 3), dtype=np.uint8)
    p = np.zeros((96, 128), np.float32)
    p[28:72, 38:92], p[35:65, 48:82] = 0.6, 0.95
    comp = (p > 0.5).astype(np.uint8) * 255
    first = refine_mask(bgr, p, comp)
    for _ in range(3):  # other photos through the same process
        refine_mask(bgr[::-1].copy(), p[::-1].copy(), comp[::-1].copy())
    np.testing.assert_array_equal(refine_mask(bgr, p, comp), first)
