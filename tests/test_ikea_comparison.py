"""The IKEA comparison's pure helpers: method rendering on a tiny synthetic room, donor checks,
gap closure, the report table, feature sets, the product sample; the IKEA parts skip without
the research set (it sits beside the checkout here and in CI)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from research import ikea_comparison as ic
from adstage.evaluation.evaluate import CONTROL, compare
from adstage.staging.composite import opencv_inpainter
from adstage.staging.copy_paste import CopyPasteParams
from adstage.vision import ikea
import scenes
from scenes import OLD

HAS_IKEA = (ikea.DEFAULT_ROOT / "rooms.jsonl").is_file()


def scene(H: int = 150, W: int = 200, slot_box=(70, 40, 140, 130)):
    """A textured room with a red donor product; a blue product on white, with legs."""
    return scenes.scene(H, W, slot_box, cut=(33, 55, 46, 99))


def inpainters():
    tel = opencv_inpainter()
    return {"baseline": tel, "boundary": tel, "telea": tel}


# ---- goal check and table ---------------------------------------------------------------------
def test_gap_closure():
    assert ic.gap_closure(0.9, 0.7, 0.5) == pytest.approx(0.5)
    assert ic.gap_closure(0.9, 0.5, 0.5) == pytest.approx(1.0)
    assert ic.gap_closure(0.9, 0.9, 0.5) == pytest.approx(0.0)
    assert ic.gap_closure(0.8, 0.9, 0.6) == pytest.approx(-0.5)      # worse than hard paste
    assert ic.gap_closure(0.5, 0.4, 0.5) is None                      # no gap to close
    assert ic.gap_closure(None, 0.4, 0.5) is None
    assert ic.gap_closure(0.9, None, 0.5) is None


def test_goal_check_rows():
    rows = [{"method": ic.HARD, "seam_accuracy": 0.9}, {"method": ic.CP_FULL, "seam_accuracy": 0.65},
            {"method": ic.CP_BASELINE, "seam_accuracy": 0.8}, {"method": ic.VANILLA},
            {"method": CONTROL, "seam_accuracy": 0.5}]
    g = ic.goal_check(rows)
    assert set(g) == {ic.CP_FULL, ic.CP_BASELINE, ic.VANILLA}
    assert g[ic.CP_FULL] == {"gap_closed": pytest.approx(0.625), "meets_goal": True}
    assert g[ic.CP_BASELINE]["meets_goal"] is False
    assert g[ic.VANILLA] == {"gap_closed": None, "meets_goal": None}


def test_format_table():
    rows = [{"method": ic.HARD, "fd": 12.3456, "kid": 0.01234, "seam_accuracy": 0.9,
             "seam_accuracy_std": 0.02, "seam_kid": 0.1, "object_expansion": 0.0,
             "preservation_max": 0.0, "n_images": 10, "n_real": 27, "n_patches": 240,
             "n_real_patches": 648},
            {"method": CONTROL, "fd": 3.0, "kid": -0.01, "seam_accuracy": 0.52,
             "seam_accuracy_std": 0.01, "seam_kid": 0.004, "n_images": 14, "n_real": 13}]
    md = ic.format_table(rows, "adstage-randfeat-v1").splitlines()
    assert "adstage-randfeat-v1" in md[0] and "not Inception" in md[0]
    table = [l for l in md if l.startswith("|")]
    assert len(table) == 4 and all(l.count("|") == 11 for l in table)
    assert "| hard_paste | 12.346 | 0.0123 | 0.9000 ± 0.0200 | 0.1000 | 0.000 | 0 | – | 10 / 27 | 240 / 648 |" in md
    assert md[-1].startswith(f"| {CONTROL} |") and "| – | – | – |" in md[-1]


# ---- donor checks and rendering -----------------------------------------------------------------
def test_accept_donor_rules():
    room, slot, prod, alpha = scene()
    params = CopyPasteParams()
    placed, why = ic.accept_donor(room.shape[:2], slot, prod, alpha, params)
    assert placed is not None and why == ""
    # A thin sliver of a product in a big round slot: most of the slot is left to invent.
    thin = np.zeros_like(alpha)
    thin[10:100, 38:42] = 255
    placed, why = ic.accept_donor(room.shape[:2], slot, prod, thin, params)
    assert placed is None and ("poor fit" in why or "gap too large" in why)
    strict = CopyPasteParams(max_gap_share=0.0)
    placed, why = ic.accept_donor(room.shape[:2], slot, prod, alpha, strict)
    assert placed is None and why.startswith("gap too large")


def test_render_paste_methods_same_placement():
    room, slot, prod, alpha = scene()
    params = CopyPasteParams(crop_size=64)
    placed, _ = ic.accept_donor(room.shape[:2], slot, prod, alpha, params)
    methods = (ic.HARD, ic.CP_BASELINE, ic.CP_BOUNDARY, ic.CP_FULL, ic.CP_TELEA, ic.DONOR)
    out = ic.render_paste_methods(room, slot, prod, alpha, inpainters(), params, placed=placed,
                                  methods=methods)
    assert set(out) == set(methods)
    for m, r in out.items():
        assert r.image.shape == room.shape and r.image.dtype == np.uint8
        assert r.mask.shape == room.shape[:2] and r.mask.dtype == np.uint8
    assert np.array_equal(out[ic.DONOR].image, room) and out[ic.DONOR].mask.max() == 255
    # one placement for every method: the same product outline
    m_hard = out[ic.HARD].mask > 127
    for m in (ic.CP_BASELINE, ic.CP_BOUNDARY, ic.CP_FULL):
        assert ic.quality.fit_iou(out[m].mask, out[ic.HARD].mask) > 0.95
        assert out[m].scores["preservation_max"] == 0.0
        assert out[m].scores["object_expansion"] == 0.0
    # the hard paste leaves the old red product visible; copy-paste removes it
    red = lambda im: np.all(np.abs(im.astype(int) - OLD) < 30, axis=2) & ~m_hard  # noqa: E731
    assert red(out[ic.HARD].image).sum() > 50
    assert red(out[ic.CP_BOUNDARY].image).sum() < red(out[ic.HARD].image).sum() / 10
    # shadow + harmonisation change pixels beside and on the product; the plain variant does not
    assert not np.array_equal(out[ic.CP_FULL].image, out[ic.CP_BOUNDARY].image)
    assert np.array_equal(out[ic.CP_BASELINE].image, out[ic.CP_BOUNDARY].image)  # same inpainter


def test_render_vanilla_with_fakes():
    _, _, prod, alpha = scene()

    class Stager:
        size = 64

        def __call__(self, rgbs):
            assert rgbs[0].shape == (64, 64, 3)
            out = np.array(rgbs)
            out[:, 40:] = 100          # "a floor" painted over the bottom
            return out

    def segment(bgrs):
        p = np.zeros((16, 16), np.float32)
        p[3:14, 4:12] = 1.0            # a region larger than the product
        return [p]

    r = ic.render_vanilla(prod, alpha, Stager(), segment)
    assert r.image.shape == (64, 64, 3) and r.mask.shape == (64, 64)
    assert 0.0 < r.scores["object_expansion"] < 1.0
    assert r.scores["outline_growth"] > 0.0
    assert r.scores["preservation_max"] > 0.0   # the painted floor crossed the product


@pytest.mark.slow
def test_features_and_compare_end_to_end():
    """features_of / feature_set feed evaluate.compare like the nightly job's collector."""
    from adstage.evaluation.features import embedder

    embed = embedder("")
    settings = ic.Settings()
    room, slot, prod, alpha = scene(H=160, W=200)
    out = ic.render_paste_methods(room, slot, prod, alpha, inpainters(), CopyPasteParams(crop_size=64),
                                  methods=(ic.HARD,))
    gen, real = [], []
    for i in range(4):
        im = np.roll(out[ic.HARD].image, 7 * i, axis=1)
        mk = np.roll(out[ic.HARD].mask, 7 * i, axis=1)
        w, p = ic.features_of(embed, im, mk, f"g{i}", settings)
        assert w.shape == (embed.dim,) and p.shape[1] == embed.dim and len(p) > 0
        gen.append((f"g{i}", w, p))
        w, p = ic.features_of(embed, np.roll(room, 11 * i, axis=0), None, f"r{i}", settings)
        real.append((f"r{i}", w, p))
    g, r = ic.feature_set(gen), ic.feature_set(real)
    assert g.ids == ["g0", "g1", "g2", "g3"] and len(g.patch_groups) == len(g.patches)
    row, per_image = compare(g, r)
    assert row["n_images"] == 4 and row["fd"] is not None and 0.0 <= row["seam_accuracy"] <= 1.0
    assert set(per_image) <= set(g.ids)
    assert ic.feature_set([]).ids == []


