"""Compositing and the whole copy-paste stage behind one call (``stage_copy_paste``).

The guarantees, which the tests check with an inpainter that returns noise:

* outside ``gap ∪ product support ∪ shadow`` the result is the donor room, bit for bit;
* where the product is opaque (``alpha == 1``) the result is the product as pasted, bit for bit
  (it is copied, not blended: ``a * F + (1 - a) * B`` in float is not exact);
* only gap pixels come from the inpainter; only ``0 < alpha < 1`` pixels are blends.

``inpaint_fn(crops, holes) -> filled`` is injected: ``crops`` BGR uint8 ``N x S x S x 3`` with
the hole pixels set to white (EdgeConnect's convention; the hole's old content is the donor's
product and must not leak; by default the new product's pixels are holes too, so the fill
comes from the room alone), ``holes`` uint8 ``N x S x S`` (255 = hole); it returns uint8
``N x S x S x 3``.  The nightly job passes ``opencv_inpainter`` (Telea) or
``rgb_inpainter(EdgeConnectInpainter(...))`` (``gap_fill``).

``stage_copy_paste`` is ``prepare_copy_paste`` (placement, gap, crops), the inpainter on the
crops, then ``finish_copy_paste`` (paste back, shadow, composite, scores).  The nightly job calls
the two halves itself so that the crops of many products share onnxruntime calls
(``copy_paste.CopyPasteWorker``); the result is the same as one ``stage_copy_paste`` call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from adstage.staging import gap as gap_mod
from adstage.staging import quality
from adstage.staging.harmonize import HarmonizeParams, harmonize_product
from adstage.staging.placement import Box, Placed, Placement, as_alpha, place_product
from adstage.staging.shadow import ShadowParams, apply_shadow, contact_shadow

InpaintFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def compose(foreground: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``alpha * foreground + (1 - alpha) * background``, exact at ``alpha`` 0 and 1.

    Straight (unpremultiplied) BGR uint8 colours and float32 alpha in [0, 1], all ``H x W``.
    ``placement`` resamples premultiplied colour and un-premultiplies, so ``foreground`` holds
    straight colour here and this is the correct over-operator for it.
    """
    a = as_alpha(alpha)[..., None]
    mixed = np.clip(np.round(foreground.astype(np.float32) * a + background.astype(np.float32) * (1.0 - a)),
                    0, 255).astype(np.uint8)
    return np.where(a >= 1.0, foreground, np.where(a <= 0.0, background, mixed))


def rgb_inpainter(fn: Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], Sequence[np.ndarray]]) -> InpaintFn:
    """Adapt an RGB inpainter returning a list (``EdgeConnectInpainter``) to ``InpaintFn`` (BGR)."""

    def run(crops: np.ndarray, holes: np.ndarray) -> np.ndarray:
        out = fn([np.ascontiguousarray(c[..., ::-1]) for c in crops], list(holes))
        return np.stack([np.ascontiguousarray(np.asarray(o)[..., ::-1]) for o in out])

    return run


def opencv_inpainter(radius: int = 5, method: int = cv2.INPAINT_TELEA) -> InpaintFn:
    """A model-free ``InpaintFn`` (``cv2.inpaint``): the tests' reference, and a fallback."""

    def run(crops: np.ndarray, holes: np.ndarray) -> np.ndarray:
        return np.stack([cv2.inpaint(c, h, radius, method) for c, h in zip(crops, holes)])

    return run


# A crop this much hole has too little room left to fill from (gap_crops).
MAX_CROP_HOLE_SHARE = 0.9


