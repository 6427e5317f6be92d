"""Torch-free mask and edge helpers used by both training and the nightly job."""
import subprocess
import sys

import numpy as np

from adstage.generative import edges, masks


def test_free_form_mask_is_binary_and_seeded():
    a = masks.free_form_mask(64, 80, np.random.default_rng(3))
    b = masks.free_form_mask(64, 80, np.random.default_rng(3))
    assert a.shape == (64, 80) and a.dtype == np.uint8
    assert set(np.unique(a)) <= {0, 255} and a.any()
    np.testing.assert_array_equal(a, b)


def test_silhouette_difference_is_old_minus_new_dilated():
    old = np.zeros((20, 20), np.uint8)
    old[5:15, 5:15] = 255
    new = np.zeros_like(old)
    new[5:15, 5:13] = 255  # new product is 2 px narrower on the right
    gap = masks.silhouette_difference_mask(old, new, dilate_px=0)
    assert set(zip(*np.nonzero(gap))) == {(y, x) for y in range(5, 15) for x in (13, 14)}
    grown = masks.silhouette_difference_mask(old, new, dilate_px=1)
    assert (grown >= gap).all() and grown.sum() > gap.sum()


def test_product_mask_from_white_fills_enclosed_white():
    img = np.full((40, 40, 3), 255, np.uint8)
    img[10:30, 10:30] = 60
    img[15:25, 15:25] = 255  # a white panel inside the product
    m = masks.product_mask_from_white(img)
    assert (m[10:30, 10:30] == 255).all() and m.sum() == 255 * 400


def test_fit_into_box_keeps_aspect_and_stands_on_box_bottom():
    src = np.zeros((10, 20), np.uint8)
    src[:, :] = 255  # 2:1 product
    out = masks.fit_into_box(src, (0, 0, 20, 20), 30, 30)
    box = masks.mask_box(out)
    assert box == (0, 10, 20, 20)


def test_silhouette_bank_gap_masks_are_thin():
    rng = np.random.default_rng(0)
    shapes = []
    for i in range(6):
        m = np.zeros((40, 40), np.uint8)
        m[5 + i:35, 8:32 - i] = 255
        shapes.append(m)
    bank = masks.SilhouetteBank.from_masks(shapes)
    frac = np.mean([(bank.random_gap_mask(64, 64, rng) > 0).mean() for _ in range(10)])
    assert 0 < frac < 0.25


def test_canny_binary_and_hole_zeroed():
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, 16:] = 200
    e = edges.canny(img, sigma=1.0)
    assert e.dtype == np.float32 and set(np.unique(e)) <= {0.0, 1.0} and e[:, 14:18].any()
    hole = np.zeros((32, 32), np.uint8)
    hole[:, 12:20] = 255
    assert not edges.canny(img, sigma=1.0, hole=hole)[:, 12:20].any()


def test_inference_modules_do_not_import_torch():
    code = ("import sys; import adstage.generative.edges, adstage.generative.masks, "
            "adstage.generative.inference, adstage.generative.registry, adstage.generative.data, "
            "adstage.generative.metrics; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