# ---- sample, resize, grid ---------------------------------------------------------------------
def test_sample_products_seeded():
    recs = [{"product_id": f"{i:03d}", "type": t} for i, t in
            enumerate(["Two-seat sofa", "Vase", "Table lamp", "Armchair", "Rug", "Desk"] * 5)]
    a, b = ic.sample_products(recs, 7, 3), ic.sample_products(recs, 7, 3)
    assert [r["product_id"] for r in a] == [r["product_id"] for r in b] and len(a) == 7
    assert all(ikea.category_of(r["type"]) for r in a)
    assert len(ic.sample_products(recs, 0, 3)) == 20          # 0 = every categorised product
    assert [r["product_id"] for r in ic.sample_products(recs, 7, 4)] != [r["product_id"] for r in a]


def test_fit_short_side_and_grid():
    im = np.zeros((300, 500, 3), np.uint8)
    small, f = ic.fit_short_side(im, 150)
    assert small.shape[:2] == (150, 250) and f == pytest.approx(0.5)
    same, f = ic.fit_short_side(im, 600)
    assert same is im and f == 1.0
    grid = ic.picture_grid([("a\nb", [im, None, small])], ["x", "y", "z"], tile_h=60, tile_w=80)
    assert grid.shape == (28 + 60, 150 + 3 * 80, 3)


