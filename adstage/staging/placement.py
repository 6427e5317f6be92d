"""Fit a product cutout into a donor slot: scale (aspect kept), bottom-anchored, centred.

The slot is where the donor's product stood; our product replaces it.  Furniture stands on the
floor, so the new product's bottom edge sits on the slot's bottom edge, and it is centred
horizontally on the old product's box centre.  Two scales keep the aspect ratio and match the
slot box in one dimension (fit by height, fit by width); ``fit`` chooses between them:

* ``"cover"`` (default): the candidate whose silhouette covers the most of the old one — less
  gap to invent, which is the weak part of copy-paste; IoU breaks ties;
* ``"iou"``: the candidate with the higher IoU against the slot mask (less overflow);
* ``"height"`` / ``"width"``: force one.

Every candidate is capped so that the product stays inside the frame: never wider than the
room, never taller than the space above the slot's floor line.  The fit IoU (new product mask
vs slot mask) is returned so the job can move on to its next donor when the fit is poor.

A slot partly hidden by pieces in front (``front``: a chair behind a dining table): the product
goes behind them (its pixels there are dropped, so every figure is of what shows). When the
front hides where the slot stands (it covers the band under the slot's lowest visible pixels,
as ``adstage.vision.donors`` judges it), the product is fitted by the slot's visible width and
stands on the front pieces' own floor line in those columns (the nearest floor that can hold
it): a chair behind a table shows its back above the table top again, while a stool, much
lower, disappears behind the table and is refused for its fit instead of floating in mid-air.
Otherwise it is placed as usual.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from adstage.vision.donors import DonorParams, foot_band

Box = tuple[int, int, int, int]
FOOT = DonorParams()  # where a slot stands: the band the slot finder judged it by
FITS = ("cover", "iou", "height", "width")
RIM_PAD = 3  # source pixels of soft rim kept around the tight box


def as_alpha(alpha: np.ndarray) -> np.ndarray:
    """Soft alpha as float32 in [0, 1]: accepts uint8 0..255, bool, or float in [0, 1]."""
    a = np.asarray(alpha)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    if a.dtype == bool:
        return a.astype(np.float32)
    return np.clip(a.astype(np.float32), 0.0, 1.0)


def _alpha_u8(alpha: np.ndarray) -> np.ndarray:
    a = np.asarray(alpha)
    if a.dtype == np.uint8:
        return a
    return np.round(as_alpha(a) * 255.0).astype(np.uint8)


def mask_box(mask: np.ndarray) -> Box | None:
    """Tight half-open box of the non-zero pixels of ``mask``, or None when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two masks (non-zero = in); 1.0 when both are empty."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    union = int(np.logical_or(a, b).sum())
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum()) / union


@dataclass(frozen=True)
class Placement:
    """Where the scaled product lands in the room: ``scale`` of the cutout's tight box, top-left
    ``(x, y)`` and size ``(w, h)`` in room pixels; ``fit_by`` is ``"height"`` or ``"width"``."""

    scale: float
    x: int
    y: int
    w: int
    h: int
    fit_by: str

    @property
    def box(self) -> Box:
        """Half-open ``(x0, y0, x1, y1)``; always inside the frame."""
        return self.x, self.y, self.x + self.w, self.y + self.h


@dataclass
class Placed:
    """The product in room coordinates.

    ``image``: BGR uint8 ``H x W x 3`` (product colours where ``alpha > 0``, 0 elsewhere), None
    when placed without colour;
    ``alpha``: float32 ``H x W`` in [0, 1]; ``mask``: uint8 0/255, 255 where ``alpha >= 0.5``;
    ``fit_iou``: IoU of ``mask`` with the slot mask; ``coverage``: share of the slot it covers.
    """

    placement: Placement
    image: np.ndarray | None
    alpha: np.ndarray
    mask: np.ndarray
    fit_iou: float
    coverage: float


