"""Donor slots from detections: one slot per detected piece of furniture, with its own category.

A staged photo holds several pieces of furniture; a donor is one of them that our product can
replace. Pretrained detectors (``adstage.vision.detectors``) give boxes and classes; the class
maps to a pipeline category (couch -> sofa, dining table -> table, ...); a salient-mask net run
on the box's crop (``adstage.vision.salient``) gives the piece's silhouette, kept inside the box.
Every detection becomes a row: the ones a product must not replace keep a flag saying why and
are never indexed:

* ``out_of_taxonomy``: the class is not one we stage (a person, a tv, a vase);
* ``occluded``: another detection stands in front of it (its box reaches lower in the photo,
  nearer the camera) and covers part of it; ``overlaps_other``: it covers part of another
  piece (replacing it would have to invent what stands behind). With ``behind`` (opt-in,
  measured in docs/donor-slots.md) a piece whose only flag is ``occluded``, hidden by at most
  ``max_hidden`` of its box, is a slot all the same: its mask is what shows, and ``front``
  holds the silhouettes of the pieces in front, which staging keeps on top of the new product
  (a chair behind a dining table); unless its foot stands under a front box but not under a
  front silhouette (where it stands is unknown: it stays ``occluded``). With ``replace_front``
  (opt-in, measured there too) a piece whose ``overlaps_other`` is lifted is a slot: it shows
  whole, and the gap around a narrower product opens onto the piece behind. A usable slot
  with a piece in front that hides part of its silhouette all the same (an ottoman before a
  sofa, under ``max_occluded``) keeps that piece as ``front`` too (``front_on_top``): its
  silhouette would otherwise take the ottoman along, and the fill would smear it away;
* ``cut_by_frame``: the box touches the left, right or top edge (the floor edge is how rooms are
  photographed); ``too_small`` / ``too_large``: share of the photo;
The silhouette (``refine``): GrabCut inside the box seeded by the mask net's map (``both``,
the default: best on IKEA pastes with exact masks, docs/donor-slots-masks.md), the map alone
(``salient``) or GrabCut on the box alone (``grabcut``, no mask net).

* ``poor_mask``: the silhouette does not span its box (the mask net found cushions without
  legs) or fills too little of it.

Pure numpy/OpenCV: detections and a mask function in, slots out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import cv2
import numpy as np

if TYPE_CHECKING:
    from adstage.vision.detectors import Detection

OUT_OF_TAXONOMY = "out_of_taxonomy"
OCCLUDED = "occluded"
OVERLAPS_OTHER = "overlaps_other"
CUT_BY_FRAME = "cut_by_frame"
TOO_SMALL = "too_small"
TOO_LARGE = "too_large"
POOR_MASK = "poor_mask"
FLAGS = (OUT_OF_TAXONOMY, OCCLUDED, OVERLAPS_OTHER, CUT_BY_FRAME, TOO_SMALL, TOO_LARGE,
         POOR_MASK)

# Detector class (lower case, COCO and Open Images names) -> the pipeline's slot category.
# COCO's "chair" includes armchairs; its "couch" is a sofa; "dining table" any table.
DETECTOR_CATEGORIES = {
    "chair": "chair", "couch": "sofa", "sofa": "sofa", "bed": "bed",
    "dining table": "table", "table": "table", "desk": "table", "coffee table": "table",
    "clock": "clock",
}
# Not staged although detected: a potted plant is the plant, not the catalog's empty pot.
# Pieces that hide or carry what stands behind them, whatever their class.
BLOCKERS = ("person",)

# A product's feed category -> the slot category it may replace (like for like).
PRODUCT_SLOT_CATEGORY = {
    "sofa": "sofa", "couch": "sofa", "armchair": "chair", "chair": "chair", "stool": "chair",
    "table": "table", "dining_table": "table", "desk": "table", "bed": "bed",
    "clock": "clock",
}

MaskFn = Callable[[np.ndarray], np.ndarray]   # BGR crop -> float32 P(object), crop-sized


def slot_category(detector_label: str) -> str | None:
    """The slot category of a detector class, or None when we do not stage that class."""
    return DETECTOR_CATEGORIES.get((detector_label or "").strip().lower())


def product_slot_category(category: str | None) -> str | None:
    """The slot category a product of feed ``category`` replaces (None: no like slot exists)."""
    return PRODUCT_SLOT_CATEGORY.get((category or "").strip().lower())


@dataclass(frozen=True)
class DonorParams:
    min_score: float = 0.35          # detections below are not rows at all
    merge_iou: float = 0.55          # two detectors' boxes of one category: one piece
    merge_any_iou: float = 0.7       # nearly the same box under two classes: one piece
    minor_share: float = 0.3         # a non-furniture box under this share of a piece's
                                     # area sits on or by it (a vase, a book): no flag
    crop_margin: float = 0.1         # context around the box for the mask net (share of side)
    mask_threshold: float = 0.5
    box_pad: float = 0.03            # the silhouette may leave its box by this share of a side
    min_area_frac: float = 0.01
    max_area_frac: float = 0.45
    max_occluded: float = 0.25       # share of a piece's box a piece in front may cover
    max_cover: float = 0.35          # share of another piece's box this one may hide
    frame_px: int = 2                # a box this close to the left/right/top edge is cut
    min_span: float = 0.75           # silhouette's tight box over the detection box, per side
    min_fill: float = 0.2            # silhouette area over box area
    refine: str = "both"             # salient | grabcut | both (docs/donor-slots-masks.md:
                                     # both 0.77 mean IoU on IKEA pastes, salient 0.68)
    behind: bool = False             # an occluded piece is a slot, pasted behind the front
    max_hidden: float = 0.6          # ... when the pieces in front cover at most this share
    min_visible: float = 0.25        # ... and its visible silhouette fills this share of it
    foot_band: float = 0.05          # rows under a piece (share of its height) where it stands
    foot_share: float = 0.5          # ... hidden when the front covers this share of them
    replace_front: bool = False      # a piece hiding part of one behind it is a slot all the
                                     # same (it shows whole; the gap may open onto the other)
    front_on_top: bool = True        # a slot's silhouette never takes a piece in front along
                                     # (an ottoman before a sofa): it stays on top, as behind
    min_front: float = 0.01          # ... when it hides this share of the silhouette
    open_under: tuple[str, ...] = ("table",)  # pieces on legs over open floor: the mask net
                                     # fills the floor under the top (docs/donor-slots-masks.md)
    open_top: float = 0.4            # ... its map is sure of this top share of the box only
    floor_lab: float = 20.0          # ... below it, pixels this near (CIELAB) a colour of the
                                     # floor beside or under the box are background; holes kept

    def spans(self, span: float, fill: float) -> bool:
        """Whether a silhouette covers its box as a piece does (:func:`span_fill`'s figures):
        the ``poor_mask`` rule, and the test a table's open silhouette must pass."""
        return span >= self.min_span and fill >= self.min_fill


@dataclass
class DonorSlot:
    mask: np.ndarray | None   # uint8 (H, W), 255 = the piece; None when no mask was made
    box: list[int]            # half-open [x0, y0, x1, y1], the silhouette's (else detection's)
    det_box: list[int]
    label: str                # detector's class
    category: str | None      # slot category, None when out of the taxonomy
    score: float              # detector score
    detector: str
    area_frac: float
    quality: float            # score x how well the silhouette spans its box
    flags: list[str]
    front: np.ndarray | None = None   # uint8 (H, W), 255 = pieces in front of it (kept)

    @property
    def usable(self) -> bool:
        return not self.flags


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def _covered(a, b) -> float:
    """Share of box ``a`` that box ``b`` covers."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1])
    return ix * iy / area if area > 0 else 0.0


def merge_detections(dets: Sequence["Detection"], params: DonorParams = DonorParams()
                     ) -> list[Detection]:
    """Detections of all detectors, above ``min_score``, one per piece: boxes of the same slot
    category (or the same label when out of the taxonomy) that overlap by ``merge_iou``, or of
    any classes by ``merge_any_iou`` (one detector calling a box both Chair and Table), are one
    piece, the higher score kept. Sorted by score, highest first (deterministic ties)."""
    keep: list[Detection] = []
    ordered = sorted((d for d in dets if d.score >= params.min_score),
                     key=lambda d: (-d.score, d.box, d.label))
    for d in ordered:
        key = slot_category(d.label) or d.label.lower()
        if any(_iou(d.box, k.box) >= params.merge_any_iou
               or ((slot_category(k.label) or k.label.lower()) == key
                   and _iou(d.box, k.box) >= params.merge_iou) for k in keep):
            continue
        keep.append(d)
    return keep


def _int_box(box, H: int, W: int) -> list[int]:
    x0, y0, x1, y1 = box
    x0, y0 = int(np.clip(np.floor(x0), 0, W - 1)), int(np.clip(np.floor(y0), 0, H - 1))
    x1, y1 = int(np.clip(np.ceil(x1), x0 + 1, W)), int(np.clip(np.ceil(y1), y0 + 1, H))
    return [x0, y0, x1, y1]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    flood = np.pad(mask, 1)
    ff = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(flood, ff, (0, 0), 128)
    return np.where(flood[1:-1, 1:-1] == 128, 0, 255).astype(np.uint8)


def silhouette(prob: np.ndarray, crop_box: list[int], det_box: list[int],
               frame_hw: tuple[int, int], params: DonorParams = DonorParams(),
               open_top: float | None = None) -> np.ndarray:
    """The piece's mask in photo pixels from the mask net's map of its crop: thresholded, kept
    inside the (slightly padded) detection box, the component(s) overlapping the box's central
    half only, holes filled (with ``open_top``, only in that top share of the box: under a
    table's top a hole is the floor between its legs)."""
    H, W = frame_hw
    cx0, cy0, cx1, cy1 = crop_box
    full = np.zeros((H, W), np.uint8)
    full[cy0:cy1, cx0:cx1] = (prob >= params.mask_threshold).astype(np.uint8) * 255
    x0, y0, x1, y1 = det_box
    px, py = int(round(params.box_pad * (x1 - x0))), int(round(params.box_pad * (y1 - y0)))
    inside = np.zeros_like(full)
    inside[max(0, y0 - py):min(H, y1 + py), max(0, x0 - px):min(W, x1 + px)] = 255
    full &= inside
    n, lab = cv2.connectedComponents(full, connectivity=8)
    if n <= 1:
        return full
    qx, qy = (x1 - x0) // 4, (y1 - y0) // 4
    centre = lab[y0 + qy:y1 - qy, x0 + qx:x1 - qx]
    ids = np.unique(centre[centre > 0])
    if len(ids) == 0:  # nothing at the centre: the largest component
        areas = np.bincount(lab.ravel())[1:]
        ids = np.array([int(np.argmax(areas)) + 1])
    kept = np.isin(lab, ids).astype(np.uint8) * 255
    filled = _fill_holes(kept)
    if open_top is not None:
        below = y0 + int(round(open_top * (y1 - y0)))
        filled[below:] = kept[below:]
    return filled


MASK_METHODS = ("salient", "grabcut", "both")


def _floor_like(lab: np.ndarray, box: list[int], from_row: int, max_dist: float,
                k: int = 8) -> np.ndarray:
    """Pixels of a crop (CIELAB, float32) within ``max_dist`` of one of ``k`` colours of what
    lies beside the box from ``from_row`` down and under it: the floor or wall a table's
    legs stand before."""
    x0, _, x1, y1 = box
    ring = np.zeros(lab.shape[:2], bool)
    ring[from_row:, :x0] = True
    ring[from_row:, x1:] = True
    ring[y1:, :] = True
    samples = lab[ring]
    if len(samples) < 4 * k:  # a box at the frame's edge: nothing beside it to learn from
        return np.zeros(lab.shape[:2], bool)
    criteria = (cv2.TERM_CRITERIA_MAX_ITER | cv2.TERM_CRITERIA_EPS, 10, 1.0)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(samples, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    near = np.full(lab.shape[:2], np.inf, np.float32)
    for c in centres:
        near = np.minimum(near, np.linalg.norm(lab - c, axis=-1))
    return near < max_dist


def grabcut_silhouette(bgr: np.ndarray, det_box: list[int], prob_crop: np.ndarray | None,
                       crop_box: list[int], iters: int = 3, side: int = 320,
                       open_top: float | None = None, floor_lab: float = 20.0) -> np.ndarray:
    """Box-seeded refinement: GrabCut inside the detection box (everything outside it is
    background), its colour models seeded by the mask net's map when given (p >= 0.8 sure
    piece, p < 0.1 probable background), else by the box alone. With ``open_top`` (a piece on
    legs) the map is sure of that top share of the box only, and below it pixels of the
    floor's colours (``_floor_like``) are probable background. Photo-sized uint8 mask."""
    H, W = bgr.shape[:2]
    cx0, cy0, cx1, cy1 = crop_box
    f = min(1.0, side / max(cx1 - cx0, cy1 - cy0))
    size = (max(1, int((cx1 - cx0) * f)), max(1, int((cy1 - cy0) * f)))
    crop = cv2.resize(np.ascontiguousarray(bgr[cy0:cy1, cx0:cx1]), size,
                      interpolation=cv2.INTER_AREA)
    seed = np.full((size[1], size[0]), cv2.GC_BGD, np.uint8)
    x0, y0, x1, y1 = det_box
    bx0, by0 = int((x0 - cx0) * f), int((y0 - cy0) * f)
    bx1, by1 = max(bx0 + 1, int((x1 - cx0) * f)), max(by0 + 1, int((y1 - cy0) * f))
    seed[by0:by1, bx0:bx1] = cv2.GC_PR_FGD
    if prob_crop is not None:
        p = cv2.resize(prob_crop.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        inside = seed == cv2.GC_PR_FGD
        seed[inside & (p < 0.1)] = cv2.GC_PR_BGD
        sure = inside & (p >= 0.8)
        if open_top is not None:
            below = by0 + int(open_top * (by1 - by0))
            sure[below:] = False
            lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
            floor = _floor_like(lab, [bx0, by0, bx1, by1], below, floor_lab)
            floor[:below] = False
            seed[inside & floor] = cv2.GC_PR_BGD
        seed[sure] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means: the same mask on every re-run and worker
    try:
        cv2.grabCut(crop, seed, None, bgd, fgd, iters, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # a box too small or of one colour: nothing to separate
        return np.zeros((H, W), np.uint8)
    fg = np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8) * 255
    full = np.zeros((H, W), np.uint8)
    full[cy0:cy1, cx0:cx1] = cv2.resize(fg, (cx1 - cx0, cy1 - cy0),
                                        interpolation=cv2.INTER_NEAREST)
    return full


def crop_box_of(det_box: list[int], frame_hw: tuple[int, int], margin: float) -> list[int]:
    H, W = frame_hw
    x0, y0, x1, y1 = det_box
    mx, my = int(round(margin * (x1 - x0))), int(round(margin * (y1 - y0)))
    return [max(0, x0 - mx), max(0, y0 - my), min(W, x1 + mx), min(H, y1 + my)]


def _minor(o: "Detection", d: "Detection", params: DonorParams) -> bool:
    """A vase on the table, a book on the bed: replaced with the piece, never a blocker."""
    area_d = (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])
    area_o = (o.box[2] - o.box[0]) * (o.box[3] - o.box[1])
    return (slot_category(o.label) is None and o.label.lower() not in BLOCKERS
            and area_o < params.minor_share * area_d)


def in_front_of(d: "Detection", others: Sequence["Detection"], params: DonorParams
                ) -> list["Detection"]:
    """The pieces that stand in front of ``d`` (their box reaches lower in the photo, nearer
    the camera) and overlap its box."""
    return [o for o in others if o is not d and not _minor(o, d, params)
            and o.box[3] > d.box[3] and _covered(d.box, o.box) > 0]


def _geometry_flags(d: "Detection", box: list[int], others: Sequence["Detection"],
                    frame_hw: tuple[int, int], params: DonorParams) -> list[str]:
    H, W = frame_hw
    flags = []
    if slot_category(d.label) is None:
        flags.append(OUT_OF_TAXONOMY)
    for o in others:
        if o is d or _minor(o, d, params):
            continue
        in_front = o.box[3] > d.box[3]   # reaches lower in the photo: nearer the camera
        if in_front and _covered(d.box, o.box) > params.max_occluded:
            flags.append(OCCLUDED)
        elif not in_front and _covered(o.box, d.box) > params.max_cover:
            flags.append(OVERLAPS_OTHER)
    x0, y0, x1, y1 = box
    if x0 <= params.frame_px or y0 <= params.frame_px or x1 >= W - params.frame_px:
        flags.append(CUT_BY_FRAME)
    area = (x1 - x0) * (y1 - y0) / float(H * W)
    if area < params.min_area_frac:
        flags.append(TOO_SMALL)
    if area > params.max_area_frac:
        flags.append(TOO_LARGE)
    return list(dict.fromkeys(flags))


def piece_mask(bgr: np.ndarray, det_box: list[int], crop: list[int], mask_fn: MaskFn | None,
               params: DonorParams = DonorParams(), category: str | None = None) -> np.ndarray:
    """One piece's silhouette by ``params.refine``: the mask net's map of the crop
    (``salient``), GrabCut in the box (``grabcut``), or GrabCut seeded by the map (``both``);
    then kept inside the box, central component(s), holes filled (:func:`silhouette`). A
    piece of a category in ``params.open_under`` (a table) gets the floor under its top
    taken out with GrabCut (``both``), and keeps the holes there; where that silhouette no
    longer spans its box (legs or a lower drawer the colour of the floor or wall taken out
    with it), the piece gets the ordinary silhouette instead."""
    if params.refine not in MASK_METHODS:
        raise ValueError(f"refine must be one of {MASK_METHODS}, got {params.refine!r}")
    H, W = bgr.shape[:2]
    prob = None
    if params.refine != "grabcut" and mask_fn is not None:
        prob = mask_fn(np.ascontiguousarray(bgr[crop[1]:crop[3], crop[0]:crop[2]]))
    if params.refine == "salient":
        return silhouette(prob, crop, det_box, (H, W), params)
    tries = [params.open_top, None] if category in params.open_under and prob is not None \
        else [None]
    for open_top in tries:
        cut = grabcut_silhouette(bgr, det_box, prob, crop, open_top=open_top,
                                 floor_lab=params.floor_lab)
        as_prob = (cut[crop[1]:crop[3], crop[0]:crop[2]] > 0).astype(np.float32)
        mask = silhouette(as_prob, crop, det_box, (H, W), params, open_top)
        if params.spans(*span_fill(mask, det_box)):
            break
    return mask


def span_fill(mask: np.ndarray, det_box: list[int]) -> tuple[float, float]:
    """How a silhouette covers its detection box: the smaller of its extent's width and
    height over the box's, and its area over the box's (0, 0 when empty)."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return 0.0, 0.0
    bw, bh = det_box[2] - det_box[0], det_box[3] - det_box[1]
    span = min((xs.max() + 1 - xs.min()) / bw, (ys.max() + 1 - ys.min()) / bh)
    return float(span), len(xs) / float(bw * bh)


def donor_slots(bgr: np.ndarray, detections: Sequence["Detection"], mask_fn: MaskFn | None,
                params: DonorParams = DonorParams()) -> list[DonorSlot]:
    """Every merged detection of one staged photo as a slot (usable or flagged).

    ``mask_fn`` is asked only for pieces that could still be donors (no geometry flag), so a
    photo full of out-of-taxonomy detections costs the detector only."""
    H, W = bgr.shape[:2]
    dets = merge_detections(detections, params)
    silhouettes: dict[int, np.ndarray] = {}

    def silhouette_of(d: "Detection") -> np.ndarray:
        # One mask-net call per piece: a table in front of four chairs is their front four
        # times and a slot once.
        if id(d) not in silhouettes:
            b = _int_box(d.box, H, W)
            silhouettes[id(d)] = piece_mask(bgr, b, crop_box_of(b, (H, W), params.crop_margin),
                                            mask_fn, params, slot_category(d.label))
        return silhouettes[id(d)]

    out: list[DonorSlot] = []
    for d in dets:
        det_box = _int_box(d.box, H, W)
        flags = _geometry_flags(d, det_box, dets, (H, W), params)
        mask, box, quality, front, minor = None, det_box, 0.0, None, False
        if params.replace_front:
            flags = [f for f in flags if f != OVERLAPS_OTHER]
        if flags == [OCCLUDED] and params.behind:
            front = _front_mask(d, det_box, dets, silhouette_of, (H, W), mask_fn, params)
            if front is not None:
                flags = []
        elif not flags and params.front_on_top and in_front_of(d, dets, params):
            front = _front_mask(d, det_box, dets, silhouette_of, (H, W), mask_fn, params)
            minor = True
        if not flags and (mask_fn is not None or params.refine == "grabcut"):
            mask = silhouette_of(d)
            if minor and front is not None and not _hides(front, mask, params.min_front):
                front = None  # the piece in front stands beside this one's silhouette
            # What a piece in front hides counts as the piece for the span (it stands there),
            # never as its visible silhouette.
            whole = mask if front is None else mask | _in_box(front, det_box)
            if front is not None:
                mask = np.where(front > 0, 0, mask).astype(np.uint8)
            span, fill = span_fill(whole, det_box)
            bw, bh = det_box[2] - det_box[0], det_box[3] - det_box[1]
            visible = int((mask > 0).sum()) / float(bw * bh)
            if fill > 0 and visible > 0:
                vy, vx = np.nonzero(mask)
                box = [int(vx.min()), int(vy.min()), int(vx.max()) + 1, int(vy.max()) + 1]
                quality = float(d.score * min(1.0, span))
                if (not params.spans(span, fill)
                        or (front is not None and not minor and visible < params.min_visible)):
                    flags.append(POOR_MASK)
                elif front is not None and _foot_unresolved(mask, box, front, d, dets, params):
                    flags.append(OCCLUDED)
            else:
                flags.append(POOR_MASK)
        elif not flags:
            flags.append(POOR_MASK)  # no mask net: a box is not a silhouette
        if flags:
            front = None
        if mask is not None and not mask.any():
            mask = None  # nothing of it shows: no silhouette to store or describe
        x0, y0, x1, y1 = box
        area = (float((mask > 0).mean()) if mask is not None
                else (x1 - x0) * (y1 - y0) / float(H * W))
        out.append(DonorSlot(mask, box, det_box, d.label, slot_category(d.label),
                             round(float(d.score), 4), d.detector, round(area, 6),
                             round(quality, 4), flags, front))
    return out


def _hides(front: np.ndarray, mask: np.ndarray, share: float) -> bool:
    """Whether the pieces in front cover more than ``share`` of a silhouette."""
    area = int((mask > 0).sum())
    return area > 0 and int(((front > 0) & (mask > 0)).sum()) > share * area


def _in_box(mask: np.ndarray, box: list[int]) -> np.ndarray:
    out = np.zeros_like(mask)
    x0, y0, x1, y1 = box
    out[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
    return out


def foot_band(box, height: int, band: float) -> tuple[int, int]:
    """Rows ``[y0, y1)`` just under a piece's box (``band`` of its height, at least 2): where
    it stands. Empty at the photo's bottom edge. Staging's placement reads the same band."""
    y = int(box[3])
    return y, min(height, y + max(2, int(round(band * (box[3] - box[1])))))


def _foot_unresolved(mask: np.ndarray, box: list[int], front: np.ndarray, d: "Detection",
                     dets: Sequence["Detection"], params: DonorParams) -> bool:
    """Under the piece's lowest visible pixels the boxes in front stand, but not their
    silhouettes: a chair's back above a table whose top the mask net missed. Where the piece
    stands is then unknown (staging would stand the product on the back's lower edge)."""
    H, W = mask.shape
    x0, _, x1, _ = box
    r0, r1 = foot_band(box, H, params.foot_band)
    if r1 <= r0:
        return False
    boxes = np.zeros((r1 - r0, x1 - x0), bool)
    for o in in_front_of(d, dets, params):
        bx0, by0, bx1, by1 = _int_box(o.box, H, W)
        boxes[max(0, by0 - r0):max(0, by1 - r0), max(0, bx0 - x0):max(0, bx1 - x0)] = True
    shown = front[r0:r1, x0:x1] > 0
    return bool(boxes.mean() >= params.foot_share and shown.mean() < params.foot_share)


def _front_mask(d: "Detection", det_box: list[int], dets: Sequence["Detection"],
                silhouette_of: Callable[["Detection"], np.ndarray], frame_hw: tuple[int, int],
                mask_fn: MaskFn | None, params: DonorParams) -> np.ndarray | None:
    """The silhouettes of the pieces in front of ``d`` (each made as a slot's is), or None
    when they hide more than ``max_hidden`` of its box or no mask can be made."""
    if mask_fn is None and params.refine != "grabcut":
        return None
    front = np.zeros(frame_hw, np.uint8)
    for o in in_front_of(d, dets, params):
        front |= silhouette_of(o)
    x0, y0, x1, y1 = det_box
    hidden = float((front[y0:y1, x0:x1] > 0).mean()) if x1 > x0 and y1 > y0 else 1.0
    return front if hidden <= params.max_hidden else None