def gap_crops(image: np.ndarray, gap: np.ndarray, crop_size: int = 256, max_frame_px: int = 0,
              hole: np.ndarray | None = None) -> tuple[list[Box], np.ndarray, np.ndarray]:
    """The inpainter's input for ``gap`` (uint8, 255 = hole) of ``image``: the crop boxes, the
    crops with the hole pixels white, and their holes (``InpaintFn``'s two arguments).

    :param max_frame_px: when the crops hold more pixels than the whole frame (padded to the
        networks' multiple of 4) and the frame has at most this many, one "crop" of the whole
        frame instead (box ``(0, 0, W, H)``): a gap spread over the photo costs the inpainter
        less in one piece than in overlapping tiles.  0 = always fixed-size crops.
    :param hole: what the inpainter is told to fill (default: the gap); a superset of the gap
        hides more of ``image`` from it (the new product, so its colours do not bleed into the
        fill). The crops are placed around the gap either way, and only the gap is pasted back.
        A crop that would be almost all hole (a bed's gap at the photo's edge: nothing of the
        room left to fill from) makes it the whole frame too, when ``max_frame_px`` allows.
    """
    boxes = gap_mod.crop_boxes(gap, crop_size)
    hole = gap if hole is None else np.where((gap > 0) | (hole > 0), 255, 0).astype(np.uint8)
    if not boxes:
        crops, holes = gap_mod.extract_crops(image, hole, boxes)
        return boxes, crops, holes
    H, W = gap.shape
    frame = (H + (-H) % 4) * (W + (-W) % 4)
    fits = bool(max_frame_px) and frame <= max_frame_px
    blank = image.copy()
    blank[hole > 0] = 255

    def whole():
        return [(0, 0, W, H)], blank[None], np.where(hole > 0, 255, 0).astype(np.uint8)[None]

    if fits and len(boxes) * crop_size ** 2 > frame:
        return whole()
    crops, holes = gap_mod.extract_crops(blank, hole, boxes)
    if fits and (holes > 0).mean(axis=(1, 2)).max() > MAX_CROP_HOLE_SHARE:
        return whole()
    return boxes, crops, holes


def paste_filled(image: np.ndarray, gap: np.ndarray, boxes: list[Box], crops: np.ndarray,
                 filled) -> np.ndarray:
    """``image`` with the inpainter's output ``filled`` for ``crops`` written into the gap;
    pixels outside the gap are unchanged whatever the inpainter returned."""
    if not boxes:
        return image.copy()
    filled = np.asarray(filled)
    if filled.shape != crops.shape or filled.dtype != np.uint8:
        raise ValueError(f"inpaint_fn returned {filled.dtype} {filled.shape}, expected uint8 {crops.shape}")
    return gap_mod.paste_crops(image, gap, boxes, filled)


def inpaint_gap(image: np.ndarray, gap: np.ndarray, inpaint_fn: InpaintFn, crop_size: int = 256
                ) -> tuple[np.ndarray, list[Box]]:
    """Fill ``gap`` (uint8, 255 = hole) of ``image`` with ``inpaint_fn`` on fixed-size crops.

    Pixels outside the gap are returned unchanged whatever the inpainter returns.
    :returns: the filled image and the crop boxes used.
    """
    boxes, crops, holes = gap_crops(image, gap, crop_size)
    filled = inpaint_fn(crops, holes) if boxes else crops
    return paste_filled(image, gap, boxes, crops, filled), boxes


@dataclass
class StagedResult:
    """One staged image and what the job stores about it.

    ``image``: BGR uint8 room-sized result; ``product_image``/``product_alpha``: the product as
    pasted (room coordinates; harmonised if asked); ``product_mask``: uint8, 255 where
    ``alpha >= 0.5``; ``gap_mask``: uint8, 255 = inpainted; ``shadow``: float32 darkening in
    [0, 1]; ``placement``: where the product went (``placement.box``); ``crop_boxes``: the
    inpainter's crops; ``scores``: see ``quality`` (plus ``scale``, ``coverage``, ``n_crops``).
    """

    image: np.ndarray
    product_image: np.ndarray
    product_alpha: np.ndarray
    product_mask: np.ndarray
    gap_mask: np.ndarray
    shadow: np.ndarray
    placement: Placement
    crop_boxes: list[Box]
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def box(self) -> Box:
        return self.placement.box


@dataclass
class PendingCopyPaste:
    """``stage_copy_paste`` up to the inpainter: the crops to fill (``crops``/``holes``, an
    ``InpaintFn``'s input, in the order of ``boxes``) and what ``finish_copy_paste`` needs."""

    room: np.ndarray
    slot_mask: np.ndarray
    placed: Placed
    product: np.ndarray          # the product's colours as pasted (harmonised if asked)
    gap: np.ndarray
    context: np.ndarray          # the room with the product in: what the crops were cut from
    boxes: list[Box]
    crops: np.ndarray
    holes: np.ndarray
    shadow: ShadowParams | None
    harmonize: bool
    front: np.ndarray | None = None   # pieces in front of the slot: never filled or shaded