def decontaminate(image: np.ndarray, alpha: np.ndarray, backdrop_bgr) -> np.ndarray:
    """Remove the photo backdrop mixed into soft edge pixels: ``F = (C - (1 - a) B) / a``.

    A catalogue photo's edge pixel is ``a F + (1 - a) B`` with B the (white) backdrop; pasted
    as is onto a darker room it leaves a light halo.  Opaque (``a == 1``) and empty pixels are
    returned unchanged, so the product's own pixels stay exact.

    :param image: BGR uint8 cutout. :param alpha: its soft alpha (any ``as_alpha`` form).
    :param backdrop_bgr: the backdrop colour (``Cutout.background_bgr``).
    """
    a = as_alpha(alpha)[..., None]
    soft = (a > 0) & (a < 1)
    b = np.asarray(backdrop_bgr, np.float32).reshape(1, 1, 3)
    # Floor the divisor: at very low alpha the estimate is noise; those pixels barely show.
    f = (image.astype(np.float32) - (1.0 - a) * b) / np.maximum(a, 0.1)
    out = image.copy()
    s = soft[..., 0]
    out[s] = np.clip(np.round(f[s]), 0, 255).astype(np.uint8)
    return out


def _resize(a: np.ndarray, w: int, h: int) -> np.ndarray:
    shrink = w < a.shape[1] or h < a.shape[0]
    return cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _candidate(frame_hw: tuple[int, int], slot_box: Box, pw: int, ph: int, scale: float,
               fit_by: str) -> Placement:
    H, W = frame_hw
    sx0, _, sx1, sy1 = slot_box
    # Inside the frame: no wider than the room, no taller than the room above the floor line.
    scale = min(scale, W / pw, sy1 / ph)
    w, h = max(1, min(W, int(round(pw * scale)))), max(1, min(sy1, int(round(ph * scale))))
    cx = (sx0 + sx1) / 2.0
    x = int(round(cx - w / 2.0))
    x = min(max(x, 0), W - w)
    return Placement(scale=float(scale), x=x, y=sy1 - h, w=w, h=h, fit_by=fit_by)


def hidden_footing(front: np.ndarray, slot_box: Box, band: float = FOOT.foot_band,
                   share: float = FOOT.foot_share) -> int | None:
    """The floor line the slot stands on behind the front pieces (one past the front's lowest
    row in the slot's columns), or None when the front does not hide the slot's foot: under
    ``share`` of the ``band`` (share of the slot's height) below its lowest visible row."""
    sx0, _, sx1, _ = slot_box
    r0, r1 = foot_band(slot_box, front.shape[0], band)
    under = front[r0:r1, sx0:sx1]
    if under.size == 0 or under.mean() < share:
        return None
    ys = np.nonzero(front[:, sx0:sx1].any(axis=1))[0]
    return int(ys.max()) + 1


