"""stage_copy_paste: the guarantees hold whatever the inpainter returns."""
from __future__ import annotations

import numpy as np
import pytest

from adstage.staging.composite import compose, opencv_inpainter, rgb_inpainter, stage_copy_paste
from adstage.staging.harmonize import HarmonizeParams
from adstage.staging.shadow import ShadowParams
import scenes
from scenes import NEW, OLD

def scene(H: int = 199, W: int = 301, slot_box=(110, 60, 200, 185)):
    """A textured room with a red donor product; a blue product on white, notched."""
    return scenes.scene(H, W, slot_box, cut=(10, 10, 25, 30))


def noise_inpainter(crops: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """A deliberately bad inpainter: noise everywhere, also outside the holes."""
    return np.random.default_rng(0).integers(0, 256, crops.shape, dtype=np.uint8)


@pytest.mark.parametrize("inpaint", [opencv_inpainter(), noise_inpainter], ids=["telea", "noise"])
@pytest.mark.parametrize("crop_size", [64, 255])
def test_donor_outside_product_exact_inside(inpaint, crop_size):
    room, slot, prod, alpha = scene()
    res = stage_copy_paste(room, slot, prod, alpha, inpaint, dilate_px=3, crop_size=crop_size, shadow=None)
    out, a = res.image, res.product_alpha
    assert out.shape == room.shape and out.dtype == np.uint8
    outside = (res.gap_mask == 0) & (a == 0)
    assert np.array_equal(out[outside], room[outside])                   # donor, bit for bit
    opaque = a == 1.0
    assert opaque.sum() > 1000
    assert np.array_equal(out[opaque], res.product_image[opaque])        # product, bit for bit
    assert (out[opaque] == NEW).all()
    assert res.scores["preservation_max"] == 0.0 and res.scores["repaint_share"] == 0.0
    assert res.scores["object_expansion"] == 0.0
    assert not (res.gap_mask[opaque] > 0).any()
    assert res.crop_boxes and res.scores["n_crops"] == len(res.crop_boxes)
    if inpaint is not noise_inpainter:
        # The old red product is gone: no gap pixel keeps its colour.
        red = np.all(np.abs(out.astype(int) - OLD) < 30, axis=2)
        assert not (red & (res.gap_mask > 0)).any()


def test_with_shadow_and_harmonize_the_guarantees_hold_and_the_shadow_is_outside():
    room, slot, prod, alpha = scene()
    res = stage_copy_paste(room, slot, prod, alpha, noise_inpainter, dilate_px=3, crop_size=128,
                           shadow=ShadowParams(strength=0.6), harmonize=HarmonizeParams(strength=0.5))
    a = res.product_alpha
    outside = (res.gap_mask == 0) & (a == 0) & (res.shadow == 0)
    assert np.array_equal(res.image[outside], room[outside])
    assert np.array_equal(res.image[a == 1.0], res.product_image[a == 1.0])
    assert res.scores["harmonize_delta"] > 0 and res.scores["preservation_max"] == 0.0
    assert res.shadow.max() > 0 and (res.shadow[a == 1.0] == 0).all()


def test_odd_room_product_at_the_border_and_tiny_rooms():
    room, slot, prod, alpha = scene(H=97, W=151, slot_box=(100, 20, 151, 97))   # touches right+bottom
    res = stage_copy_paste(room, slot, prod, alpha, opencv_inpainter(), crop_size=255)
    assert res.image.shape == (97, 151, 3)
    x0, y0, x1, y1 = res.box
    assert 0 <= x0 and x1 <= 151 and 0 <= y0 and y1 <= 97
    assert np.array_equal(res.image[res.product_alpha == 1], res.product_image[res.product_alpha == 1])


def test_inpainter_contract_is_checked():
    room, slot, prod, alpha = scene()
    with pytest.raises(ValueError, match="inpaint_fn returned"):
        stage_copy_paste(room, slot, prod, alpha, lambda c, h: c[:, :10], crop_size=64)
    with pytest.raises(ValueError, match="inpaint_fn returned"):
        stage_copy_paste(room, slot, prod, alpha, lambda c, h: c.astype(np.float32), crop_size=64)


def test_rgb_inpainter_adapter_swaps_channels_both_ways():
    seen = []

    def rgb_model(images, holes):
        seen.append(images[0][0, 0].tolist())
        return [img.copy() for img in images]

    crops = np.zeros((2, 8, 8, 3), np.uint8)
    crops[..., 0] = 255  # blue in BGR
    out = rgb_inpainter(rgb_model)(crops, np.zeros((2, 8, 8), np.uint8))
    assert seen == [[0, 0, 255]] and np.array_equal(out, crops)


def test_compose_is_exact_at_zero_and_one():
    fg = np.full((1, 3, 3), 200, np.uint8)
    bg = np.full((1, 3, 3), 100, np.uint8)
    out = compose(fg, np.array([[0.0, 0.5, 1.0]], np.float32), bg)
    assert out[0, :, 0].tolist() == [100, 150, 200]


def test_a_product_behind_a_front_piece_leaves_the_front_untouched():
    room, slot, prod, alpha = scene()
    front = np.zeros(slot.shape, np.uint8)
    front[150:199, 60:260] = 255               # a piece in front covers the slot's lower part
    slot = np.where(front > 0, 0, slot).astype(np.uint8)
    res = stage_copy_paste(room, slot, prod, alpha, noise_inpainter, dilate_px=3, crop_size=128,
                           shadow=ShadowParams(strength=0.6), front=front)
    assert np.array_equal(res.image[front > 0], room[front > 0])      # the front, bit for bit
    assert not (res.gap_mask[front > 0] > 0).any() and not (res.shadow[front > 0] > 0).any()
    assert not (res.product_alpha[front > 0] > 0).any()
    assert res.placement.fit_by == "behind" and (res.product_alpha == 1.0).sum() > 1000


def notched_scene():
    """The product's notch leaves a wide gap beside it, on the light wall."""
    return scenes.scene(199, 301, (110, 60, 200, 185), cut=(10, 10, 45, 60))


def staged_in_two_halves(room, slot, prod, alpha, **kw):
    """prepare_copy_paste, Telea on its crops, finish_copy_paste: (pending, result)."""
    from adstage.staging.composite import finish_copy_paste, prepare_copy_paste

    p = prepare_copy_paste(room, slot, prod, alpha, dilate_px=3, shadow=None, **kw)
    return p, finish_copy_paste(p, opencv_inpainter()(p.crops, p.holes))


def test_a_fill_that_does_not_see_the_product_takes_no_colour_from_it():
    room, slot, prod, alpha = notched_scene()

    def blue_share(res):   # filled pixels (no product alpha) nearer blue than the room
        gap = res.image[(res.gap_mask > 0) & (res.product_alpha == 0)].astype(int)
        return float((np.abs(gap - NEW).sum(axis=1) < 150).mean())

    _, sees = staged_in_two_halves(room, slot, prod, alpha, crop_size=128, fill_sees_product=True)
    _, hidden = staged_in_two_halves(room, slot, prod, alpha, crop_size=128,
                                     fill_sees_product=False)
    assert blue_share(sees) > 0.2 and blue_share(hidden) == 0.0
    for res in (sees, hidden):     # the product stays bit for bit, the room outside the gap too
        a = res.product_alpha
        assert np.array_equal(res.image[a == 1.0], res.product_image[a == 1.0])
        outside = (res.gap_mask == 0) & (a == 0)
        assert np.array_equal(res.image[outside], room[outside])


def test_a_crop_with_no_room_left_in_it_fills_from_the_whole_frame():
    room, slot, prod, alpha = notched_scene()

    def white(res):   # the crops' blank colour left in the gap: nothing filled it
        return int(np.all(res.image[res.gap_mask > 0] >= 250, axis=1).sum())

    # 32 px crops inside product + gap are all hole
    tiles, res_tiles = staged_in_two_halves(room, slot, prod, alpha, crop_size=32, max_frame_px=0)
    assert len(tiles.boxes) > 1 and white(res_tiles) > 0
    whole, res_whole = staged_in_two_halves(room, slot, prod, alpha, crop_size=32,
                                            max_frame_px=10 ** 7)
    assert whole.boxes == [(0, 0, 301, 199)] and white(res_whole) == 0