def test_missing_boundary_experiment_says_what_to_run(tmp_path):
    if not HAS_IKEA:
        pytest.skip(f"IKEA research set not at {ikea.DEFAULT_ROOT}")
    cfg = ic.RunConfig(out=str(tmp_path / "out"), boundary_experiment=str(tmp_path / "nope"))
    with pytest.raises(SystemExit) as e:
        ic.Comparison(cfg)
    msg = str(e.value)
    assert "boundary_experiment.py --out" in msg and str(tmp_path / "nope") in msg
    assert not (tmp_path / "out").exists()   # nothing written before the check


@pytest.mark.skipif(not HAS_IKEA, reason="IKEA research set absent")
def test_ikea_split_and_sample():
    rooms = [json.loads(l) for l in (ikea.DEFAULT_ROOT / "rooms.jsonl").read_text().splitlines()]
    real = [r for r in rooms if ic.is_holdout(r["room_id"], 0.2)]
    assert 0.1 < len(real) / len(rooms) < 0.3
    prods = [json.loads(l) for l in (ikea.DEFAULT_ROOT / "products.jsonl").read_text().splitlines()]
    sample = ic.sample_products(prods, 50, 0)
    assert len(sample) == 50 and all(ikea.category_of(p["type"]) for p in sample)


# ---- outline-referenced seam measure ------------------------------------------------------------
def test_select_slots_and_reference_outline_mask():
    slots = [{"usable": True, "flags": []}, {"usable": False, "flags": ["too_large"]},
             {"usable": False, "flags": ["too_small", "low_quality"]}]
    assert ic.select_slots(slots, "usable_slots") == slots[:1]
    assert ic.select_slots(slots, "any_slot") == slots[:2]
    with pytest.raises(ValueError):
        ic.select_slots(slots, "nope")
    big, small = np.zeros((60, 80), np.uint8), np.zeros((60, 80), np.uint8)
    big[10:40, 10:40] = 255
    small[45:55, 60:70] = 200                               # > 127 counts as slot
    union = ic.reference_outline_mask([big, small])
    assert union.dtype == np.uint8 and set(np.unique(union)) == {0, 255}
    assert (union > 0).sum() == 900 + 100
    assert np.array_equal(ic.reference_outline_mask([small, big], "largest") > 0, big > 0)
    assert ic.reference_outline_mask([]) is None
    assert ic.reference_outline_mask([np.zeros((5, 5), np.uint8)]) is None
    with pytest.raises(ValueError):
        ic.reference_outline_mask([big], "smallest")
    # the union's points are spread over both outlines, by length (seam.outline_points)
    from adstage.evaluation.seam import outline_points
    pts = outline_points(union, 24)
    on_small = (pts[:, 0] >= 58) & (pts[:, 1] >= 43)
    assert 0 < on_small.sum() < len(pts) / 2