def place_product(frame_hw: tuple[int, int], slot_mask: np.ndarray, product_img: np.ndarray,
                  product_alpha: np.ndarray, *, product_box: Box | None = None, fit: str = "cover",
                  backdrop_bgr=None, front: np.ndarray | None = None,
                  colour: bool = True) -> Placed:
    """Scale the product cutout into the slot and return it in room coordinates.

    :param frame_hw: room ``(H, W)``.
    :param slot_mask: uint8 ``H x W``, 255 = the donor product to replace.
    :param product_img: BGR uint8 cutout photo (any size).
    :param product_alpha: its soft alpha, same size (uint8 0..255 or float [0, 1]).
    :param product_box: the cutout's tight box; computed from ``alpha >= 0.5`` when None.
    :param fit: ``"cover"`` | ``"iou"`` | ``"height"`` | ``"width"`` (module docstring).
    :param backdrop_bgr: when given, soft edge pixels are decontaminated from this backdrop.
    :param front: uint8 ``H x W``, 255 = pieces standing in front of the slot (kept on top).
    :param colour: False when only the masks are wanted (judging a donor): ``image`` is then
        None, the alpha and the scores are the same, and it costs about half as much.
    :raises ValueError: empty slot or product, unknown ``fit``, mismatched sizes.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    H, W = frame_hw
    if slot_mask.shape != (H, W):
        raise ValueError(f"slot mask {slot_mask.shape} does not match the room {(H, W)}")
    if product_img.shape[:2] != np.asarray(product_alpha).shape[:2]:
        raise ValueError("product image and alpha differ in size")
    a8 = _alpha_u8(product_alpha)
    if product_box is None:
        product_box = mask_box(a8 >= 128)
    slot_box = mask_box(slot_mask)
    if product_box is None or slot_box is None:
        raise ValueError("empty product or slot mask")
    img = (None if not colour else product_img if backdrop_bgr is None
           else decontaminate(product_img, a8, backdrop_bgr))
    px0, py0, px1, py1 = product_box
    pw, ph = px1 - px0, py1 - py0
    # The tight box is where alpha >= 0.5; the faint outer rim (alpha < 0.5) lies outside it and
    # is carried along, or the product would get a hard edge.
    ch, cw = a8.shape
    pad = (px0 - max(0, px0 - RIM_PAD), py0 - max(0, py0 - RIM_PAD),
           min(cw, px1 + RIM_PAD) - px1, min(ch, py1 + RIM_PAD) - py1)
    src = (None if img is None else img[py0 - pad[1]:py1 + pad[3], px0 - pad[0]:px1 + pad[2]],
           a8[py0 - pad[1]:py1 + pad[3], px0 - pad[0]:px1 + pad[2]], pad)
    sw, sh = slot_box[2] - slot_box[0], slot_box[3] - slot_box[1]
    wanted = {"height": sh / ph, "width": sw / pw}
    slot_in = slot_mask > 0
    slot_area = max(int(slot_in.sum()), 1)

    hidden = None if front is None else front > 0
    footing = None if hidden is None else hidden_footing(hidden, slot_box)
    if footing is not None:
        floor_box = (slot_box[0], slot_box[1], slot_box[2], footing)
        pl = _candidate((H, W), floor_box, pw, ph, wanted["width"], "behind")
        return _render((H, W), pl, src, pw, ph, slot_in, slot_area, hidden)
    best = None
    for fit_by in (("height", "width") if fit in ("cover", "iou") else (fit,)):
        pl = _candidate((H, W), slot_box, pw, ph, wanted[fit_by], fit_by)
        placed = _render((H, W), pl, src, pw, ph, slot_in, slot_area, hidden)
        key = ((placed.coverage, placed.fit_iou) if fit == "cover" else (placed.fit_iou, placed.coverage))
        # Round the coverage so that a hair more coverage does not beat a much better IoU.
        key = (round(key[0], 3), key[1])
        if best is None or key > best[0]:
            best = (key, placed)
    return best[1]


def _render(frame_hw: tuple[int, int], pl: Placement, src, pw: int, ph: int,
            slot_in: np.ndarray, slot_area: int, hidden: np.ndarray | None = None) -> Placed:
    H, W = frame_hw
    img, a8, (pl_, pt, pr, pb) = src
    sx, sy = pl.w / pw, pl.h / ph
    # The tight box maps exactly onto (x, y, w, h); the rim pad scales with it.
    l, t, r, b = (int(round(v * k)) for v, k in ((pl_, sx), (pt, sy), (pr, sx), (pb, sy)))
    tw, th = pl.w + l + r, pl.h + t + b
    # Resize premultiplied colour: interpolating straight colour would pull the black (or
    # backdrop) colour of transparent pixels into the edge.  Alpha is resized as uint8 so that
    # an opaque interior stays exactly 255 (float interpolation gives 0.99999994).
    a_small = _resize(a8, tw, th)
    a_s = a_small.astype(np.float32)[..., None] / 255.0
    alpha = np.zeros((H, W), np.float32)
    ox, oy = pl.x - l, pl.y - t
    # The rim may hang over the frame edge; the product box itself never does.
    cx0, cy0, cx1, cy1 = max(ox, 0), max(oy, 0), min(ox + tw, W), min(oy + th, H)
    alpha[cy0:cy1, cx0:cx1] = a_s[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox, 0]
    image = None
    if img is not None:
        af = a8.astype(np.float32)[..., None] / 255.0
        premul = _resize(img.astype(np.float32) * af, tw, th)
        plain = _resize(img, tw, th)
        unpremul = np.clip(np.round(premul / np.maximum(a_s, 1e-6)), 0, 255).astype(np.uint8)
        # Opaque pixels take the plain resize: no float round trip on the product's own pixels.
        colour = np.where(a_small[..., None] == 255, plain,
                          np.where(a_small[..., None] > 0, unpremul, 0))
        image = np.zeros((H, W, 3), np.uint8)
        image[cy0:cy1, cx0:cx1] = colour[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox]
    if hidden is not None:
        alpha[hidden] = 0.0
        if image is not None:
            image[hidden] = 0
    mask = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
    inter = int(np.logical_and(mask > 0, slot_in).sum())
    return Placed(pl, image, alpha, mask, fit_iou=mask_iou(mask, slot_in),
                  coverage=inter / slot_area)
