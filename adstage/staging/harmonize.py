"""Colour/illumination harmonisation of the pasted product to the room.

A catalogue photo is lit flat and bright; a room photo is not.  Matching the product's
luminance statistics (CIELAB L mean and std over its opaque-ish pixels) to those of the room
around the slot makes it sit in the scene's light.  Only L moves: a and b are kept, so hue and
chroma (the product's actual colour, which an ad must not change) stay as they were.  The
match is partial (``strength`` in [0, 1]) and the contrast gain is clamped, because the room
ring also contains walls and floor of other colours: it is a hint of the light, not a target.

The context is a ring around the slot, outside both the old and the new product.
Harmonisation changes the product's pixels on purpose (a monotone tone curve, same for every
pixel), which is why ``stage_copy_paste`` keeps it off by default and reports how far it moved
them; the mask and alpha are never touched.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class HarmonizeParams:
    """``strength``: 0 = unchanged, 1 = full match; ``ring_frac``: context ring width, share of
    the slot's equivalent diameter; ``max_gain``: clamp of the std ratio (and its inverse)."""

    strength: float = 0.35
    ring_frac: float = 0.25
    max_gain: float = 1.5


def _lab(bgr: np.ndarray) -> np.ndarray:
    # float32 conversion: L in [0, 100] without the 8-bit quantisation of the uint8 path.
    return cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)


def context_ring(slot_mask: np.ndarray, product_mask: np.ndarray, ring_frac: float = 0.25) -> np.ndarray:
    """uint8 mask (255 = in) of the room around the slot, outside slot and product."""
    slot = (np.asarray(slot_mask) > 0).astype(np.uint8) * 255
    r = max(2, int(round(ring_frac * np.sqrt(4.0 * max(int((slot > 0).sum()), 1) / np.pi))))
    big = cv2.dilate(slot, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return np.where((big > 0) & (slot == 0) & (np.asarray(product_mask) == 0), 255, 0).astype(np.uint8)


def harmonize_product(product_img: np.ndarray, product_alpha: np.ndarray, room: np.ndarray,
                      slot_mask: np.ndarray, params: HarmonizeParams = HarmonizeParams()) -> np.ndarray:
    """The product's colours with L partially matched to the room ring; same shape and dtype.

    :param product_img: BGR uint8 ``H x W x 3``, the placed product (room coordinates).
    :param product_alpha: float32 ``H x W`` in [0, 1].
    :param room: BGR uint8 donor room. :param slot_mask: uint8, 255 = donor product.
    :returns: BGR uint8; pixels with ``alpha == 0`` unchanged; the input when ``strength`` is 0
        or either region is empty.
    """
    s = float(np.clip(params.strength, 0.0, 1.0))
    alpha = np.asarray(product_alpha)
    inside = alpha >= 0.5
    ring = context_ring(slot_mask, np.where(alpha > 0, 255, 0).astype(np.uint8), params.ring_frac) > 0
    if s == 0 or inside.sum() < 4 or ring.sum() < 4:
        return product_img
    lab_p = _lab(product_img)
    room_l = _lab(room)[..., 0][ring]
    mu_p, sd_p = float(lab_p[..., 0][inside].mean()), float(lab_p[..., 0][inside].std())
    mu_r, sd_r = float(room_l.mean()), float(room_l.std())
    gain = float(np.clip(sd_r / max(sd_p, 1e-3), 1.0 / params.max_gain, params.max_gain))
    target = (lab_p[..., 0] - mu_p) * gain + mu_r
    lab_p[..., 0] = np.clip(lab_p[..., 0] + s * (target - lab_p[..., 0]), 0.0, 100.0)
    bgr = cv2.cvtColor(lab_p, cv2.COLOR_Lab2BGR)
    out = np.clip(np.round(bgr * 255.0), 0, 255).astype(np.uint8)
    return np.where((alpha > 0)[..., None], out, product_img)
