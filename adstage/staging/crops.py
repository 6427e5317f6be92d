"""Ad-ready crops around the staged product: 1:1 (square feeds) and 1.91:1 (link ads).

A crop is centred on the product's box with a margin on every side, at the exact aspect ratio
(width : height, up to one pixel of rounding).  When it leaves the frame it is shifted back in;
when the frame is too small for it, it shrinks the margin (never cutting the product).  A crop
always lies inside the photo: when even the product box does not fit in the frame at that
aspect, the crop is refused (:class:`CropRefused`, with the reason) rather than padded with
repeated edge pixels, which smeared the photo's border across the ad.
"""
from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]
ASPECTS: dict[str, float] = {"square": 1.0, "landscape": 1.91}


class CropRefused(ValueError):
    """No crop of this aspect fits inside the photo around the whole product."""


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
    return min(max(start, 0), frame - size)


def crop_box(frame_hw: tuple[int, int], product_box: Box, aspect: float, margin: float = 0.12) -> Box:
    """The crop, half-open ``(x0, y0, x1, y1)``, always inside the frame and around the
    product (the product box is clipped to the frame first).

    :param frame_hw: image ``(H, W)``. :param product_box: the product's half-open box.
    :param aspect: width / height (1.0, 1.91). :param margin: per side, share of the product's
        larger side.
    :raises CropRefused: when the product does not fit in the frame at this aspect.
    """
    H, W = frame_hw
    x0, y0 = max(int(product_box[0]), 0), max(int(product_box[1]), 0)
    x1, y1 = min(int(product_box[2]), W), min(int(product_box[3]), H)
    pw, ph = x1 - x0, y1 - y0
    if pw <= 0 or ph <= 0:
        raise CropRefused(f"product box {tuple(product_box)} is not inside the {W}x{H} photo")
    m = margin * max(pw, ph)
    cw, ch = _size_for(pw + 2 * m, ph + 2 * m, aspect)
    if cw > W or ch > H:
        # The largest crop of this aspect inside the frame, if it still holds the product.
        fh = min(H, int(np.floor(W / aspect)))
        fw = min(W, int(round(fh * aspect)))
        if fh <= 0 or fw < pw or fh < ph:
            raise CropRefused(f"a {aspect:g}:1 crop around the {pw}x{ph} product does not fit "
                              f"inside the {W}x{H} photo")
        cw, ch = fw, fh
    cx0, cy0 = _place(x0, x1, cw, W), _place(y0, y1, ch, H)
    return cx0, cy0, cx0 + cw, cy0 + ch


def ad_crop(image: np.ndarray, product_box: Box, aspect: float, margin: float = 0.12,
            out_size: tuple[int, int] | None = None) -> np.ndarray:
    """One crop (BGR uint8) of the photo's own pixels; resized to ``out_size`` ``(w, h)``
    when given (e.g. 1200 x 628 for 1.91:1 link ads). Raises :class:`CropRefused`."""
    H, W = image.shape[:2]
    x0, y0, x1, y1 = crop_box((H, W), product_box, aspect, margin)
    out = image[y0:y1, x0:x1].copy()
    if out_size is not None:
        shrink = out_size[0] < out.shape[1]
        out = cv2.resize(out, out_size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return out


def ad_crops(image: np.ndarray, product_box: Box, margin: float = 0.12
             ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The standard crops by name (``ASPECTS``: ``"square"``, ``"landscape"``) that fit inside
    the photo, and the reason for each that does not."""
    crops: dict[str, np.ndarray] = {}
    refused: dict[str, str] = {}
    for name, aspect in ASPECTS.items():
        try:
            crops[name] = ad_crop(image, product_box, aspect, margin)
        except CropRefused as exc:
            refused[name] = str(exc)
    return crops, refused