def _fs(prefix: str, n_img: int, shift: float, rng, k: int = 12, dim: int = 8) -> ic.FeatureSet:
    items = [(f"{prefix}{i}", np.zeros(dim), rng.normal(shift, 1.0, (k, dim)))
             for i in range(n_img)]
    return ic.feature_set(items)


@pytest.mark.slow
def test_outline_rows_control_gap_and_table():
    rng = np.random.default_rng(0)
    real = _fs("r", 10, 0.0, rng)
    gen = {ic.HARD: _fs("h", 10, 0.8, rng), ic.CP_FULL: _fs("c", 10, 0.3, rng),
           ic.DONOR: _fs("d", 10, 0.0, rng)}
    rows = ic.outline_rows(gen, real, cv_seeds=2)
    assert [r["method"] for r in rows] == [ic.HARD, ic.CP_FULL, ic.DONOR, CONTROL]
    by = {r["method"]: r for r in rows}
    assert by[ic.HARD]["seam_accuracy"] > 0.8 > by[ic.CP_FULL]["seam_accuracy"]
    assert by[ic.HARD]["seam_kid"] > by[ic.DONOR]["seam_kid"]
    assert len(by[ic.HARD]["seam_accuracy_cv_seeds"]) == 2
    ctrl = by[CONTROL]
    assert ctrl["n_images"] == 5 and ctrl["n_real"] == 5 and ctrl["seam_accuracy"] < 0.7
    assert ctrl["n_patches"] + ctrl["n_real_patches"] == len(real.patches)
    assert by[ic.HARD]["gap_closed"] is None and by[ic.DONOR]["gap_closed"] is None
    assert by[ic.CP_FULL]["gap_closed"] == pytest.approx(ic.gap_closure(
        by[ic.HARD]["seam_accuracy"], by[ic.CP_FULL]["seam_accuracy"], ctrl["seam_accuracy"]))
    md = ic.format_outline_table(rows).splitlines()
    assert len(md) == 2 + 4 and all(l.count("|") == 8 for l in md)
    assert md[-1].startswith(f"| {CONTROL} |")
    # too few real rooms: no figure, the reason kept, no crash
    tiny = ic.outline_rows({ic.HARD: gen[ic.HARD]}, _fs("t", 1, 0.0, rng))
    assert tiny[0]["seam_accuracy"] is None and "at least 2" in tiny[0]["detail"]
    assert "| – |" in ic.format_outline_table(tiny)


