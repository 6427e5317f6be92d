"""The gap to inpaint after copy-paste, and fixed-size crops around it for the inpainter.

Gap (uint8, 255 = hole to fill) = the donor slot, dilated by ``dilate_px``, minus the new
product's opaque pixels (``alpha == 1``).

* Dilation: a segmented slot is a little tight, and the donor product's anti-aliased rim (and
  its colour bleeding into the floor) would survive as a halo around the new product.
* The overlap band: the product's soft rim (``0 < alpha < 1``) is part of the hole where it lies
  in the dilated slot.  Those pixels show a mix of product and whatever is behind it, and behind
  it is the donor's old product, which must not show through.  So the background there is
  inpainted like the rest of the gap, and the final composite lays the product's rim over it
  again with its alpha (``composite.compose``).  Opaque product pixels are never in the hole:
  they are context for the inpainter (it continues edges up to the new silhouette) and are
  pasted back bit-exact anyway.

The inpainter runs on fixed-size crops (``crop_boxes``): one per connected gap region, several
tiles when a region is larger than a crop, placed inside the frame.  A room smaller than a crop
is padded by mirroring (image and hole alike), never resized, so the model sees pixels at their
own scale; ``paste_crops`` writes back only gap pixels inside the frame, each from the crop in
which it lies farthest from the crop border (the most context).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

Box = tuple[int, int, int, int]


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def gap_mask(slot_mask: np.ndarray, product_alpha: np.ndarray, dilate_px: int = 4) -> np.ndarray:
    """The hole: ``dilate(slot, dilate_px)`` minus the product's opaque pixels.

    :param slot_mask: uint8 ``H x W``, 255 = donor product.
    :param product_alpha: float32 ``H x W`` in [0, 1], the placed product (room coordinates).
    :param dilate_px: dilation radius of the slot, pixels (elliptical); 0 = none.
    :returns: uint8 ``H x W``, 255 = hole.  Never 255 where ``product_alpha == 1``.
    """
    slot = (np.asarray(slot_mask) > 0).astype(np.uint8) * 255
    if dilate_px > 0:
        slot = cv2.dilate(slot, _disk(int(dilate_px)))
    opaque = np.asarray(product_alpha) >= 1.0
    return np.where((slot > 0) & ~opaque, 255, 0).astype(np.uint8)


def gap_share(gap: np.ndarray, slot_mask: np.ndarray) -> float:
    """Share of the donor product that must be invented: ``|gap ∩ slot| / |slot|`` in [0, 1].

    Measured on the undilated slot so that it does not depend on ``dilate_px``: 0 when the new
    product covers the old one entirely, 1 when it covers none of it.
    """
    slot = np.asarray(slot_mask) > 0
    n = int(slot.sum())
    return 0.0 if n == 0 else float(np.logical_and(np.asarray(gap) > 0, slot).sum()) / n


def gap_depth(gap: np.ndarray) -> float:
    """How deep the gap is: the largest distance, in pixels, from a gap pixel to the nearest
    pixel that is kept (the product's or the room's; the frame's edge is not one). A filler
    invents the middle of a gap from its edges, so a gap 60 px deep is a blur however small a
    share of the slot it is, while a slot's worth of thin slivers between chair legs fills
    cleanly."""
    g = (np.asarray(gap) > 0).astype(np.uint8)
    if not g.any():
        return 0.0
    return float(cv2.distanceTransform(g, cv2.DIST_L2, 5).max())


def _windows(lo: int, hi: int, size: int, frame: int, margin: int) -> list[int]:
    """Start positions of ``size`` windows covering ``[lo, hi)``, kept inside ``[0, frame)``."""
    if frame <= size:
        return [0]  # the whole frame fits in one crop; the rest is padding
    extent = hi - lo
    if extent <= size - 2 * margin:
        starts = [int(round((lo + hi) / 2.0 - size / 2.0))]
    else:
        step = size - 2 * margin
        n = math.ceil((extent + 2 * margin - size) / step) + 1
        span = size + (n - 1) * step
        first = int(round((lo + hi) / 2.0 - span / 2.0))
        starts = [first + i * step for i in range(n)]
    return sorted({min(max(s, 0), frame - size) for s in starts})


def crop_boxes(gap: np.ndarray, crop_size: int = 256, margin: int | None = None) -> list[Box]:
    """Fixed ``crop_size`` square boxes covering every gap pixel.

    One box per connected gap region (8-connectivity), centred on it; a region wider or taller
    than ``crop_size - 2 * margin`` is tiled with overlapping boxes.  A box is skipped when all
    gap pixels it would hold are already covered.  Boxes lie inside the frame, except when the
    frame is smaller than ``crop_size`` (then they start at 0 and ``extract_crops`` pads).

    :param gap: uint8 ``H x W``, 255 = hole.
    :param margin: context kept around a tiled region, pixels (default ``crop_size // 8``).
    :returns: half-open ``(x0, y0, x1, y1)`` boxes, each ``crop_size`` wide and high.
    """
    if crop_size < 8:
        raise ValueError(f"crop_size must be >= 8, got {crop_size}")
    margin = crop_size // 8 if margin is None else int(margin)
    H, W = gap.shape
    hole = (np.asarray(gap) > 0).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(hole, connectivity=8)
    covered = np.zeros((H, W), bool)
    boxes: list[Box] = []
    # Largest regions first: their tiles often cover the specks next to them.
    for i in sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA]):
        x, y, w, h = (int(v) for v in stats[i, :4])
        for y0 in _windows(y, y + h, crop_size, H, margin):
            for x0 in _windows(x, x + w, crop_size, W, margin):
                sl = (slice(y0, y0 + crop_size), slice(x0, x0 + crop_size))
                if not (hole[sl].astype(bool) & ~covered[sl]).any():
                    continue
                boxes.append((x0, y0, x0 + crop_size, y0 + crop_size))
                covered[sl] = True
    return boxes


def extract_crops(image: np.ndarray, gap: np.ndarray, boxes: list[Box]) -> tuple[np.ndarray, np.ndarray]:
    """Cut the boxes out of ``image`` and ``gap`` (mirror-padding where a box leaves the frame).

    :returns: ``crops`` uint8 ``N x S x S x 3`` and ``holes`` uint8 ``N x S x S`` (255 = hole).
    """
    H, W = gap.shape
    if not boxes:
        return np.zeros((0, 0, 0, 3), np.uint8), np.zeros((0, 0, 0), np.uint8)
    size = boxes[0][2] - boxes[0][0]
    pb, pr = max(0, max(b[3] for b in boxes) - H), max(0, max(b[2] for b in boxes) - W)
    if pb or pr:
        # "symmetric" repeats the mirror as often as needed, even for tiny rooms.
        image = np.pad(image, ((0, pb), (0, pr), (0, 0)), mode="symmetric")
        gap = np.pad(gap, ((0, pb), (0, pr)), mode="symmetric")
    crops = np.stack([image[y0:y0 + size, x0:x0 + size] for x0, y0, _, _ in boxes])
    holes = np.stack([gap[y0:y0 + size, x0:x0 + size] for x0, y0, _, _ in boxes])
    return np.ascontiguousarray(crops), np.where(holes > 0, 255, 0).astype(np.uint8)


def paste_crops(image: np.ndarray, gap: np.ndarray, boxes: list[Box], filled: np.ndarray) -> np.ndarray:
    """Write the inpainted crops back: only gap pixels inside the frame change.

    A pixel covered by several crops is taken from the one in which it lies farthest from the
    crop's border (the most context around it).

    :param image: BGR uint8 ``H x W x 3`` (not modified). :param gap: uint8, 255 = hole.
    :param filled: uint8 ``N x S x S x 3`` in the order of ``boxes``.
    """
    H, W = gap.shape
    out = image.copy()
    best = np.full((H, W), -1, np.int32)
    owner = np.full((H, W), -1, np.int32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        cx1, cy1 = min(x1, W), min(y1, H)
        ys = np.arange(y0, cy1)[:, None]
        xs = np.arange(x0, cx1)[None, :]
        depth = np.minimum(np.minimum(ys - y0, y1 - 1 - ys), np.minimum(xs - x0, x1 - 1 - xs))
        region = best[y0:cy1, x0:cx1]
        better = depth > region
        region[better] = depth[better]
        owner[y0:cy1, x0:cx1][better] = i
    hole = np.asarray(gap) > 0
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        cx1, cy1 = min(x1, W), min(y1, H)
        sel = hole[y0:cy1, x0:cx1] & (owner[y0:cy1, x0:cx1] == i)
        out[y0:cy1, x0:cx1][sel] = filled[i][: cy1 - y0, : cx1 - x0][sel]
    return out
