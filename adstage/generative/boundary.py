"""The paper's weighted boundary loss: a per-pixel weight map that is heavier near the hole edge.

Copy-paste holes are thin bands, so most of the visible error sits where the inpainted
pixels meet the known ones; Ku et al. (AdKDD 2023) up-weight the reconstruction loss there.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def boundary_band(hole: torch.Tensor, band_px: int, side: str = "both") -> torch.Tensor:
    """Binary band of pixels within ``band_px`` (Chebyshev distance) of the hole boundary.

    :param hole: ``N x 1 x H x W`` float mask, 1 = hole.
    :param band_px: half-width of the band in pixels; 0 gives an empty band.
    :param side: ``"both"`` (inside and outside the hole), ``"inside"`` or ``"outside"``.
        The image border is not a hole boundary: max-pooling pads with -inf, so a hole that
        touches the border is not eroded from it.
    """
    if band_px <= 0:
        return torch.zeros_like(hole)
    hole = (hole > 0.5).to(hole.dtype)
    k = 2 * band_px + 1
    dilated = F.max_pool2d(hole, k, stride=1, padding=band_px)
    eroded = 1.0 - F.max_pool2d(1.0 - hole, k, stride=1, padding=band_px)
    if side == "both":
        return dilated - eroded
    if side == "inside":
        return hole - eroded
    if side == "outside":
        return dilated - hole
    raise ValueError(f"side must be both|inside|outside, got {side!r}")


def boundary_weight_map(hole: torch.Tensor, band_px: int, weight: float,
                        side: str = "both") -> torch.Tensor:
    """Per-pixel loss weights: ``weight`` on the boundary band, 1 elsewhere.

    :param hole: ``N x 1 x H x W`` float mask, 1 = hole.
    :param band_px: band half-width in pixels (see :func:`boundary_band`).
    :param weight: weight inside the band; 1.0 reproduces the unweighted baseline.
    :param side: which side(s) of the boundary the band covers.
    """
    return 1.0 + (float(weight) - 1.0) * boundary_band(hole, band_px, side)
