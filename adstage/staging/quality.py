"""Scores of a staged image, each defined so that what copy-paste guarantees is checkable.

* ``preservation``: max and mean absolute difference (uint8 levels, over B, G, R) between the
  product as pasted and the output, over the product's opaque pixels (``alpha == 1``).  Copy-paste
  composites those pixels by copy, so both are exactly 0; a method that regenerates the product
  (vanilla pix2pix staging, an inpainter given the whole slot) scores > 0.  Soft rim pixels are
  excluded: they are a blend with the background by definition.
* ``repaint_share``: share of the opaque pixels whose colour changed at all (> ``tol``) — the
  same guarantee as a share of the product rather than a level.
* ``fit_iou`` (from ``placement``): IoU of the new product mask with the slot mask.
* ``gap_share`` (from ``gap``): share of the donor product that had to be invented.
* ``object_expansion``: ``1 - IoU(output product region, intended product mask)``.  The intended
  mask is the placed product's (``alpha >= 0.5``).  The output's product region is what the
  method put there: for copy-paste it is the pasted mask itself, so the score is 0 by
  construction; for a generative method it comes from segmenting its output (the vision
  segmenter), and a product that grew into the gap, lost a leg or moved scores > 0.
  ``outline_growth`` is the growth alone, ``|output \\ intended| / |intended|`` (the failure the
  paper reports for generative staging: the object expands).
"""
from __future__ import annotations

import numpy as np

from adstage.staging.gap import gap_share
from adstage.staging.placement import mask_iou as fit_iou

__all__ = ["preservation", "repaint_share", "object_expansion", "outline_growth", "fit_iou", "gap_share"]


def _opaque(product_alpha: np.ndarray) -> np.ndarray:
    return np.asarray(product_alpha) >= 1.0


def preservation(product_img: np.ndarray, product_alpha: np.ndarray, output: np.ndarray) -> tuple[float, float]:
    """``(max, mean)`` absolute difference over the opaque product pixels; ``(0, 0)`` if none.

    :param product_img: BGR uint8 ``H x W x 3``, the product as pasted (room coordinates).
    :param product_alpha: float32 ``H x W`` in [0, 1]. :param output: BGR uint8 staged image.
    """
    sel = _opaque(product_alpha)
    if not sel.any():
        return 0.0, 0.0
    d = np.abs(product_img[sel].astype(np.int16) - output[sel].astype(np.int16))
    return float(d.max()), float(d.mean())


def repaint_share(product_img: np.ndarray, product_alpha: np.ndarray, output: np.ndarray, tol: int = 0) -> float:
    """Share of opaque product pixels whose colour moved by more than ``tol`` in any channel."""
    sel = _opaque(product_alpha)
    if not sel.any():
        return 0.0
    d = np.abs(product_img[sel].astype(np.int16) - output[sel].astype(np.int16)).max(axis=1)
    return float((d > tol).mean())


def object_expansion(intended_mask: np.ndarray, output_mask: np.ndarray) -> float:
    """``1 - IoU`` of the output's product region and the intended product mask (uint8, 255 = in)."""
    return 1.0 - fit_iou(intended_mask, output_mask)


def outline_growth(intended_mask: np.ndarray, output_mask: np.ndarray) -> float:
    """``|output \\ intended| / |intended|``: how much the product region grew; 0 if none."""
    intended, out = np.asarray(intended_mask) > 0, np.asarray(output_mask) > 0
    n = int(intended.sum())
    return 0.0 if n == 0 else float(np.logical_and(out, ~intended).sum()) / n