def test_floor_check_and_resolved_goal():
    rows = [{"method": ic.HARD, "seam_accuracy": 0.62, "seam_accuracy_std": 0.08},
            {"method": ic.CP_FULL, "seam_accuracy": 0.59},
            {"method": CONTROL, "seam_accuracy": 0.60, "seam_accuracy_std": 0.2}]
    fl = ic.floor_check(rows)
    assert fl["gap"] == pytest.approx(0.02) and fl["control_std"] == 0.2 and not fl["resolved"]
    g = ic.resolved_goal_check(rows)[ic.CP_FULL]
    assert g["gap_closed"] == pytest.approx(1.5) and g["meets_goal"] is None
    assert g["floor_resolved"] is False
    rows[-1]["seam_accuracy_std"] = 0.01
    assert ic.floor_check(rows)["resolved"]
    assert ic.resolved_goal_check(rows)[ic.CP_FULL]["meets_goal"] is True
    assert ic.floor_check(rows[:2]) == {"gap": None, "control_std": None, "resolved": False}


@pytest.mark.slow
def test_regroup_by_donor_room():
    rng = np.random.default_rng(3)
    fs = _fs("p", 4, 0.0, rng, k=3)
    rg = ic.regroup(fs, {"p0": "roomA", "p1": "roomA", "p2": "roomB"})
    assert rg.patch_groups == ["roomA"] * 6 + ["roomB"] * 3 + ["p3"] * 3
    assert rg.ids == fs.ids and rg.patches is fs.patches
    # a leak the regrouping removes: products staged in the same few donor rooms repeat the
    # room's patches, so product groups let the classifier recognise the room
    rooms = {f"room{j}": rng.normal(0.0, 1.0, (6, 32)) for j in range(4)}
    items = [(f"p{i}", np.zeros(32), rooms[f"room{i % 4}"] + rng.normal(0, 0.05, (6, 32)))
             for i in range(30)]
    gen = {ic.DONOR: ic.feature_set(items), ic.HARD: ic.feature_set(items)}
    real = _fs("r", 12, 0.0, rng, k=6, dim=32)
    ctrl = {"seam_accuracy": 0.5, "seam_accuracy_std": 0.01}
    by_product = ic.seam_row(ic.DONOR, gen[ic.DONOR].patches, gen[ic.DONOR].patch_groups,
                             real.patches, real.patch_groups)["seam_accuracy"]
    rows = ic.regrouped_rows(gen, {f"p{i}": f"room{i % 4}" for i in range(30)}, real, ctrl)
    assert [r["method"] for r in rows] == [ic.DONOR, ic.HARD, CONTROL]
    assert rows[-1]["seam_accuracy"] == 0.5 and rows[0]["n_images"] == 4
    assert by_product > rows[0]["seam_accuracy"] + 0.1
    kept = ic.regrouped_rows(gen, {f"p{i}": f"room{i % 4}" for i in range(30)}, real, ctrl,
                             keep=(ic.HARD,))
    assert kept[1]["n_images"] == 30 and kept[1]["seam_accuracy"] == pytest.approx(by_product)
    md = ic.format_grouping_table({"edge": {"rows": rows}, "outline_x": {"rows": rows}})
    lines = md.splitlines()
    assert len(lines) == 2 + 3 and all(l.count("|") == 6 for l in lines)
    assert "edge: gap closed" in lines[0] and lines[-1].startswith(f"| {CONTROL} | 0.5000 ± 0.0100")


# ---- the paper table: detector slots, bootstrap intervals, paper goals ---------------------------
def test_percentile_ci_and_weighted_balanced_accuracy():
    assert ic.percentile_ci([]) is None and ic.percentile_ci([np.nan, None]) is None
    lo, hi = ic.percentile_ci(np.arange(1001.0))
    assert lo == pytest.approx(25.0) and hi == pytest.approx(975.0)
    y = np.array([1, 1, 1, 0, 0])
    ok = np.array([1, 1, 0, 1, 0], bool)
    assert ic.weighted_balanced_accuracy(y, ok, np.ones(5)) == pytest.approx((2 / 3 + 1 / 2) / 2)
    # weights = how often a row's image was drawn: 0 drops it, 2 counts it twice
    w = np.array([2, 0, 1, 1, 0])
    assert ic.weighted_balanced_accuracy(y, ok, w) == pytest.approx((2 / 3 + 1.0) / 2)
    assert np.isnan(ic.weighted_balanced_accuracy(y, ok, np.array([1, 1, 1, 0, 0])))


