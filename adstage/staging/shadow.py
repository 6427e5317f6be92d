"""A contact shadow under the pasted product: the paper's weak point was shadows and lighting.

The donor's own shadow belongs to the old product; the new product, pasted on top, casts none
and looks like it floats.  A cheap, robust cue is ambient occlusion at the floor contact: a
soft, flattened ellipse spanning the product's footprint (the x-extent of its lowest rows, so a
chair's outer legs), plus the blurred footprint itself, darkening the background multiplicatively.
It is applied to the background only: the shadow's alpha is multiplied by ``1 - product alpha``
and the product is composited on top afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ShadowParams:
    """``strength``: darkening at the shadow's core (0 = none, 1 = black); ``foot_frac``: the
    product's lowest rows taken as its footprint, share of its height; ``height_frac``: the
    ellipse's half-height, share of the footprint's half-width; ``spread``: ellipse half-width
    relative to the footprint's; ``blur_frac``: Gaussian sigma, share of the footprint width."""

    strength: float = 0.45
    foot_frac: float = 0.06
    height_frac: float = 0.18
    spread: float = 1.08
    blur_frac: float = 0.05


SHADOW_FLOOR = 0.01


def contact_shadow(product_alpha: np.ndarray, params: ShadowParams = ShadowParams()) -> np.ndarray:
    """Shadow alpha, float32 ``H x W`` in [0, 1]; 0 wherever the product is opaque.

    :param product_alpha: float32 ``H x W`` in [0, 1], the placed product.
    """
    alpha = np.asarray(product_alpha, np.float32)
    H, W = alpha.shape
    ys, xs = np.nonzero(alpha >= 0.5)
    if len(ys) == 0 or params.strength <= 0:
        return np.zeros((H, W), np.float32)
    top, bottom = int(ys.min()), int(ys.max())
    band = ys >= bottom - max(1, int(round(params.foot_frac * (bottom - top + 1))))
    fx0, fx1 = int(xs[band].min()), int(xs[band].max())
    rx = max(2.0, params.spread * (fx1 - fx0 + 1) / 2.0)
    ry = max(1.5, params.height_frac * rx)
    canvas = np.zeros((H, W), np.float32)
    cv2.ellipse(canvas, (int(round((fx0 + fx1) / 2.0)), bottom), (int(round(rx)), int(round(ry))),
                0, 0, 360, 0.6, thickness=-1, lineType=cv2.LINE_AA)
    # The contact points themselves (legs, base) are darkest.
    foot = np.zeros((H, W), np.float32)
    foot[ys[band], xs[band]] = 1.0
    canvas = np.maximum(canvas, foot)
    sigma = max(1.0, params.blur_frac * 2.0 * rx)
    canvas = cv2.GaussianBlur(canvas, (0, 0), sigmaX=sigma, sigmaY=sigma)
    peak = float(canvas.max())
    if peak > 0:
        canvas /= peak
    shadow = np.clip(canvas * np.float32(params.strength) * (1.0 - alpha), 0.0, 1.0)
    # The Gaussian's far tail would shift pixels across most of the floor by one level: cut
    # it where it darkens by under 1 %, so the room stays bit-exact away from the product.
    shadow[shadow < SHADOW_FLOOR] = 0.0
    return shadow


def apply_shadow(background: np.ndarray, shadow: np.ndarray) -> np.ndarray:
    """Darken ``background`` (BGR uint8) by ``shadow`` (float32 in [0, 1]); 0 leaves pixels as is."""
    s = np.asarray(shadow, np.float32)[..., None]
    out = np.round(background.astype(np.float32) * (1.0 - s))
    result = np.clip(out, 0, 255).astype(np.uint8)
    # Pixels without shadow stay bit-exact (no float round trip).
    return np.where(s > 0, result, background)