def stage_copy_paste(room: np.ndarray, slot_mask: np.ndarray, product_img: np.ndarray,
                     product_alpha: np.ndarray, inpaint_fn: InpaintFn, *, dilate_px: int = 4,
                     crop_size: int = 256, shadow: ShadowParams | None = ShadowParams(),
                     harmonize: HarmonizeParams | None = None, fit: str = "cover",
                     product_box: Box | None = None, backdrop_bgr=None,
                     placed: Placed | None = None, max_frame_px: int = 0,
                     front: np.ndarray | None = None) -> StagedResult:
    """Copy-paste staging of one product into one donor slot.

    Parameters as ``prepare_copy_paste``, plus ``inpaint_fn`` (see the module docstring).
    """
    pending = prepare_copy_paste(room, slot_mask, product_img, product_alpha,
                                 dilate_px=dilate_px, crop_size=crop_size, shadow=shadow,
                                 harmonize=harmonize, fit=fit, product_box=product_box,
                                 backdrop_bgr=backdrop_bgr, placed=placed,
                                 max_frame_px=max_frame_px, front=front)
    filled = inpaint_fn(pending.crops, pending.holes) if pending.boxes else pending.crops
    return finish_copy_paste(pending, filled)


def prepare_copy_paste(room: np.ndarray, slot_mask: np.ndarray, product_img: np.ndarray,
                       product_alpha: np.ndarray, *, dilate_px: int = 4, crop_size: int = 256,
                       shadow: ShadowParams | None = ShadowParams(),
                       harmonize: HarmonizeParams | None = None, fit: str = "cover",
                       product_box: Box | None = None, backdrop_bgr=None,
                       placed: Placed | None = None, max_frame_px: int = 0,
                       front: np.ndarray | None = None, fill_sees_product: bool = False
                       ) -> PendingCopyPaste:
    """Copy-paste staging of one product into one donor slot, up to the inpainter.

    :param room: BGR uint8 ``H x W x 3``, the donor's staged photo (any size, odd sizes too).
    :param slot_mask: uint8 ``H x W``, 255 = the donor product to replace.
    :param product_img: BGR uint8 cutout photo; ``product_alpha``: its soft alpha (uint8 0..255
        or float [0, 1]); ``product_box``: its tight box (computed when None).
    :param dilate_px: slot dilation for the gap (``gap.gap_mask``).
    :param crop_size: side of the inpainter's square crops.
    :param shadow: contact shadow parameters, None = off (default on: without it the product
        floats).
    :param harmonize: luminance harmonisation parameters, None = off (default off: an ad shows
        the product's true colours unless the creative team asks otherwise).
    :param fit: placement policy (``placement.place_product``).
    :param backdrop_bgr: the cutout's backdrop colour, to decontaminate its soft rim.
    :param placed: a placement already computed with ``place_product`` for these inputs (the
        job checks a donor's fit before paying for inpainting).
    :param max_frame_px: the whole frame as one crop when that is cheaper (``gap_crops``).
    :param front: uint8 ``H x W``, 255 = pieces standing in front of the slot: the product
        goes behind them (``place_product``), and they are neither filled nor shaded.
    :param fill_sees_product: the inpainter sees the new product beside the gap (its edges
        continue into it, EdgeConnect's premise). False (default, ``staging_fill_context=room``)
        hides the product from it too: the gap is filled from the room alone, and a dark
        product does not bleed into a light floor.
    """
    H, W = room.shape[:2]
    if room.dtype != np.uint8 or room.ndim != 3 or room.shape[2] != 3:
        raise ValueError(f"room must be BGR uint8 HxWx3, got {room.dtype} {room.shape}")
    if placed is None:
        placed = place_product((H, W), slot_mask, product_img, product_alpha,
                               product_box=product_box, fit=fit, backdrop_bgr=backdrop_bgr,
                               front=front)
    alpha = placed.alpha
    product = placed.image
    if harmonize is not None:
        product = harmonize_product(product, alpha, room, slot_mask, harmonize)
    gap = gap_mod.gap_mask(slot_mask, alpha, dilate_px)
    if front is not None:
        gap[front > 0] = 0
    # The inpainter's context: the room with the new product already in; gap_crops blanks the
    # gap, and the product too unless the fill may see it (its edges continue into the gap).
    context = compose(product, alpha, room)
    boxes, crops, holes = gap_crops(context, gap, crop_size, max_frame_px,
                                    None if fill_sees_product else (alpha > 0).astype(np.uint8))
    return PendingCopyPaste(room, slot_mask, placed, product, gap, context, boxes, crops, holes,
                            shadow, harmonize is not None, front)