def test_group_positions_and_draw_weights():
    pos = ic.group_positions(["a", "a", "b", "zz"], ["a", "b", "c"])
    assert pos.tolist() == [0, 0, 1, -1]
    assert ic.draw_weights(pos, 3, np.array([0, 0, 2])).tolist() == [2, 2, 0, 0]


def test_bootstrap_figures_paired_and_goals():
    rng = np.random.default_rng(1)
    real = _fs("r", 12, 0.0, rng, k=6, dim=6)
    near = _fs("p", 16, 0.1, rng, k=6, dim=6)
    far = ic.FeatureSet(near.ids, near.whole + 3.0, near.patches + 1.5, near.patch_groups)
    near = ic.FeatureSet(near.ids, rng.normal(0, 1, near.whole.shape), near.patches,
                         near.patch_groups)
    real = ic.FeatureSet(real.ids, rng.normal(0, 1, real.whole.shape), real.patches,
                         real.patch_groups)
    gen = {ic.HARD: far, ic.CP_BOUNDARY: near, ic.CP_BASELINE: near}
    b = ic.bootstrap_figures(gen, real, [(ic.CP_BOUNDARY, ic.HARD),
                                         (ic.CP_BOUNDARY, ic.CP_BASELINE)], reps=60, seed=0)
    again = ic.bootstrap_figures(gen, real, [(ic.CP_BOUNDARY, ic.HARD)], reps=60, seed=0)
    assert again["methods"][ic.HARD] == b["methods"][ic.HARD]          # seeded, reproducible
    m = b["methods"]
    assert m[ic.HARD]["seam_oof"] > 0.8 and m[ic.HARD]["fd"] > m[ic.CP_BOUNDARY]["fd"]
    lo, hi = m[ic.HARD]["fd_ci"]
    assert lo < hi
    d = b["paired"][f"{ic.CP_BOUNDARY} - {ic.HARD}"]
    assert d["paired"] and d["fd"] < 0 and d["fd_ci"][1] < 0 and d["seam_oof_ci"][1] < 0
    same = b["paired"][f"{ic.CP_BOUNDARY} - {ic.CP_BASELINE}"]       # identical sets: exactly 0
    assert same["fd"] == 0 and same["fd_ci"] == [0.0, 0.0] and same["seam_oof_ci"] == [0.0, 0.0]
    goals = {g["claim"]: g for g in ic.paper_goals(b)}
    assert goals["copy-paste + boundary below hard paste on seam accuracy"]["verdict"] == "met"
    assert goals["boundary no worse than baseline on FID"]["verdict"] == "met"
    assert goals["copy-paste FID below vanilla"]["verdict"] == "n/a"
    md = ic.format_goals(ic.paper_goals(b))
    assert "**met**" in md and "n/a" in md
    rows = [{"method": ic.HARD, "fd": 1.0, "kid": 0.1, "kid_std": 0.01, "seam_accuracy": 0.9,
             "seam_accuracy_std": 0.02, "n_images": 16, "n_real": 12}]
    table = ic.format_ci_table(rows, b).splitlines()
    assert len(table) == 3 and all(l.count("|") == 10 for l in table)
    assert table[2].startswith(f"| {ic.HARD} | 1.0 [")
    assert len(ic.format_paired(b).splitlines()) == 4


