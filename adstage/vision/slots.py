"""Donor slots: regions of replaceable products in a staged photo, and their quality.

Any ONNX segmentation model fits (``Segmenter``): one input, NCHW float RGB in [-1, 1] of the
size the graph declares (dynamic sizes fall back to ``SEGMENTER_HW``), one output
(N, 1, h, w) or (N, h, w) with P(product) per pixel. ``find_slots`` turns that map into slots:
the map is resized to the photo, thresholded, split into groups of nearby parts (a lamp's shade
and base are one slot), holes filled, and each group scored. A slot's quality is the model's
mean certainty on its interior (mean |2p - 1|, the uncertain outline band excluded) times a
penalty when it is cut by the frame: a donor whose
silhouette is cut off cannot be matched by shape. Slots below ``min_quality`` or outside the area
limits are kept in the table for inspection but are never donors (``usable`` = false).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from adstage.vision.backdrop_cutout import tight_box
from adstage.vision.preprocess import SEGMENTER_HW, segmenter_input

LOW_QUALITY = "low_quality"
TOO_SMALL = "too_small"
TOO_LARGE = "too_large"
CUT_BY_FRAME = "cut_by_frame"
REFINE_SIDE = 320


@dataclass(frozen=True)
class SlotParams:
    threshold: float = 0.5
    min_area_frac: float = 0.005     # smaller components: not a product we could stage
    group_frac: float = 0.06         # parts closer than this share of the photo's height are
                                     # one product (a lamp's shade, stem and base)
    max_area_frac: float = 0.6
    min_quality: float = 0.6
    max_slots: int = 5
    frame_touch_frac: float = 0.25   # share of the box's left/right/top side on the frame
    refine: bool = True              # GrabCut at photo resolution, seeded by the map


def refine_mask(bgr: np.ndarray, p: np.ndarray, comp: np.ndarray, iters: int = 2) -> np.ndarray:
    """Sharpen one slot at photo resolution: GrabCut seeded by the (upsampled) probabilities.

    The map is 4x coarser than the photo, so chair legs and lamp stems come out blurred or
    missing; colour models of the slot and its surroundings recover them. The seed keeps the
    model's answer where it is sure (p > 0.9 product, p < 0.1 background).
    """
    H, W = comp.shape
    x0, y0, x1, y1 = tight_box(comp)
    mx, my = max(8, (x1 - x0) // 5), max(8, (y1 - y0) // 5)
    X0, Y0, X1, Y1 = max(0, x0 - mx), max(0, y0 - my), min(W, x1 + mx), min(H, y1 + my)
    # GrabCut's cost grows with the pixels; work at <= REFINE_SIDE and scale the answer back.
    f = min(1.0, REFINE_SIDE / max(X1 - X0, Y1 - Y0))
    size = (max(1, int((X1 - X0) * f)), max(1, int((Y1 - Y0) * f)))
    pp = cv2.resize(p[Y0:Y1, X0:X1], size, interpolation=cv2.INTER_LINEAR)
    cc = cv2.resize(comp[Y0:Y1, X0:X1], size, interpolation=cv2.INTER_NEAREST)
    crop = cv2.resize(bgr[Y0:Y1, X0:X1], size, interpolation=cv2.INTER_AREA)
    seed = np.full(pp.shape, cv2.GC_PR_BGD, np.uint8)
    seed[pp >= 0.5] = cv2.GC_PR_FGD
    seed[(pp >= 0.9) & (cc > 0)] = cv2.GC_FGD
    seed[pp < 0.1] = cv2.GC_BGD
    if not (seed == cv2.GC_FGD).any() or not (seed == cv2.GC_BGD).any():
        return comp
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models with k-means on OpenCV's per-thread RNG: unseeded, a
    # slot's mask depends on which photos the worker refined before it, so a re-run of a date
    # (other partitioning, other order) gave other masks.
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(crop), seed, None, bgd, fgd, iters, cv2.GC_INIT_WITH_MASK)
    out = np.zeros_like(comp)
    fg = np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    # Keep the part connected to the model's sure core; GrabCut may wander onto similar decor.
    n, lab = cv2.connectedComponents(fg, connectivity=8)
    core = lab[(seed == cv2.GC_FGD)]
    keep = np.unique(core[core > 0])
    region = np.isin(lab, keep).astype(np.uint8) * 255
    out[Y0:Y1, X0:X1] = cv2.resize(region, (X1 - X0, Y1 - Y0), interpolation=cv2.INTER_LINEAR) \
        if f < 1.0 else region
    out = np.where(out > 127, 255, 0).astype(np.uint8)
    return out if out.any() else comp


@dataclass
class Slot:
    mask: np.ndarray       # uint8 (H, W), 255 = slot
    box: list[int]         # half-open [x0, y0, x1, y1]
    area_frac: float
    quality: float
    usable: bool
    flags: list[str]


def _holes_filled(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    flood = mask.copy()
    ff = np.zeros((h + 2, w + 2), np.uint8)
    # Flood the background from every border pixel that is background.
    border = np.zeros_like(mask, bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    for y, x in zip(*np.nonzero(border & (mask == 0))):
        if flood[y, x] == 0:
            cv2.floodFill(flood, ff, (int(x), int(y)), 128)
    return np.where(flood == 128, 0, 255).astype(np.uint8)


def find_slots(prob: np.ndarray, shape: tuple[int, int], params: SlotParams = SlotParams(),
               bgr: np.ndarray | None = None) -> list[Slot]:
    """Slots of one probability map (h, w in 0..1) for a photo of `shape` (H, W); with the
    photo (`bgr`) and ``params.refine``, each slot's outline is refined at photo resolution."""
    H, W = shape
    p = cv2.resize(prob.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    binary = (p >= params.threshold).astype(np.uint8) * 255
    # Group nearby parts: label a closed copy, keep the original pixels of each group.
    r = max(1, int(round(params.group_frac * H / 2)))
    grouped = cv2.morphologyEx(binary, cv2.MORPH_CLOSE,
                               cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    lab = np.where(binary > 0, lab, 0)
    order = sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    certainty = np.abs(2 * p - 1)
    # The band along any outline is uncertain after upsampling a low-resolution map; judge a
    # slot by its interior (one model pixel in) when it has one.
    band = max(1, int(round(H / prob.shape[0])))
    band_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    slots = []
    for i in order[: params.max_slots]:
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < 0.25 * params.min_area_frac * H * W:
            break  # specks: not worth a row
        comp = (lab == i).astype(np.uint8) * 255
        coarse = float(comp.mean() / 255.0)
        if bgr is not None and params.refine and \
                params.min_area_frac <= coarse <= params.max_area_frac:
            comp = refine_mask(bgr, p, comp)  # only slots that can still be donors
        comp = _holes_filled(comp)
        x0, y0, x1, y1 = tight_box(comp)
        if x1 == x0:
            continue
        x, y, w, h = x0, y0, x1 - x0, y1 - y0
        area_frac = float(comp.mean() / 255.0)
        core = cv2.erode((lab == i).astype(np.uint8), band_kernel) > 0
        q = float(certainty[core].mean() if core.sum() >= 0.2 * area else
                  certainty[lab == i].mean())
        flags = []
        # Cut by the left, right or top edge (the floor edge is how rooms are photographed).
        cut = max(((comp[:, 0] > 0).sum() + (comp[:, -1] > 0).sum()) / max(h, 1),
                  (comp[0] > 0).sum() / max(w, 1))
        if cut > params.frame_touch_frac:
            flags.append(CUT_BY_FRAME)
            q *= 0.5
        if area_frac < params.min_area_frac:
            flags.append(TOO_SMALL)
        if area_frac > params.max_area_frac:
            flags.append(TOO_LARGE)
        if q < params.min_quality:
            flags.append(LOW_QUALITY)
        slots.append(Slot(comp, [x, y, x + w, y + h], round(area_frac, 6), round(q, 4),
                          not flags, flags))
    return slots


class Segmenter:
    """Any one-input, one-output ONNX segmentation model behind one call."""

    def __init__(self, session):
        self.session = session
        inp = session.get_inputs()[0]
        self.input_name = inp.name
        dims = inp.shape[2:4]
        self.hw = tuple(d if isinstance(d, int) and d > 0 else f
                        for d, f in zip(dims, SEGMENTER_HW))

    def prepare(self, bgr: np.ndarray) -> np.ndarray:
        return segmenter_input(bgr, self.hw)

    def predict(self, images: Sequence[np.ndarray], batch: int = 16) -> list[np.ndarray]:
        """BGR photos -> probability maps at model resolution, (h, w) float32 each."""
        out: list[np.ndarray] = []
        xs = [self.prepare(i) for i in images]
        for s in range(0, len(xs), batch):
            y = self.session.run(None, {self.input_name: np.stack(xs[s:s + batch])})[0]
            y = y[:, 0] if y.ndim == 4 else y
            out.extend(np.asarray(y, np.float32))
        return out
