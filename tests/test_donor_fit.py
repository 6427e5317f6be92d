"""The donor checks of copy-paste (adstage.staging.donor_fit): one function, judged on masks."""
from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np

import scenes
from adstage.imagestore import ImageStore
from adstage.staging import donor_fit
from adstage.staging.copy_paste import CopyPasteParams


def scene():
    return scenes.scene(150, 200, (70, 40, 140, 130), cut=(33, 55, 46, 99))


def test_a_product_of_the_slots_shape_fits():
    room, slot, prod, alpha = scene()
    fit = donor_fit.check(slot, None, prod, alpha, CopyPasteParams())
    assert fit.refusal == ""
    assert fit.placed.fit_iou >= CopyPasteParams().min_fit_iou
    assert 0.5 <= fit.size_ratio <= 2.0


def test_a_gap_too_deep_to_fill_is_refused_at_any_scale():
    """A notch a third of the product wide leaves a gap whose middle is far from anything
    kept: refused, at the same share of the product's size when everything is twice as big."""
    room, slot, prod, alpha = scenes.scene(150, 200, (70, 40, 140, 130), cut=(28, 55, 51, 99))
    fit = donor_fit.check(slot, None, prod, alpha, CopyPasteParams())
    assert fit.refusal.startswith("gap too deep") and fit.gap_depth > 0.15
    assert donor_fit.check(slot, None, prod, alpha, CopyPasteParams(max_gap_depth=1.0)
                           ).refusal == ""
    big = [cv2.resize(a, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
           for a in (slot, prod, alpha)]
    fit2 = donor_fit.check(big[0], None, big[1], big[2], CopyPasteParams())
    assert fit2.refusal.startswith("gap too deep") and abs(fit2.gap_depth - fit.gap_depth) < 0.03
    narrow = donor_fit.check(*scene()[1:2], None, *scene()[2:], CopyPasteParams())
    assert narrow.refusal == "" and narrow.gap_depth < 0.15


def test_each_check_refuses_with_its_own_line():
    room, slot, prod, alpha = scene()
    thin = np.zeros_like(alpha)
    thin[10:100, 38:42] = 255   # a sliver in a round slot: most of it left to invent
    why = donor_fit.check(slot, None, prod, thin, CopyPasteParams()).refusal
    assert why.startswith(("poor fit", "gap too large"))
    assert donor_fit.check(slot, None, prod, alpha, CopyPasteParams(max_gap_share=0.0)
                           ).refusal.startswith("gap too large")
    assert donor_fit.check(slot, None, prod, alpha,
                           CopyPasteParams(max_size_ratio=1.0001, min_fit_iou=0.0,
                                           max_gap_share=1.0)).refusal.startswith("size mismatch")


def test_behind_a_piece_in_front_the_stricter_gap_limit_applies():
    room, slot, prod, alpha = scene()
    front = np.zeros_like(slot)
    front[120:150, 60:150] = 255   # a low piece in front of the slot's foot
    params = CopyPasteParams(min_fit_iou=0.0, max_size_ratio=100.0, max_gap_share=1.0,
                             max_gap_share_behind=0.0)
    assert donor_fit.check(slot, None, prod, alpha, params).refusal == ""
    why = donor_fit.check(slot, front, prod, alpha, params).refusal
    assert why.startswith("gap too large") and why.endswith("(behind a piece in front)")


def test_a_product_is_judged_against_each_donor_and_a_broken_donor_is_refused(tmp_path):
    room, slot, prod, alpha = scene()
    store = ImageStore(str(tmp_path))
    sliver = np.zeros_like(slot)
    sliver[60:130, 100:104] = 255  # a post: the product would cover many times its area
    rec = {"product_id": "p1", "product_image_uri": store.put_image(prod),
           "product_mask_uri": store.put_image(alpha), "product_box": None,
           "donors": [{"slot_id": "good", "slot_mask_uri": store.put_image(slot),
                       "front_mask_uri": None},
                      {"slot_id": "post", "slot_mask_uri": store.put_image(sliver),
                       "front_mask_uri": None},
                      {"slot_id": "gone", "slot_mask_uri": store.uri_for("0" * 64),
                       "front_mask_uri": None}]}
    cache = OrderedDict()
    judged = dict(donor_fit.judge_product(store, rec, CopyPasteParams(), cache))
    assert judged["good"] == ""
    assert judged["post"] and not judged["post"].startswith("unusable")
    assert judged["gone"].startswith("unusable (")
    assert list(cache) == ["good", "post"]          # decoded once, kept for the next product
    # A product whose cutout or box cannot be read is left to staging, which says why.
    for broken in ({**rec, "product_mask_uri": store.uri_for("1" * 64)},
                   {**rec, "product_box": ["a", "b"]}):
        assert dict(donor_fit.judge_product(store, broken, CopyPasteParams(), cache)) == {
            "good": "", "post": "", "gone": ""}


def test_judging_without_colour_gives_the_same_masks_and_verdict():
    room, slot, prod, alpha = scene()
    front = np.zeros_like(slot)
    front[100:150, 60:90] = 255
    for fr in (None, front):
        full = donor_fit.check(slot, fr, prod, alpha, CopyPasteParams(),
                               backdrop_bgr=[255, 255, 255])
        lean = donor_fit.check(slot, fr, prod, alpha, CopyPasteParams(),
                               backdrop_bgr=[255, 255, 255], colour=False)
        assert lean.placed.image is None and full.placed.image is not None
        assert np.array_equal(lean.placed.alpha, full.placed.alpha)
        assert np.array_equal(lean.placed.mask, full.placed.mask)
        assert (lean.refusal, lean.size_ratio) == (full.refusal, full.size_ratio)


def test_the_fit_bench_times_both_ways_and_compares_verdicts():
    from test_bench import load

    room, slot, prod, alpha = scene()
    pairs = [{"slot": slot, "front": None, "product": prod, "alpha": a, "box": None}
             for a in (alpha, np.zeros_like(alpha) + (np.arange(80) == 40) * 255)]
    pairs[1]["alpha"] = pairs[1]["alpha"].astype(np.uint8)
    res = load("donor_fit").time_checks(pairs, CopyPasteParams(), repeats=1)
    assert res["pairs"] == 2 and res["refused"] == 1 and res["verdicts_differ"] == 0
    assert res["ms_per_pair_with_colour"] > 0 and res["ms_per_pair_masks_only"] > 0
