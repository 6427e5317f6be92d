"""Ad crops: exact aspect (up to a pixel), the whole product inside, clipped or padded to the frame."""
from __future__ import annotations

import numpy as np
import pytest

from adstage.staging.crops import ASPECTS, ad_crop, ad_crops, crop_box


@pytest.mark.parametrize("aspect", sorted(ASPECTS.values()))
@pytest.mark.parametrize("H,W,box", [
    (199, 301, (120, 60, 180, 190)),     # mid-frame
    (199, 301, (0, 0, 40, 70)),          # top-left corner
    (199, 301, (250, 100, 301, 199)),    # bottom-right corner
    (300, 120, (5, 20, 115, 280)),       # tall frame, product nearly as wide: 1.91 needs padding
    (61, 400, (10, 1, 390, 60)),         # wide product in a letterbox
])
def test_aspect_contains_product_and_frame(H, W, box, aspect):
    x0, y0, x1, y1 = crop_box((H, W), box, aspect)
    cw, ch = x1 - x0, y1 - y0
    assert abs(cw / ch - aspect) <= 1.0 / ch + 1e-9
    assert x0 <= box[0] and y0 <= box[1] and x1 >= box[2] and y1 >= box[3]
    if cw <= W and ch <= H:
        assert 0 <= x0 and 0 <= y0 and x1 <= W and y1 <= H           # fits: clipped, no padding
    img = np.full((H, W, 3), 128, np.uint8)
    img[box[1]:box[3], box[0]:box[2]] = 7
    crop = ad_crop(img, box, aspect)
    assert crop.shape[:2] == (ch, cw)
    assert (crop == 7).all(axis=2).sum() == (box[2] - box[0]) * (box[3] - box[1])  # product whole


def test_margin_and_output_size():
    img = np.zeros((400, 600, 3), np.uint8)
    box = (250, 150, 350, 250)
    x0, y0, x1, y1 = crop_box((400, 600), box, 1.0, margin=0.2)
    assert x0 <= 230 and x1 >= 370 and y0 <= 130 and y1 >= 270
    crops = ad_crops(img, box)
    assert set(crops) == {"square", "landscape"}
    assert ad_crop(img, box, 1.91, out_size=(1200, 628)).shape == (628, 1200, 3)
