"""Placement: the product fits the slot, stands on its floor line, keeps its aspect, stays in frame."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from adstage.staging.placement import as_alpha, decontaminate, mask_box, place_product


def product(w: int = 90, h: int = 120, colour=(200, 60, 30)) -> tuple[np.ndarray, np.ndarray]:
    """A chair-ish product on white with a soft uint8 alpha; the frame has white margins."""
    img = np.full((h + 20, w + 20, 3), 255, np.uint8)
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.rectangle(mask, (10, 10), (10 + w - 1, 10 + h - 1), 255, -1)
    img[mask > 0] = colour
    alpha = cv2.GaussianBlur(mask, (0, 0), 0.8)
    return img, alpha


def slot(H: int, W: int, box) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    x0, y0, x1, y1 = box
    cv2.ellipse(m, ((x0 + x1 - 1) // 2, (y0 + y1 - 1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 255, -1)
    return m


@pytest.mark.parametrize("fit", ["cover", "iou", "height", "width"])
def test_bottom_anchored_centred_aspect_kept_in_frame(fit):
    H, W = 199, 301
    s = slot(H, W, (100, 60, 181, 181))
    img, alpha = product(90, 120)
    placed = place_product((H, W), s, img, alpha, fit=fit)
    pl = placed.placement
    sx0, _, sx1, sy1 = mask_box(s)
    assert pl.y + pl.h == sy1                                   # stands on the slot's floor line
    mb = mask_box(placed.mask)
    assert abs(mb[3] - sy1) <= 1                                # ... and so does its mask
    assert 0 <= pl.x and pl.x + pl.w <= W and 0 <= pl.y         # inside the frame
    assert abs((pl.x + pl.w / 2) - (sx0 + sx1) / 2) <= 1.0      # centred on the old product
    pbox = mask_box(alpha >= 128)
    aspect = (pbox[2] - pbox[0]) / (pbox[3] - pbox[1])
    assert abs(pl.w / pl.h - aspect) <= 1.5 / min(pl.w, pl.h)  # aspect kept up to rounding
    # The mask sits in the placement box (up to one pixel of resampling); the faint rim around it.
    assert all(abs(a - b) <= 1 for a, b in zip(mb, pl.box))
    ab = mask_box(placed.alpha > 0)
    assert ab[0] < pl.x and ab[2] > pl.x + pl.w
    assert placed.mask.dtype == np.uint8 and set(np.unique(placed.mask)) <= {0, 255}
    assert 0.0 <= placed.fit_iou <= 1.0


def test_cover_prefers_covering_the_old_silhouette_iou_prefers_less_overflow():
    H, W = 200, 300
    s = slot(H, W, (100, 40, 160, 190))        # tall, narrow old product
    img, alpha = product(100, 100)             # square new product
    cover = place_product((H, W), s, img, alpha, fit="cover")
    iou = place_product((H, W), s, img, alpha, fit="iou")
    assert cover.placement.fit_by == "height" and cover.coverage > iou.coverage
    assert iou.placement.fit_by == "width" and iou.fit_iou >= cover.fit_iou


def test_never_exceeds_the_frame_near_the_border():
    H, W = 120, 151
    s = slot(H, W, (110, 10, 151, 120))        # slot touching the right edge, very tall
    img, alpha = product(200, 60)              # wide product: fit by height would overflow
    for fit in ("height", "width", "cover"):
        pl = place_product((H, W), s, img, alpha, fit=fit).placement
        assert 0 <= pl.x and pl.x + pl.w <= W and 0 <= pl.y and pl.y + pl.h <= H


def test_opaque_interior_stays_exactly_opaque_and_same_shape_fits_well():
    H, W = 160, 240
    s = np.zeros((H, W), np.uint8)
    cv2.rectangle(s, (60, 40), (150, 159), 255, -1)
    img, alpha = product(45, 60)               # same aspect, half the size
    placed = place_product((H, W), s, img, alpha)
    assert placed.fit_iou > 0.95
    # A 2x upscale widens the soft rim to ~4 px; everything inside it is exactly opaque.
    inner = cv2.erode(placed.mask, np.ones((13, 13), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    assert inner.any() and np.all(placed.alpha[inner > 0] == 1.0)
    assert np.all(placed.image[placed.alpha == 1.0] == (200, 60, 30))


def test_decontaminate_removes_the_white_backdrop_from_the_rim():
    img = np.array([[[255, 255, 255], [150, 160, 140], [100, 120, 80]]], np.uint8)
    alpha = np.array([[0.0, 0.5, 1.0]], np.float32)
    out = decontaminate(img, alpha, (255, 255, 255))
    assert out[0, 0].tolist() == [255, 255, 255]            # empty: unchanged
    assert out[0, 1].tolist() == [45, 65, 25]               # (C - 0.5*255) / 0.5
    assert out[0, 2].tolist() == [100, 120, 80]             # opaque: unchanged


def test_alpha_forms_and_errors():
    assert as_alpha(np.array([0, 255], np.uint8)).tolist() == [0.0, 1.0]
    assert as_alpha(np.array([True, False])).tolist() == [1.0, 0.0]
    img, alpha = product()
    with pytest.raises(ValueError):
        place_product((50, 50), np.zeros((50, 50), np.uint8), img, alpha)
    with pytest.raises(ValueError):
        place_product((50, 50), np.full((50, 50), 255, np.uint8), img, alpha, fit="stretch")


def test_behind_a_front_piece_that_hides_its_foot_it_stands_on_the_front_floor_line():
    H, W = 240, 320
    s = slot(H, W, (100, 40, 181, 141))        # what shows of a chair behind a table
    front = np.zeros((H, W), np.uint8)
    front[120:200, 60:260] = 255               # the table in front hides its lower part
    img, alpha = product(90, 120)
    placed = place_product((H, W), s, img, alpha, front=front)
    pl = placed.placement
    sx0, sy0, sx1, _ = mask_box(s)
    assert pl.fit_by == "behind" and pl.y + pl.h == 200 and abs(pl.w - (sx1 - sx0)) <= 1
    assert not (placed.alpha[front > 0] > 0).any() and not (placed.mask[front > 0] > 0).any()
    assert not placed.image[front > 0].any()   # nothing of it shows behind the table
    assert (placed.mask[pl.y + 5:120, pl.x + 5:pl.x + pl.w - 5] == 255).all()
    low, low_alpha = product(90, 40)           # a low stool of the same width: behind the table
    stool = place_product((H, W), s, low, low_alpha, front=front)
    assert stool.placement.y >= 120 and (stool.mask > 0).sum() == 0


def test_a_front_piece_beside_the_foot_keeps_the_usual_placement_and_hides_its_pixels():
    H, W = 240, 320
    s = slot(H, W, (100, 40, 181, 181))
    front = np.zeros((H, W), np.uint8)
    front[60:240, 170:200] = 255               # a table leg in front of one side
    s[front > 0] = 0
    img, alpha = product(90, 120)
    placed = place_product((H, W), s, img, alpha, front=front)
    free = place_product((H, W), s, img, alpha)
    assert placed.placement == free.placement and placed.placement.fit_by != "behind"
    assert not (placed.alpha[front > 0] > 0).any()
    assert np.array_equal(placed.mask[front == 0], free.mask[front == 0])
