"""Contact shadow (background only) and Lab luminance harmonisation (mask kept, L moves)."""
from __future__ import annotations

import cv2
import numpy as np

from adstage.staging.harmonize import HarmonizeParams, context_ring, harmonize_product
from adstage.staging.shadow import ShadowParams, apply_shadow, contact_shadow


def placed_product(H=120, W=160):
    m = np.zeros((H, W), np.uint8)
    cv2.rectangle(m, (50, 30), (110, 100), 255, -1)
    alpha = cv2.GaussianBlur(m, (0, 0), 0.8).astype(np.float32) / 255.0
    img = np.zeros((H, W, 3), np.uint8)
    img[alpha > 0] = (240, 235, 230)   # a bright catalogue product
    return img, alpha


def test_shadow_only_on_background_below_the_product_and_darker():
    _, alpha = placed_product()
    sh = contact_shadow(alpha, ShadowParams(strength=0.5))
    assert sh.dtype == np.float32 and 0 < sh.max() <= 0.5
    assert (sh[alpha >= 1.0] == 0).all()
    ys, _ = np.nonzero(sh > 0.05)
    assert ys.min() >= 85                                   # at the foot, not on the wall behind
    bg = np.full((120, 160, 3), 180, np.uint8)
    out = apply_shadow(bg, sh)
    assert np.array_equal(out[sh == 0], bg[sh == 0])        # untouched elsewhere, bit for bit
    assert (out[sh > 0.05] < 180).all()
    assert (contact_shadow(alpha, ShadowParams(strength=0.0)) == 0).all()


def test_harmonize_keeps_the_mask_and_hue_and_moves_l_toward_the_room():
    img, alpha = placed_product()
    room = np.full((120, 160, 3), (60, 70, 80), np.uint8)   # a dim room
    slot = np.zeros((120, 160), np.uint8)
    cv2.rectangle(slot, (55, 35), (105, 100), 255, -1)
    out = harmonize_product(img, alpha, room, slot, HarmonizeParams(strength=0.6))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(out[alpha == 0], img[alpha == 0])         # nothing outside the product
    lab = lambda x: cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    inside = alpha >= 0.5
    l_room = lab(room)[..., 0][context_ring(slot, (alpha > 0).astype(np.uint8) * 255) > 0].mean()
    l_before, l_after = lab(img)[..., 0][inside].mean(), lab(out)[..., 0][inside].mean()
    assert abs(l_after - l_room) < abs(l_before - l_room) - 10
    ab_before, ab_after = lab(img)[..., 1:][inside].mean(0), lab(out)[..., 1:][inside].mean(0)
    assert np.abs(ab_after - ab_before).max() < 2.0                  # hue/chroma kept
    assert harmonize_product(img, alpha, room, slot, HarmonizeParams(strength=0.0)) is img
