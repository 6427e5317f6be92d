"""Quality scores: 0 for copy-paste by construction, > 0 for a method that repaints the product."""
from __future__ import annotations

import cv2
import numpy as np

from adstage.staging import quality
from adstage.staging.composite import compose


def test_copy_paste_scores_zero_and_a_repainting_method_does_not():
    H, W = 90, 120
    rng = np.random.default_rng(3)
    room = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (60, 45), 25, 255, -1)
    alpha = cv2.GaussianBlur(m, (0, 0), 0.8).astype(np.float32) / 255.0
    prod = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    out = compose(prod, alpha, room)
    assert quality.preservation(prod, alpha, out) == (0.0, 0.0)
    assert quality.repaint_share(prod, alpha, out) == 0.0
    assert quality.object_expansion(m, m) == 0.0 and quality.outline_growth(m, m) == 0.0

    repainted = cv2.GaussianBlur(out, (5, 5), 0)       # a generator re-rendering the product
    pmax, pmean = quality.preservation(prod, alpha, repainted)
    assert pmax > 0 and pmean > 0 and quality.repaint_share(prod, alpha, repainted) > 0.5
    grown = cv2.dilate(m, np.ones((7, 7), np.uint8))   # the product expanded into the gap
    assert quality.object_expansion(m, grown) > 0.1 and quality.outline_growth(m, grown) > 0.1
    assert quality.fit_iou(m, grown) < 1.0


def test_gap_share_and_empty_cases():
    z = np.zeros((10, 10), np.uint8)
    assert quality.gap_share(z, z) == 0.0
    assert quality.preservation(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.float32),
                                np.zeros((10, 10, 3), np.uint8)) == (0.0, 0.0)
