"""THE Canny edge map used by EdgeConnect training and by the nightly staging job.

One function, numpy in / numpy out, no torch: the edge generator learns the statistics of
exactly these edges, so training and inference must share this code path.
"""
from __future__ import annotations

import numpy as np

# Official EdgeConnect uses skimage.feature.canny(sigma=2) with its default thresholds
# (0.1 / 0.2 of the [0, 1] intensity range on a Sobel magnitude).  On uint8 images the same
# thresholds are ~25 / ~51 on cv2's (identical, unnormalised) 3x3 Sobel with L2 magnitude.
DEFAULT_SIGMA = 2.0
DEFAULT_LOW = 25.0
DEFAULT_HIGH = 51.0


def to_grey(image: np.ndarray) -> np.ndarray:
    """RGB/BGR-agnostic luminance as uint8.

    :param image: ``HxW`` or ``HxWx3`` uint8 array (RGB order assumed for the weights).
    """
    if image.ndim == 2:
        return image.astype(np.uint8, copy=False)
    rgb = image[..., :3].astype(np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(grey + 0.5, 0, 255).astype(np.uint8)


def canny(image: np.ndarray, sigma: float = DEFAULT_SIGMA, low: float = DEFAULT_LOW,
          high: float = DEFAULT_HIGH, hole: np.ndarray | None = None) -> np.ndarray:
    """Binary Canny edges as float32 ``HxW`` in {0, 1}.

    :param image: uint8 grey ``HxW`` or RGB ``HxWx3``.
    :param sigma: std-dev of the Gaussian blur before Canny (EdgeConnect default 2).
    :param low: hysteresis low threshold on the uint8 gradient magnitude.
    :param high: hysteresis high threshold.
    :param hole: optional ``HxW`` mask (non-zero = hole); edges inside it are zeroed, as at
        inference the hole's content is unknown (EdgeConnect's ``mask=`` argument at test).
    """
    import cv2  # imported here so that importing this module stays cheap

    grey = to_grey(np.asarray(image))
    if sigma > 0:
        grey = cv2.GaussianBlur(grey, (0, 0), sigmaX=float(sigma), sigmaY=float(sigma),
                                borderType=cv2.BORDER_REFLECT)
    edges = cv2.Canny(grey, float(low), float(high), apertureSize=3, L2gradient=True)
    out = (edges > 0).astype(np.float32)
    if hole is not None:
        out[np.asarray(hole) > 0] = 0.0
    return out
