"""Image-quality metrics restricted to a region (the hole, or the band at its boundary).

numpy/OpenCV only.  Images are float ``HxWx3`` in [0, 1]; regions are boolean ``HxW``.
"""
from __future__ import annotations

import numpy as np

_C1, _C2 = 0.01 ** 2, 0.03 ** 2


def region_l1(pred: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute error over the region's pixels and channels (NaN if the region is empty)."""
    if not region.any():
        return float("nan")
    return float(np.abs(pred - truth)[region].mean())


def region_psnr(pred: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    """PSNR in dB over the region (peak 1.0); capped at 100 dB for exact matches."""
    if not region.any():
        return float("nan")
    mse = float(((pred - truth) ** 2)[region].mean())
    return 100.0 if mse <= 1e-10 else float(10 * np.log10(1.0 / mse))


def ssim_map(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (Wang et al. 2004; Gaussian window σ=1.5), averaged over channels."""
    import cv2

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    x, y = pred.astype(np.float64), truth.astype(np.float64)
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    num = (2 * mx * my + _C1) * (2 * sxy + _C2)
    den = (mx * mx + my * my + _C1) * (sxx + syy + _C2)
    m = num / den
    return m.mean(axis=-1) if m.ndim == 3 else m


def region_ssim(pred: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    """Mean of the SSIM map over the region: local structure around each hole pixel."""
    if not region.any():
        return float("nan")
    return float(ssim_map(pred, truth)[region].mean())


def inner_band(hole: np.ndarray, band_px: int) -> np.ndarray:
    """Hole pixels within ``band_px`` (Chebyshev) of the hole's edge: the seam to judge.

    Same definition as :func:`adstage.generative.boundary.boundary_band` with
    ``side="inside"`` (square structuring element; the image border is no boundary).
    """
    import cv2

    h = hole.astype(np.uint8)
    k = 2 * band_px + 1
    eroded = cv2.erode(h, np.ones((k, k), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=1)
    return (h > 0) & ~(eroded > 0)
