"""Ad crops: exact aspect (up to a pixel), the whole product inside, always inside the photo;
a crop that cannot be is refused with its reason, never padded with repeated edge pixels."""
from __future__ import annotations

import numpy as np
import pytest

from adstage.imagestore import ImageStore
from adstage.staging.crops import ASPECTS, CropRefused, ad_crop, ad_crops, crop_box
from adstage.staging.outputs import store_outputs


@pytest.mark.parametrize("aspect", sorted(ASPECTS.values()))
@pytest.mark.parametrize("H,W,box", [
    (199, 301, (120, 60, 180, 190)),     # mid-frame
    (199, 301, (0, 0, 40, 70)),          # top-left corner
    (199, 301, (250, 100, 301, 199)),    # bottom-right corner
    (61, 400, (150, 10, 200, 50)),       # small product in a letterbox
    (300, 120, (40, 100, 80, 140)),      # small product in a tall frame
])
def test_aspect_contains_product_and_stays_inside_the_frame(H, W, box, aspect):
    x0, y0, x1, y1 = crop_box((H, W), box, aspect)
    cw, ch = x1 - x0, y1 - y0
    assert abs(cw / ch - aspect) <= 1.0 / ch + 1e-9
    assert x0 <= box[0] and y0 <= box[1] and x1 >= box[2] and y1 >= box[3]
    assert 0 <= x0 and 0 <= y0 and x1 <= W and y1 <= H
    img = np.full((H, W, 3), 128, np.uint8)
    img[box[1]:box[3], box[0]:box[2]] = 7
    crop = ad_crop(img, box, aspect)
    assert crop.shape[:2] == (ch, cw)
    assert (crop == 7).all(axis=2).sum() == (box[2] - box[0]) * (box[3] - box[1])  # product whole


def test_a_crop_that_would_leave_the_photo_is_refused_not_padded():
    """A tall photo with a product nearly as wide as it: no 1.91:1 crop holds the product
    inside the photo. It used to be padded with the photo's edge pixels repeated (a smeared
    border in the ad); now it is refused, with the reason, and the square crop still made."""
    H, W, box = 300, 120, (5, 20, 115, 280)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    with pytest.raises(CropRefused, match=r"1.91:1 crop around the 110x260 product does not fit"):
        crop_box((H, W), box, 1.91)
    with pytest.raises(CropRefused):
        ad_crop(img, box, 1.91)
    crops, refused = ad_crops(img, box)
    assert set(crops) == set() and set(refused) == {"square", "landscape"}
    # A wide product in a letterbox: no square crop and no 1.91:1 crop holds it either.
    assert set(ad_crops(np.zeros((61, 400, 3), np.uint8), (10, 1, 390, 60))[1]) == \
        {"square", "landscape"}
    crops, refused = ad_crops(img, (40, 100, 80, 140))
    assert set(crops) == {"square", "landscape"} and refused == {}
    for crop in crops.values():  # the photo's own pixels: a window of it, nothing repeated
        ch, cw = crop.shape[:2]
        windows = [(y, x) for y in range(H - ch + 1) for x in range(W - cw + 1)
                   if np.array_equal(img[y:y + ch, x:x + cw], crop)]
        assert len(windows) == 1


def test_refused_crops_are_null_with_their_reason_in_the_outputs(tmp_path):
    store = ImageStore(str(tmp_path / "images"))
    img = np.full((300, 120, 3), 90, np.uint8)
    alpha = np.zeros((300, 120), np.float32)
    gen = np.zeros((300, 120), np.uint8)
    out = store_outputs(store, img, alpha, gen, (5, 20, 115, 280))
    assert out["crop_square_uri"] is None and out["crop_wide_uri"] is None
    assert "landscape: a 1.91:1 crop" in out["crop_refused"] and "square:" in out["crop_refused"]
    ok = store_outputs(store, img, alpha, gen, (40, 100, 80, 140))
    assert ok["crop_square_uri"] and ok["crop_wide_uri"] and ok["crop_refused"] is None


def test_margin_and_output_size():
    img = np.zeros((400, 600, 3), np.uint8)
    box = (250, 150, 350, 250)
    x0, y0, x1, y1 = crop_box((400, 600), box, 1.0, margin=0.2)
    assert x0 <= 230 and x1 >= 370 and y0 <= 130 and y1 >= 270
    crops, refused = ad_crops(img, box)
    assert set(crops) == {"square", "landscape"} and refused == {}
    assert ad_crop(img, box, 1.91, out_size=(1200, 628)).shape == (628, 1200, 3)
