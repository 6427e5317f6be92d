"""Ad-ready crops around the staged product: 1:1 (square feeds) and 1.91:1 (link ads).

A crop is centred on the product's box with a margin on every side, at the exact aspect ratio
(width : height, up to one pixel of rounding).  When it leaves the frame it is first shifted
back in; when the frame is too small for it, it shrinks the margin (never cutting the product);
only when even the product box does not fit at that aspect is the frame padded (edge pixels
replicated), so the product is never cut and never rescaled.
"""
from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]
ASPECTS: dict[str, float] = {"square": 1.0, "landscape": 1.91}


def _size_for(w: float, h: float, aspect: float) -> tuple[int, int]:
    """Smallest integer ``(cw, ch)`` with ``cw/ch ≈ aspect`` containing a ``w x h`` box."""
    ch = max(int(np.ceil(h)), int(np.ceil(w / aspect)), 1)
    cw = int(round(ch * aspect))
    if cw < w:  # rounding lost a pixel
        cw = int(np.ceil(w))
        ch = max(ch, int(round(cw / aspect)))
    return cw, ch


def _place(lo: float, hi: float, size: int, frame: int) -> int:
    start = int(round((lo + hi) / 2.0 - size / 2.0))
    if size <= frame:
        start = min(max(start, 0), frame - size)
    return start


def crop_box(frame_hw: tuple[int, int], product_box: Box, aspect: float, margin: float = 0.12) -> Box:
    """The crop, half-open ``(x0, y0, x1, y1)``; may exceed the frame only when padding is needed.

    :param frame_hw: image ``(H, W)``. :param product_box: the product's half-open box.
    :param aspect: width / height (1.0, 1.91). :param margin: per side, share of the product's
        larger side.
    """
    H, W = frame_hw
    x0, y0, x1, y1 = product_box
    pw, ph = x1 - x0, y1 - y0
    m = margin * max(pw, ph)
    cw, ch = _size_for(pw + 2 * m, ph + 2 * m, aspect)
    if cw > W or ch > H:
        # The largest crop of this aspect inside the frame, if it still holds the product.
        fh = min(H, int(np.floor(W / aspect)))
        fw = int(round(fh * aspect))
        cw, ch = (fw, fh) if fw >= pw and fh >= ph and fh > 0 else _size_for(pw, ph, aspect)
    cx0, cy0 = _place(x0, x1, cw, W), _place(y0, y1, ch, H)
    # Keep the product inside even when the crop is wider than the frame.
    cx0 = min(max(cx0, x1 - cw), x0)
    cy0 = min(max(cy0, y1 - ch), y0)
    return cx0, cy0, cx0 + cw, cy0 + ch


def ad_crop(image: np.ndarray, product_box: Box, aspect: float, margin: float = 0.12,
            out_size: tuple[int, int] | None = None) -> np.ndarray:
    """One crop (BGR uint8), edge-padded where it leaves the frame; resized to ``out_size``
    ``(w, h)`` when given (e.g. 1200 x 628 for 1.91:1 link ads)."""
    H, W = image.shape[:2]
    x0, y0, x1, y1 = crop_box((H, W), product_box, aspect, margin)
    pads = (max(0, -y0), max(0, y1 - H), max(0, -x0), max(0, x1 - W))
    if any(pads):
        image = cv2.copyMakeBorder(image, *pads, borderType=cv2.BORDER_REPLICATE)
        x0, x1, y0, y1 = x0 + pads[2], x1 + pads[2], y0 + pads[0], y1 + pads[0]
    out = image[y0:y1, x0:x1].copy()
    if out_size is not None:
        shrink = out_size[0] < out.shape[1]
        out = cv2.resize(out, out_size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return out


def ad_crops(image: np.ndarray, product_box: Box, margin: float = 0.12) -> dict[str, np.ndarray]:
    """The standard crops by name (``ASPECTS``): ``{"square": ..., "landscape": ...}``."""
    return {name: ad_crop(image, product_box, a, margin) for name, a in ASPECTS.items()}