def test_paper_goals_verdicts():
    def boot(d_fd, ci_fd):
        return {"paired": {f"{ic.CP_BOUNDARY} - {ic.CP_BASELINE}":
                           {"fd": d_fd, "fd_ci": ci_fd, "seam_oof": None}}}
    claim = "boundary no worse than baseline on FID"
    pick = lambda b: {g["claim"]: g for g in ic.paper_goals(b)}[claim]["verdict"]  # noqa: E731
    assert pick(boot(2.0, [-1.0, 5.0])) == "met"           # no worse: the CI holds 0
    assert pick(boot(4.0, [1.0, 7.0])) == "missed"         # worse beyond doubt
    b = {"paired": {f"{ic.CP_BOUNDARY} - {ic.HARD}": {"fd": 0, "seam_oof": -0.01,
                                                      "seam_oof_ci": [-0.05, 0.03]}}}
    g = {g["claim"]: g for g in ic.paper_goals(b)}
    assert g["copy-paste + boundary below hard paste on seam accuracy"]["verdict"].startswith(
        "not resolved")


def test_accept_donor_refuses_size_mismatch():
    room, slot, prod, alpha = scene()
    placed, why = ic.accept_donor(room.shape[:2], slot, prod, alpha,
                                  CopyPasteParams(max_size_ratio=1.0001, min_fit_iou=0.0,
                                                  max_gap_share=1.0))
    assert placed is None and why.startswith("size mismatch")


def test_sample_products_like_only_and_shape_index_by_category():
    recs = [{"product_id": f"{i:03d}", "type": t} for i, t in
            enumerate(["Two-seat sofa", "Table lamp", "Armchair", "Bookcase", "Desk"] * 4)]
    like = ic.sample_products(recs, 0, 0, like_only=True)
    assert {r["type"] for r in like} == {"Two-seat sofa", "Armchair", "Desk"}
    from adstage.vision import shape

    def slot(i, cat):
        m = np.zeros((40, 40), np.uint8)
        m[5:35, 10 + i % 5:30] = 255
        d = shape.describe(m)
        return {"slot_id": f"r#{i}", "image_id": "r", "category": cat, "aspect": d.aspect,
                "fill": d.fill, "box_native": [0, 0, 40, 40], "quality": 1.0, "vector": d.vector}
    idx = ic.shape_index([slot(0, "chair"), slot(1, "chair"), slot(2, "sofa"), slot(3, None)],
                         ic.Settings())
    assert sorted(idx) == ["_unknown", "chair", "sofa"] and idx["chair"].index.ntotal == 2


def test_missing_generators_says_what_to_run(tmp_path):
    if not HAS_IKEA:
        pytest.skip(f"IKEA research set not at {ikea.DEFAULT_ROOT}")
    cfg = ic.RunConfig(out=str(tmp_path / "out"), generators=str(tmp_path / "none"))
    with pytest.raises(SystemExit) as e:
        ic.Comparison(cfg)
    assert "generators_ikea_train.sh" in str(e.value) and "baseline" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_feature_set_patches_of_another_width():
    """Inception whole-image features (wide) beside random-feature seam patches (narrow)."""
    fs = ic.feature_set([("a", np.zeros(2048), np.ones((24, 256))),
                         ("b", np.zeros(2048), np.zeros((0, 256)))])
    assert fs.whole.shape == (2, 2048) and fs.patches.shape == (24, 256)
    assert fs.patch_groups == ["a"] * 24


def test_shipped_pair_needs_only_the_baseline_run(tmp_path):
    """--shipped-pair: G1 and the boundary G2 are the shipped files (their cards give the
    training settings); only baseline/checkpoint.pt is asked for."""
    cfg = ic.RunConfig(out=str(tmp_path / "out"), generators=str(tmp_path), shipped_pair=True)
    assert cfg.generator_runs == {"baseline": "baseline"}
    assert ic._missing_experiment(tmp_path, cfg.generator_runs) == [
        str(tmp_path / "baseline" / "checkpoint.pt")]
    m = ic.shipped_generators()
    assert set(m) == {"edge", "boundary"}
    assert m["boundary"]["boundary_weight"] == 5.0 and m["boundary"]["steps"] == 600
    assert m["edge"]["path"].endswith("edgeconnect_edge.onnx") and len(m["edge"]["sha256"]) == 64
