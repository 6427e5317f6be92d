"""The pure-numpy evaluation core: KID, seam point sampling, patches, the grouped two-sample
test, and end to end: a hard copy-paste is told apart from real edges, real edges are not."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from adstage.demo.catalog import generate_catalog
from adstage.evaluation import seam
from adstage.evaluation.features import embedder, whole_image_features
from adstage.evaluation.kid import kid
from adstage.generative import fid

SCALE, PATCH, POINTS, N_SIDE = 256, 32, 24, 16


# -- KID ------------------------------------------------------------------------------------

def _mmd2_by_loops(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimator written out term by term, as an independent reference."""
    d, m = x.shape[1], len(x)
    k = lambda u, v: (u @ v / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_the_unbiased_estimator_on_the_full_sets():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(7, 4)), rng.normal(size=(7, 4)) + 0.3
    mean, std = kid(a, b, subsets=3, subset_size=100)  # subset = whole set, permuted
    assert mean == pytest.approx(_mmd2_by_loops(a, b), rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow
def test_kid_is_near_zero_for_one_distribution_and_clearly_positive_for_a_shift():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, _ = kid(a, b, subsets=50, subset_size=200)
    shifted, shifted_std = kid(a, b + 0.5, subsets=50, subset_size=200)
    assert abs(same) < 0.02
    assert shifted > 0.3 and shifted > 5 * shifted_std


def test_kid_needs_two_rows_per_side():
    with pytest.raises(ValueError, match="at least 2 rows"):
        kid(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        kid(np.zeros((5, 4)), np.zeros((0, 4)))


# -- features -------------------------------------------------------------------------------

def test_embedder_feeds_rgb_and_handles_lists_and_empty_input():
    embed = embedder()
    assert embed.name == fid.RANDFEAT_NAME
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    feats = embed(bgr)
    assert feats.shape == (3, 256) and feats.dtype == np.float64
    # The ONNX twin (onnxruntime) against the torch module training code uses: same weights.
    expected = fid.features(fid.feature_extractor(), bgr[..., ::-1].astype(np.float32) / 255)
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(embed(list(bgr)), feats)
    assert embed([]).shape == (0, 256)
    assert embed(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, 256)
    whole = whole_image_features(embed, [bgr[0], np.zeros((40, 70, 3), np.uint8)], 32)
    assert whole.shape == (2, 256)
    np.testing.assert_allclose(whole[0], feats[0], rtol=1e-6)  # 32x32 already: unchanged


# -- geometry -------------------------------------------------------------------------------

def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels where the mask changes (either side), grown by 1 px."""
    b = mask > 127
    change = np.zeros_like(b)
    change[:, 1:] |= b[:, 1:] != b[:, :-1]
    change[:, :-1] |= b[:, 1:] != b[:, :-1]
    change[1:] |= b[1:] != b[:-1]
    change[:-1] |= b[1:] != b[:-1]
    return cv2.dilate(change.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def test_rescale_sets_the_short_side():
    image = np.zeros((384, 512, 3), np.uint8)
    assert seam.rescale(image, 256, cv2.INTER_AREA).shape == (256, 341, 3)
    assert seam.rescale(image, 384, cv2.INTER_AREA) is image


def test_outline_points_lie_on_the_boundary_and_go_all_round():
    mask = np.zeros((200, 240), np.uint8)
    cv2.circle(mask, (80, 100), 50, 255, -1)
    n = 32
    pts = seam.outline_points(mask, n)
    assert pts.shape == (n, 2) and np.issubdtype(pts.dtype, np.integer)
    assert _boundary(mask)[pts[:, 1], pts[:, 0]].all()
    angles = np.sort(np.arctan2(pts[:, 1] - 100, pts[:, 0] - 80))
    gaps = np.diff(np.r_[angles, angles[0] + 2 * np.pi])
    assert gaps.max() < 2 * (2 * np.pi / n)  # evenly spread: no gap twice the mean
    np.testing.assert_array_equal(seam.outline_points(mask, n), pts)  # deterministic


def test_outline_points_share_out_over_components_by_length_and_skip_the_frame():
    mask = np.zeros((200, 300), np.uint8)
    cv2.circle(mask, (60, 100), 40, 255, -1)    # perimeter ~251
    cv2.circle(mask, (200, 100), 20, 255, -1)   # perimeter ~126
    mask[150:, 250:] = 255                      # cut by the frame: only 2 of 4 sides are seam
    pts = seam.outline_points(mask, 60)
    assert _boundary(mask)[pts[:, 1], pts[:, 0]].all()
    big = np.hypot(pts[:, 0] - 60, pts[:, 1] - 100) < 45
    small = np.hypot(pts[:, 0] - 200, pts[:, 1] - 100) < 25
    assert big.sum() > 1.5 * small.sum() > 0
    assert not ((pts[:, 0] == 299) | (pts[:, 1] == 199)).any()
    assert seam.outline_points(np.zeros((50, 50), np.uint8), 10).shape == (0, 2)


def _two_rectangles() -> tuple[np.ndarray, np.ndarray]:
    """A strong rectangle (partly near the border) and a weaker one, on faint noise."""
    rng = np.random.default_rng(5)
    grey = np.clip(60 + rng.normal(0, 2, size=(240, 320)), 0, 255)
    grey[4:120, 8:200] = 200          # strong edges, top and left ones inside a 16 px margin
    grey[160:220, 230:300] = 100      # weaker, still Canny edges
    image = np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)
    strong = np.zeros((240, 320), np.uint8)
    strong[4:120, 8:200] = 255
    return image, _boundary(strong)


def test_edge_points_are_on_strong_edges_inside_the_margin_and_spread():
    image, on_strong = _two_rectangles()
    margin = 16
    pts = seam.edge_points(image, 8, margin=margin, seed=0)
    assert len(pts) == 8
    assert on_strong[pts[:, 1], pts[:, 0]].all()
    assert (pts >= margin).all() and (pts[:, 0] < 320 - margin).all() \
        and (pts[:, 1] < 240 - margin).all()
    d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    assert d[np.triu_indices(len(pts), 1)].min() >= margin - 1
    np.testing.assert_array_equal(seam.edge_points(image, 8, margin=margin, seed=0), pts)
    assert not np.array_equal(seam.edge_points(image, 8, margin=margin, seed=1), pts)
    flat = np.full((100, 100, 3), 90, np.uint8)
    assert seam.edge_points(flat, 8, margin=margin).shape == (0, 2)


def test_cut_patches_centres_and_reflects_at_the_border():
    image = np.arange(40 * 50 * 3, dtype=np.int64).reshape(40, 50, 3).astype(np.uint16)
    pts = np.array([[25, 20], [0, 0], [49, 39]])
    patches = seam.cut_patches(image, pts, 8)
    assert patches.shape == (3, 8, 8, 3) and patches.dtype == image.dtype
    np.testing.assert_array_equal(patches[0], image[16:24, 21:29])
    np.testing.assert_array_equal(patches[1][4, 4], image[0, 0])
    for k in range(1, 5):  # reflection without repeating the edge row / column
        np.testing.assert_array_equal(patches[1][4 - k, 4], image[k, 0])
        np.testing.assert_array_equal(patches[1][4, 4 - k], image[0, k])
    np.testing.assert_array_equal(patches[2][4, 4], image[39, 49])
    np.testing.assert_array_equal(patches[2][5, 4], image[38, 49])
    assert seam.cut_patches(image, np.zeros((0, 2), int), 8).shape == (0, 8, 8, 3)
    with pytest.raises(ValueError, match="inside"):
        seam.cut_patches(image, np.array([[50, 0]]), 8)


# -- patch sets -----------------------------------------------------------------------------

def test_missing_masks_are_all_named_before_any_work():
    image = np.zeros((64, 64, 3), np.uint8)
    good = np.zeros((64, 64), np.uint8)
    good[20:40, 20:40] = 255
    items = [("ok", image, good), ("no-mask", image, None), ("wrong-size", image, good[:32]),
             ("blank", image, np.zeros_like(good))]
    with pytest.raises(seam.MissingMasks) as err:
        seam.outline_patches(items, 64, 16, 8)
    assert err.value.ids == ["no-mask", "wrong-size", "blank"]
    message = str(err.value)
    assert "no-mask" in message and "wrong-size" in message and "ok," not in message
    assert "staged_images.product_mask_uri" in message
    assert isinstance(err.value, ValueError)


def test_outline_patches_rescale_image_and_mask_together():
    image = np.zeros((400, 600, 3), np.uint8)
    mask = np.zeros((400, 600), np.uint8)
    mask[100:300, 200:400] = 255
    image[mask > 0] = 255
    got = seam.outline_patches([("a", image, mask)], 200, 16, 12)
    assert got.patches.shape == (12, 16, 16, 3) and got.groups == ["a"] * 12
    assert got.n_images == 1
    # Every patch straddles the outline: some product (white) and some background (black).
    flat = got.patches.reshape(12, -1)
    assert (flat.max(1) == 255).all() and (flat.min(1) == 0).all()


# -- the two-sample test --------------------------------------------------------------------

def test_group_folds_never_split_an_image():
    groups = [f"g{i % 9}" for i in range(90)]
    labels = np.array([int(g in {"g0", "g1", "g2", "g3"}) for g in groups])
    tested = np.zeros(len(groups), int)
    for train, test in seam.group_folds(labels, groups, 4, seed=0):
        assert not {groups[i] for i in train} & {groups[i] for i in test}
        assert set(labels[test]) == {0, 1}
        tested[test] += 1
    assert (tested == 1).all()


def test_two_sample_splits_by_image_and_scores(monkeypatch):
    rng = np.random.default_rng(0)
    a_groups = [f"a{i // 10}" for i in range(60)] + ["shared"] * 10
    b_groups = [f"b{i // 10}" for i in range(60)] + ["shared"] * 10
    recorded = []
    real_split = seam.group_folds

    def spy(labels, groups, folds, seed=0):
        out = real_split(labels, groups, folds, seed)
        recorded.append((list(groups), out))
        return out

    monkeypatch.setattr(seam, "group_folds", spy)
    a, b = rng.normal(size=(70, 8)) + 3.0, rng.normal(size=(70, 8))
    acc, std, per_group = seam.two_sample(a, a_groups, b, b_groups, folds=5, seed=0)
    assert acc > 0.85
    groups, splits = recorded[-1]
    assert len(splits) == 5
    for train, test in splits:  # an id on both sides is still one image: never split
        assert not {groups[i] for i in train} & {groups[i] for i in test}
    assert set(per_group) == set(a_groups) | set(b_groups)
    assert min(per_group[f"a{i}"] for i in range(6)) > max(per_group[f"b{i}"] for i in range(6))

    acc0, _, _ = seam.two_sample(rng.normal(size=(70, 8)), a_groups, b, b_groups)
    assert abs(acc0 - 0.5) < 0.2


def test_two_sample_needs_two_images_per_side():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="at least 2 images"):
        seam.two_sample(x, ["one"] * 10, x, [str(i) for i in range(10)])


def test_control_halves_are_disjoint_and_stable():
    groups = [f"img{i}" for i in range(10) for _ in range(3)]
    patches = np.arange(30, dtype=np.uint8).reshape(30, 1, 1, 1).repeat(3, axis=3)
    first, second = seam.split_halves(seam.SeamPatches(patches, groups))
    assert first.n_images == second.n_images == 5
    assert not set(first.groups) & set(second.groups)
    assert len(first.patches) + len(second.patches) == 30
    order = np.random.default_rng(0).permutation(30)
    again, _ = seam.split_halves(seam.SeamPatches(patches[order], [groups[i] for i in order]))
    assert set(again.groups) == set(first.groups)


# -- end to end on the demo catalog ---------------------------------------------------------

def _hard_paste(room: np.ndarray, product: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The crudest copy-paste: white-threshold cut, mask dilated 2 px (a white fringe stays),
    pasted with a binary mask on the floor, no blending, no shadow."""
    mask = np.where(cv2.cvtColor(product, cv2.COLOR_BGR2GRAY) < 235, 255, 0).astype(np.uint8)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=2)
    ys, xs = np.nonzero(mask)
    sprite = product[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    smask = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    height, width = room.shape[:2]
    s = min(rng.uniform(0.35, 0.5) * height / sprite.shape[0], 0.6 * width / sprite.shape[1])
    size = (max(1, round(sprite.shape[1] * s)), max(1, round(sprite.shape[0] * s)))
    sprite = cv2.resize(sprite, size, interpolation=cv2.INTER_AREA)
    smask = cv2.resize(smask, size, interpolation=cv2.INTER_NEAREST)
    h, w = smask.shape
    bottom, left = int(rng.uniform(0.8, 0.95) * height), int(rng.uniform(0, width - w))
    out, full = room.copy(), np.zeros((height, width), np.uint8)
    out[bottom - h:bottom, left:left + w][smask > 0] = sprite[smask > 0]
    full[bottom - h:bottom, left:left + w] = smask
    return out, full


@pytest.fixture(scope="module")
def staged_sets(tmp_path_factory):
    """Real staged renders (one half) and hard pastes into the other half's rooms."""
    root = tmp_path_factory.mktemp("seam-demo")
    generate_catalog(root, n_products=2 * N_SIDE, seed=7, staged_fraction=1.0)
    truth = [json.loads(line) for line in (root / "ground_truth.jsonl").read_text().splitlines()]

    def read(rel: str) -> np.ndarray:
        return cv2.imread(str(Path(root) / rel), cv2.IMREAD_COLOR)

    real_rows, paste_rows = truth[:N_SIDE], truth[N_SIDE:]
    real = [(t["product_id"], read(t["staged"]["image"])) for t in real_rows]
    rng = np.random.default_rng(0)
    pastes = []
    for i, t in enumerate(paste_rows):  # someone else's product into this room
        other = paste_rows[(i + 1) % N_SIDE]["unstaged"]["image"]
        image, mask = _hard_paste(read(t["staged"]["image"]), read(other), rng)
        pastes.append((f"{t['product_id']}-paste", image, mask))
    return real, pastes


@pytest.mark.slow
def test_hard_pastes_are_told_from_real_edges_and_real_edges_are_not(staged_sets):
    real_items, paste_items = staged_sets
    embed = embedder()
    generated = seam.outline_patches(paste_items, SCALE, PATCH, POINTS)
    real = seam.edge_patches(real_items, SCALE, PATCH, POINTS)
    assert generated.n_images == real.n_images == N_SIDE
    assert len(generated.patches) == N_SIDE * POINTS

    pasted = seam.seam_test(generated, real, embed)
    floor = seam.control(real, embed)
    assert floor.accuracy < 0.65
    assert pasted.accuracy >= floor.accuracy + 0.15
    assert (pasted.n_images, pasted.n_real) == (N_SIDE, N_SIDE)
    assert (pasted.n_patches, pasted.n_real_patches) == (len(generated.patches),
                                                         len(real.patches))
    assert set(pasted.per_image) == set(generated.groups)
    # Per-image scores are out-of-fold P(pasted): most hard pastes look pasted.
    assert np.median(list(pasted.per_image.values())) > 0.5
    assert floor.n_images + floor.n_real == N_SIDE
    assert np.isfinite([pasted.kid, pasted.kid_std, floor.kid]).all()


def test_a_dates_figures_do_not_depend_on_the_order_spark_returns_rows_in():
    """A re-run of a date must reproduce its staging_metrics exactly (the DAG re-run test):
    the shuffle's row order must not reach the covariances, KID's subsets or the folds."""
    from adstage.evaluation.evaluate import _collect, compare

    rng = np.random.default_rng(3)
    rows = [{"kind": kind, "method": method, "key": f"p{i:02d}",
             "whole": rng.normal(size=8).tolist(), "patches": rng.normal(size=3 * 8).tolist(),
             "n_patches": 3}
            for kind, method in (("gen", "copy_paste"), ("real", None)) for i in range(12)]
    figures = []
    for order in (rows, rows[::-1], [rows[i] for i in rng.permutation(len(rows))]):
        sets = _collect(order)
        row, scores = compare(sets["copy_paste"], sets[None])
        figures.append(json.dumps([row, scores], sort_keys=True, default=str))
    assert figures[0] == figures[1] == figures[2]