def finish_copy_paste(p: PendingCopyPaste, filled) -> StagedResult:
    """The staged image from ``prepare_copy_paste``'s result and the inpainter's output for its
    crops (``filled``: uint8, shaped as ``p.crops``; ignored when there are no crops)."""
    room, slot_mask, placed, product, gap = p.room, p.slot_mask, p.placed, p.product, p.gap
    H, W = room.shape[:2]
    alpha, shadow, boxes = placed.alpha, p.shadow, p.boxes
    filled = paste_filled(p.context, gap, boxes, p.crops, filled)
    # Background = donor room outside the gap, inpainted inside it.
    background = np.where((gap > 0)[..., None], filled, room)
    sh = contact_shadow(alpha, shadow) if shadow is not None else np.zeros((H, W), np.float32)
    if shadow is not None:
        if p.front is not None:
            sh = np.where(p.front > 0, 0.0, sh).astype(np.float32)
        background = apply_shadow(background, sh)
    image = compose(product, alpha, background)

    pmax, pmean = quality.preservation(product, alpha, image)
    harm = 0.0
    if p.harmonize:
        sel = alpha > 0
        if sel.any():
            harm = float(np.abs(product[sel].astype(np.int16) - placed.image[sel].astype(np.int16)).mean())
    scores = {
        "fit_iou": round(placed.fit_iou, 6),
        "coverage": round(placed.coverage, 6),
        "gap_share": round(gap_mod.gap_share(gap, slot_mask), 6),
        "gap_px": float((gap > 0).sum()),
        "preservation_max": pmax,
        "preservation_mean": pmean,
        "repaint_share": quality.repaint_share(product, alpha, image),
        # Copy-paste's product region is the pasted mask: 0 by construction (quality docstring).
        "object_expansion": quality.object_expansion(placed.mask, placed.mask),
        "harmonize_delta": round(harm, 4),
        "scale": round(placed.placement.scale, 6),
        "n_crops": float(len(boxes)),
    }
    return StagedResult(image=image, product_image=product, product_alpha=alpha, product_mask=placed.mask,
                        gap_mask=gap, shadow=sh, placement=placed.placement, crop_boxes=boxes, scores=scores)


def hard_paste(room: np.ndarray, slot_mask: np.ndarray, product_img: np.ndarray,
               product_alpha: np.ndarray, *, fit: str = "cover", product_box: Box | None = None,
               front: np.ndarray | None = None) -> StagedResult:
    """The floor every seam measure must beat: the cutout pasted with a hard mask.

    Every pixel the cutout's alpha touches (``alpha > 0``) is copied as photographed — the
    backdrop's white fringe included — with no blending, no shadow, and no inpainting: what the
    donor product leaves uncovered stays visible.  Same placement as ``stage_copy_paste``.
    """
    H, W = room.shape[:2]
    placed = place_product((H, W), slot_mask, product_img, product_alpha, product_box=product_box,
                           fit=fit, front=front)
    hard = (placed.alpha > 0).astype(np.float32)
    image = compose(placed.image, hard, room)
    pmax, pmean = quality.preservation(placed.image, hard, image)
    empty = np.zeros((H, W), np.uint8)
    scores = {"fit_iou": round(placed.fit_iou, 6), "coverage": round(placed.coverage, 6),
              "gap_share": 0.0, "gap_px": 0.0, "preservation_max": pmax,
              "preservation_mean": pmean, "repaint_share": 0.0, "object_expansion": 0.0,
              "harmonize_delta": 0.0, "scale": round(placed.placement.scale, 6), "n_crops": 0.0}
    return StagedResult(image=image, product_image=placed.image, product_alpha=hard,
                        product_mask=placed.mask, gap_mask=empty, shadow=empty.astype(np.float32),
                        placement=placed.placement, crop_boxes=[], scores=scores)
