"""The boundary weight map on hand-made masks."""
import numpy as np
import torch

from adstage.generative.boundary import boundary_band, boundary_weight_map
from adstage.generative.losses import weighted_l1
from adstage.generative.metrics import inner_band


def _square(size=12, lo=4, hi=8):
    m = torch.zeros(1, 1, size, size)
    m[..., lo:hi, lo:hi] = 1
    return m


def test_band_both_sides_of_a_square_hole():
    hole = _square()  # hole rows/cols 4..7
    w = boundary_weight_map(hole, band_px=1, weight=5.0)[0, 0].numpy()
    expected = np.ones((12, 12))
    expected[3:9, 3:9] = 5.0     # 1 px outside ring + the hole's outer ring
    expected[5:7, 5:7] = 1.0     # hole interior more than 1 px from the edge
    np.testing.assert_array_equal(w, expected)


def test_band_inside_and_outside_only():
    hole = _square()
    inside = boundary_band(hole, 1, "inside")[0, 0].numpy()
    outside = boundary_band(hole, 1, "outside")[0, 0].numpy()
    assert inside.sum() == 16 - 4           # 4x4 hole minus its 2x2 core
    assert outside.sum() == 36 - 16         # 6x6 ring minus the hole
    assert (inside * outside).sum() == 0


def test_thin_line_is_all_band_and_weight_one_is_identity():
    hole = torch.zeros(1, 1, 10, 10)
    hole[..., 5, 2:8] = 1  # a 1-px-wide gap, like a copy-paste seam
    band = boundary_band(hole, 1, "inside")
    assert torch.equal(band, hole)
    assert torch.equal(boundary_weight_map(hole, 3, 1.0), torch.ones_like(hole))
    assert torch.equal(boundary_weight_map(hole, 0, 9.0), torch.ones_like(hole))


def test_image_border_is_not_a_boundary():
    hole = torch.zeros(1, 1, 8, 8)
    hole[..., :, :4] = 1  # left half, touching the image border
    inside = boundary_band(hole, 1, "inside")[0, 0]
    assert inside[:, 3].sum() == 8 and inside[:, :3].sum() == 0


def test_numpy_metric_band_matches_torch_band():
    rng = np.random.default_rng(0)
    hole = (rng.random((20, 20)) > 0.7).astype(np.uint8)
    t = boundary_band(torch.from_numpy(hole).float()[None, None], 2, "inside")[0, 0].numpy() > 0
    np.testing.assert_array_equal(inner_band(hole, 2), t)


def test_weighted_l1_penalises_band_errors_more():
    hole = _square()
    target = torch.zeros(1, 3, 12, 12)
    w = boundary_weight_map(hole, 1, 5.0)
    near, far = target.clone(), target.clone()
    near[..., 4, 4] = 1.0    # error on the boundary band
    far[..., 0, 0] = 1.0     # same error far from the hole
    assert weighted_l1(near, target, w, hole) == 5 * weighted_l1(far, target, w, hole)
