"""Product cutout from an unstaged photo: the product's mask and tight box, numpy in, numpy out.

A catalogue photo is a product on a near-uniform backdrop, so the backdrop is estimated from the
image border and everything that differs from it is product:

1. backdrop colour = median of a thin border strip (CIELAB); its spread says how uniform it is;
2. per-pixel colour distance to the backdrop, thresholded at a tolerance scaled by the border's
   own noise (white-on-white products differ from the backdrop by only a few levels, so a fixed
   threshold either eats them or keeps the JPEG noise);
3. plus strong edges (Canny on the distance map), which outline light products whose interior is
   too close to the backdrop, then a closing that seals those outlines; the rim of backdrop
   pixels this adds around the outline is trimmed again after filling;
4. keep the product's connected components (drop specks far smaller than the largest part);
5. fill holes that are not backdrop-coloured (a light seat cushion inside a dark frame), keep
   holes that are (the see-through gap of a chair back);
6. a soft edge: the binary mask blurred by about one pixel, as 8-bit alpha.

Masks: uint8, 255 = product. Boxes: half-open ``[x0, y0, x1, y1]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# Quality flags (a cutout with any of them is kept but not trusted for staging).
BACKGROUND_NOT_UNIFORM = "background_not_uniform"
TOUCHES_BORDER = "touches_border"
EMPTY = "empty"
TOO_LARGE = "too_large"
TOO_SMALL = "too_small"


@dataclass(frozen=True)
class CutoutParams:
    border_frac: float = 0.02       # border strip width, share of the shorter side
    min_tol: float = 2.2            # smallest colour distance (CIELAB units) counted as product
    noise_k: float = 5.0            # tolerance = max(min_tol, noise_k * border noise sigma)
    max_border_sigma: float = 6.0   # border noisier than this (CIELAB units): not uniform
    min_border_agree: float = 0.85  # share of border pixels that must match the backdrop
    speck_frac: float = 0.02        # components smaller than this share of the largest: dropped
    soft_sigma: float = 0.8         # soft edge, pixels
    min_area_frac: float = 0.005
    max_area_frac: float = 0.97


@dataclass
class Cutout:
    alpha: np.ndarray               # uint8 soft mask, 255 = product
    mask: np.ndarray                # uint8 binary mask, 255 = product
    box: list[int]                  # tight half-open box of `mask`
    background_bgr: list[int]
    border_sigma: float             # robust noise of the border, CIELAB units
    border_agree: float             # share of border pixels within tolerance of the backdrop
    area_frac: float
    quality: float                  # 0..1; 1 = clean backdrop, product well inside the frame
    flags: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.flags


def tight_box(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def _border(a: np.ndarray, k: int) -> np.ndarray:
    return np.concatenate([a[:k].reshape(-1, a.shape[-1]), a[-k:].reshape(-1, a.shape[-1]),
                           a[k:-k, :k].reshape(-1, a.shape[-1]),
                           a[k:-k, -k:].reshape(-1, a.shape[-1])])


def _fill_holes(mask: np.ndarray, dist: np.ndarray, tol: float, max_keep_frac: float) -> np.ndarray:
    """Fill enclosed holes unless they look like backdrop (see-through gaps stay open)."""
    inv = (mask == 0).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    h, w = mask.shape
    out = mask.copy()
    tiny = max_keep_frac * h * w
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if x == 0 or y == 0 or x + bw == w or y + bh == h:
            continue  # touches the frame: that is the backdrop itself
        region = lab == i
        if area < tiny or np.median(dist[region]) > 0.5 * tol:
            out[region] = 255
    return out


def cut_out(bgr: np.ndarray, params: CutoutParams = CutoutParams()) -> Cutout:
    """Mask, box and quality of the product in an unstaged BGR uint8 photo."""
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR image, got shape {bgr.shape}")
    h, w = bgr.shape[:2]
    k = max(2, int(round(params.border_frac * min(h, w))))
    lab = cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    border = _border(lab, k)
    bg = np.median(border, axis=0)
    border_dist = np.linalg.norm(border - bg, axis=1)
    # Robust sigma of the border's distance to its median (MAD of a half-normal-ish variable).
    sigma = float(1.4826 * np.median(border_dist)) + 1e-3
    tol = max(params.min_tol, params.noise_k * sigma)
    dist = np.linalg.norm(lab - bg, axis=2)
    agree = float(np.mean(border_dist <= tol))

    fg = (dist > tol).astype(np.uint8) * 255
    # Outlines of light products: edges of the (smoothed) distance map.
    d8 = np.clip(cv2.GaussianBlur(dist, (0, 0), 1.0) * (255.0 / max(8 * tol, 1e-3)), 0, 255)
    edges = cv2.Canny(d8.astype(np.uint8), 40, 100)
    fg = cv2.bitwise_or(fg, edges)
    r = max(1, int(round(0.006 * min(h, w))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))

    n, lab_cc, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    mask = np.zeros((h, w), np.uint8)
    if n > 1:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.flatnonzero(areas >= params.speck_frac * areas.max()) + 1
        mask[np.isin(lab_cc, keep)] = 255
        mask = _fill_holes(mask, dist, tol, max_keep_frac=0.0005)
        # Edges and the closing put a rim of backdrop pixels around the product; trim the rim
        # (pixels near the outline that match the backdrop), keep low-contrast interiors.
        rim_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * r + 3, 4 * r + 3))
        interior = cv2.erode(mask, rim_kernel) > 0
        mask[(dist <= tol) & ~interior] = 0
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN,
                                cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))

    area_frac = float(mask.mean() / 255.0)
    flags = []
    if sigma > params.max_border_sigma or agree < params.min_border_agree:
        flags.append(BACKGROUND_NOT_UNIFORM)
    if area_frac == 0:
        flags.append(EMPTY)
    elif area_frac < params.min_area_frac:
        flags.append(TOO_SMALL)
    elif area_frac > params.max_area_frac:
        flags.append(TOO_LARGE)
    edge_px = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    touching = float(np.mean(edge_px > 0))
    if touching > 0.05:
        flags.append(TOUCHES_BORDER)
    quality = float(np.clip(agree, 0, 1) * np.clip(1 - sigma / (2 * params.max_border_sigma), 0, 1)
                    * (1 - min(touching * 4, 1.0)) * (area_frac > 0))
    alpha = mask
    if params.soft_sigma > 0 and area_frac > 0:
        alpha = cv2.GaussianBlur(mask, (0, 0), params.soft_sigma)
        alpha = np.where(mask > 0, np.maximum(alpha, 128), np.minimum(alpha, 127)).astype(np.uint8)
    return Cutout(alpha=alpha, mask=mask, box=tight_box(mask),
                  background_bgr=[int(v) for v in np.median(_border(bgr, k), axis=0)],
                  border_sigma=round(sigma, 4), border_agree=round(agree, 4),
                  area_frac=round(area_frac, 6), quality=round(quality, 4), flags=flags)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two masks (non-zero = in); 1.0 when both are empty."""
    a, b = a > 0, b > 0
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
