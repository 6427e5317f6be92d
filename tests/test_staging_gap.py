"""Gap mask and the inpainter's crops: what is a hole, and that every hole pixel gets a crop."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from adstage.staging.gap import crop_boxes, extract_crops, gap_mask, gap_share, paste_crops


def soft_disc(H: int, W: int, centre, r: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, centre, r, 255, -1)
    return cv2.GaussianBlur(m, (0, 0), 1.0).astype(np.float32) / 255.0


def test_gap_excludes_the_opaque_product_and_lies_in_the_dilated_slot():
    H, W = 199, 301
    slot = np.zeros((H, W), np.uint8)
    cv2.rectangle(slot, (100, 50), (200, 180), 255, -1)
    alpha = soft_disc(H, W, (150, 130), 45)
    for d in (0, 4):
        gap = gap_mask(slot, alpha, dilate_px=d)
        assert gap.dtype == np.uint8 and set(np.unique(gap)) <= {0, 255}
        assert not (gap[alpha >= 1.0] > 0).any()                 # never the product's own pixels
        k = 2 * d + 1
        dil = cv2.dilate(slot, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) if d else slot
        assert not ((gap > 0) & (dil == 0)).any()                # inside the dilated slot
        rim = (alpha > 0) & (alpha < 1) & (dil > 0)
        assert (gap[rim] == 255).all()                           # the overlap band is inpainted
    assert (gap_mask(slot, alpha, 4) > 0).sum() > (gap_mask(slot, alpha, 0) > 0).sum()


def test_gap_share():
    slot = np.zeros((50, 50), np.uint8)
    slot[10:30, 10:30] = 255
    full = (slot > 0).astype(np.float32)
    assert gap_share(gap_mask(slot, full, 0), slot) == 0.0
    assert gap_share(gap_mask(slot, np.zeros((50, 50), np.float32), 0), slot) == 1.0
    half = np.zeros((50, 50), np.float32)
    half[10:30, 10:20] = 1.0
    assert gap_share(gap_mask(slot, half, 0), slot) == pytest.approx(0.5)


def covered(boxes, shape) -> np.ndarray:
    c = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        c[max(y0, 0):y1, max(x0, 0):x1] = True
    return c


@pytest.mark.parametrize("H,W,size", [(199, 301, 64), (199, 301, 255), (600, 401, 128)])
def test_crops_cover_every_gap_pixel_inside_the_frame(H, W, size):
    gap = np.zeros((H, W), np.uint8)
    cv2.circle(gap, (5, 5), 4, 255, -1)                       # corner speck
    cv2.rectangle(gap, (W - 20, H - 9), (W - 1, H - 1), 255, -1)  # opposite corner
    cv2.ellipse(gap, (W // 2, H // 2), (W // 3, 12), 0, 0, 360, 255, 3)  # wide thin ring
    boxes = crop_boxes(gap, size)
    assert boxes and all(x1 - x0 == size and y1 - y0 == size for x0, y0, x1, y1 in boxes)
    # Inside the frame; where the frame is smaller than a crop, the crop starts at 0 (padded).
    assert all(0 <= x0 and 0 <= y0 for x0, y0, _, _ in boxes)
    assert all((x1 <= W or x0 == 0) and (y1 <= H or y0 == 0) for x0, y0, x1, y1 in boxes)
    assert covered(boxes, (H, W))[gap > 0].all()
    if size == 64:
        assert len(boxes) >= 3                                 # spread out: several crops
    crops, holes = extract_crops(np.zeros((H, W, 3), np.uint8), gap, boxes)
    assert crops.shape == (len(boxes), size, size, 3) and holes.shape == (len(boxes), size, size)


def test_small_room_is_padded_not_shrunk_and_paste_back_touches_only_the_gap():
    H, W = 45, 61                                              # smaller than one crop
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    gap = np.zeros((H, W), np.uint8)
    gap[20:30, 50:61] = 255
    boxes = crop_boxes(gap, 64)
    assert boxes == [(0, 0, 64, 64)]
    crops, holes = extract_crops(img, gap, boxes)
    assert crops.shape == (1, 64, 64, 3)
    assert np.array_equal(crops[0, :H, :W], img)               # the room at its own scale
    assert (holes[0, 20:30, 61:64] == 255).all()               # the hole is mirrored with the image
    filled = np.full_like(crops, 7)
    out = paste_crops(img, gap, boxes, filled)
    assert out.shape == img.shape
    assert (out[gap > 0] == 7).all() and np.array_equal(out[gap == 0], img[gap == 0])


def test_overlapping_crops_take_each_pixel_from_the_deepest_crop():
    gap = np.zeros((40, 100), np.uint8)
    gap[18:22, 5:95] = 255
    boxes = [(0, 0, 40, 40), (30, 0, 70, 40), (60, 0, 100, 40)]
    filled = np.stack([np.full((40, 40, 3), v, np.uint8) for v in (1, 2, 3)])
    out = paste_crops(np.zeros((40, 100, 3), np.uint8), gap, boxes, filled)
    assert out[20, 10, 0] == 1 and out[20, 50, 0] == 2 and out[20, 90, 0] == 3
    assert out[20, 36, 0] == 2                                 # depth 6 in crop 2 vs 3 in crop 1


def test_no_gap_no_crops():
    assert crop_boxes(np.zeros((30, 30), np.uint8), 16) == []


def test_gap_depth_is_the_deepest_pixels_distance_to_anything_kept():
    from adstage.staging.gap import gap_depth

    gap = np.zeros((100, 100), np.uint8)
    assert gap_depth(gap) == 0.0
    gap[20:41, 10:90] = 255          # a band 21 px high: its middle row is 11 px from kept rows
    assert 10.5 <= gap_depth(gap) <= 11.5
    thin = np.zeros_like(gap)
    thin[20:24, 0:100] = 255         # a sliver as long as the frame is shallow all the same
    assert gap_depth(thin) <= 2.5
    edge = np.zeros_like(gap)
    edge[79:100, 10:90] = 255        # nothing is kept beyond the frame: twice as deep there
    assert gap_depth(edge) >= 20.5
