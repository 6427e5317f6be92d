"""Grain for a filled gap: the photo's own noise, put back where the fill smoothed it away.

Telea and the generators fill a gap with smooth colour, while the photo around it carries
sensor noise and fine texture. A smooth band beside the product's outline is what gives a
paste away (the seam measure, ``adstage.evaluation.seam``). ``match_grain`` measures the
high-frequency residual of the photo in a ring just outside the gap, per channel, robustly
(median absolute deviation), and adds noise of that strength inside the gap only. The noise
is seeded: the same inputs give the same image on every re-run and worker.
"""
from __future__ import annotations

import cv2
import numpy as np

RING_PX = 12          # the photo this far around the gap sets the grain's strength
MAD_TO_SIGMA = 1.4826
AS_GRAINY = 0.9       # a fill with this share of the room's grain already is left alone


def residual(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """``image`` minus its Gaussian blur: the grain, float32."""
    f = image.astype(np.float32)
    return f - cv2.GaussianBlur(f, (0, 0), sigma)


def grain_strength(image: np.ndarray, gap: np.ndarray, exclude: np.ndarray | None = None,
                   ring_px: int = RING_PX) -> np.ndarray:
    """Per-channel noise sigma of ``image`` in the ring around ``gap`` (uint8, 255 = hole),
    leaving out ``exclude`` (the product). Zeros when the ring is empty."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring_px + 1, 2 * ring_px + 1))
    ring = (cv2.dilate(gap, k) > 0) & (gap == 0)
    if exclude is not None:
        ring &= exclude == 0
    channels = image.shape[2] if image.ndim == 3 else 1
    if not ring.any():
        return np.zeros(channels, np.float32)
    r = residual(image).reshape(*image.shape[:2], channels)[ring]
    mad = np.median(np.abs(r - np.median(r, axis=0)), axis=0)
    return (MAD_TO_SIGMA * mad).astype(np.float32)


def match_grain(filled: np.ndarray, room: np.ndarray, gap: np.ndarray,
                exclude: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """``filled`` (BGR uint8) with grain of ``room``'s strength added inside ``gap`` only; the
    grain the fill kept already is subtracted, so a textured fill is not made noisier."""
    hole = gap > 0
    if not hole.any():
        return filled
    want = grain_strength(room, gap, exclude)
    have = grain_strength_inside(filled, gap)
    add = np.where(have >= AS_GRAINY * want, 0.0,
                   np.sqrt(np.clip(want ** 2 - have ** 2, 0, None))).astype(np.float32)
    if not (add > 0).any():
        return filled
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(hole)
    noise = rng.standard_normal((len(ys), filled.shape[2])).astype(np.float32) * add
    out = filled.copy()
    out[ys, xs] = np.clip(filled[ys, xs].astype(np.float32) + noise, 0, 255).round().astype(np.uint8)
    return out


def grain_strength_inside(image: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Per-channel noise sigma of ``image`` inside ``gap``."""
    hole = gap > 0
    r = residual(image).reshape(*image.shape[:2], image.shape[2])[hole]
    mad = np.median(np.abs(r - np.median(r, axis=0)), axis=0)
    return (MAD_TO_SIGMA * mad).astype(np.float32)
