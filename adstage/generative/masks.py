"""Hole masks for inpainting: conventional free-form strokes and copy-paste silhouette gaps.

numpy/OpenCV only (no torch): the nightly job builds its silhouette-difference holes with
the same code the inpainting model was trained on.  Convention everywhere: uint8 ``HxW``,
255 = hole / product (white = hole), 0 = known.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _cv2():
    import cv2

    return cv2


def free_form_mask(height: int, width: int, rng: np.random.Generator, max_strokes: int = 4,
                   max_vertices: int = 10, max_width_frac: float = 0.08,
                   max_len_frac: float = 0.25) -> np.ndarray:
    """Random brush strokes as in DeepFill v2 / EdgeConnect's irregular masks.

    :param height: mask height in pixels.
    :param width: mask width in pixels.
    :param rng: numpy random generator (the only source of randomness).
    :param max_strokes: strokes are drawn 1..max_strokes times.
    :param max_vertices: vertices per stroke 2..max_vertices.
    :param max_width_frac: brush width as a fraction of the shorter side.
    :param max_len_frac: segment length as a fraction of the shorter side.
    """
    cv2 = _cv2()
    mask = np.zeros((height, width), np.uint8)
    side = min(height, width)
    for _ in range(int(rng.integers(1, max_strokes + 1))):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        brush = max(2, int(rng.uniform(0.3, 1.0) * max_width_frac * side))
        for _ in range(int(rng.integers(2, max_vertices + 1))):
            angle = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(0.05, 1.0) * max_len_frac * side
            nx = int(np.clip(x + length * np.cos(angle), 0, width - 1))
            ny = int(np.clip(y + length * np.sin(angle), 0, height - 1))
            cv2.line(mask, (x, y), (nx, ny), 255, brush)
            cv2.circle(mask, (nx, ny), brush // 2, 255, -1)
            x, y = nx, ny
    return mask


def product_mask_from_white(image: np.ndarray, threshold: int = 240,
                            close_px: int = 5) -> np.ndarray:
    """Cut a product out of a photo on a white background by thresholding.

    Pixels with every channel >= ``threshold`` are background; the rest is closed
    morphologically, holes not connected to the border are filled (white parts of a
    product survive if enclosed) and only the largest component is kept.

    :param image: ``HxWx3`` uint8 product photo on white.
    :param threshold: per-channel value above which a pixel counts as white background.
    :param close_px: size of the closing kernel that bridges JPEG noise and thin gaps.
    """
    cv2 = _cv2()
    fg = (np.asarray(image)[..., :3].min(axis=-1) < threshold).astype(np.uint8) * 255
    if close_px > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close_px, close_px))
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
    # Fill enclosed holes: flood the background from a padded border, invert.
    padded = cv2.copyMakeBorder(fg, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8), (0, 0), 255)
    filled = padded | cv2.bitwise_not(flood)
    filled = filled[1:-1, 1:-1]
    count, labels, stats, _ = cv2.connectedComponentsWithStats((filled > 0).astype(np.uint8), 8)
    if count <= 1:
        return np.zeros_like(fg)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.where(labels == largest, 255, 0).astype(np.uint8)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight ``(x0, y0, x1, y1)`` box (exclusive ends) of the non-zero pixels, or None."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def fit_into_box(mask: np.ndarray, box: tuple[int, int, int, int], height: int, width: int,
                 keep_aspect: bool = True) -> np.ndarray:
    """Place a product silhouette into a target box of an ``height x width`` canvas.

    Copy-paste staging scales the new product into the retrieved product's box, keeping its
    aspect ratio, centred horizontally and standing on the box's bottom edge (furniture
    stands on the floor).

    :param mask: source silhouette (any size, 255 = product).
    :param box: target ``(x0, y0, x1, y1)``.
    :param height: canvas height.
    :param width: canvas width.
    :param keep_aspect: if False the silhouette is stretched to fill the box.
    """
    cv2 = _cv2()
    src_box = mask_box(mask)
    out = np.zeros((height, width), np.uint8)
    if src_box is None:
        return out
    sx0, sy0, sx1, sy1 = src_box
    crop = mask[sy0:sy1, sx0:sx1]
    x0, y0, x1, y1 = box
    bw, bh = max(1, x1 - x0), max(1, y1 - y0)
    if keep_aspect:
        scale = min(bw / crop.shape[1], bh / crop.shape[0])
        tw, th = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    else:
        tw, th = bw, bh
    resized = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_NEAREST)
    ox = x0 + (bw - tw) // 2
    oy = y1 - th
    # Clip against the canvas: boxes may hang over the border after a random crop.
    cx0, cy0 = max(0, ox), max(0, oy)
    cx1, cy1 = min(width, ox + tw), min(height, oy + th)
    if cx1 > cx0 and cy1 > cy0:
        out[cy0:cy1, cx0:cx1] = resized[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox]
    return out


def silhouette_difference_mask(old: np.ndarray, new: np.ndarray, dilate_px: int = 3) -> np.ndarray:
    """The hole copy-paste staging leaves: (old ∪ new) minus new, slightly dilated.

    Removing the retrieved product ``old`` and pasting ours ``new`` in its place leaves the
    pixels of ``old`` not covered by ``new`` unknown; dilation adds a seam so that the
    inpainting also blends the edges of both silhouettes.

    :param old: silhouette of the retrieved (removed) product, 255 = product.
    :param new: silhouette of the pasted product, aligned on the same canvas.
    :param dilate_px: dilation radius in pixels (elliptical kernel of 2r+1).
    """
    cv2 = _cv2()
    gap = ((old > 0) | (new > 0)) & ~(new > 0)
    hole = gap.astype(np.uint8) * 255
    if dilate_px > 0:
        k = 2 * dilate_px + 1
        hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return hole


@dataclass(frozen=True)
class SilhouetteBank:
    """Box-normalised product silhouettes for drawing similar-shape pairs.

    :param shapes: ``N x S x S`` uint8 silhouettes stretched to fill their box (for IoU).
    :param crops: the tight crops at original aspect (for placing into a box).
    :param aspects: width / height of each tight crop.
    """

    shapes: np.ndarray
    crops: tuple[np.ndarray, ...]
    aspects: np.ndarray

    @classmethod
    def from_masks(cls, masks: list[np.ndarray], size: int = 32) -> "SilhouetteBank":
        """Build a bank from full product masks (empty masks are skipped)."""
        cv2 = _cv2()
        shapes, crops, aspects = [], [], []
        for m in masks:
            box = mask_box(m)
            if box is None:
                continue
            crop = m[box[1]:box[3], box[0]:box[2]]
            crops.append(crop)
            aspects.append(crop.shape[1] / crop.shape[0])
            shapes.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA) > 127)
        return cls(np.stack(shapes), tuple(crops), np.asarray(aspects, np.float32))

    def __len__(self) -> int:
        return len(self.crops)

    def similar_pair(self, rng: np.random.Generator, candidates: int = 16) -> tuple[int, int]:
        """A random ``old`` and, among ``candidates`` random others, the most similar ``new``.

        Similarity is IoU of the box-normalised shapes times the aspect-ratio agreement,
        which mimics retrieval of a similar-shaped staged product.
        """
        n = len(self)
        a = int(rng.integers(n))
        others = rng.choice(n, size=min(candidates, n), replace=False)
        others = others[others != a] if n > 1 else others
        sa = self.shapes[a]
        inter = (self.shapes[others] & sa).sum(axis=(1, 2))
        union = (self.shapes[others] | sa).sum(axis=(1, 2)).clip(min=1)
        ratio = np.minimum(self.aspects[others], self.aspects[a]) / np.maximum(self.aspects[others], self.aspects[a])
        return a, int(others[int(np.argmax(inter / union * ratio))])

    def random_gap_mask(self, height: int, width: int, rng: np.random.Generator,
                        min_frac: float = 0.3, max_frac: float = 0.7, dilate_px: int = 3,
                        max_jitter: float = 0.08) -> np.ndarray:
        """A copy-paste hole on an ``height x width`` canvas from a random similar pair.

        The old product gets a random box (side ``min_frac..max_frac`` of the canvas); the
        new one is fitted into that box with a small random jitter in scale and position, as
        real retrieval never returns an identical footprint.
        """
        a, b = self.similar_pair(rng)
        frac = rng.uniform(min_frac, max_frac)
        aspect = self.aspects[a]
        bh = int(min(height, frac * height / max(1.0, aspect) if aspect > 1 else frac * height))
        bw = int(min(width, max(4, bh * aspect)))
        bh = max(4, bh)
        x0 = int(rng.integers(0, max(1, width - bw + 1)))
        y0 = int(rng.integers(0, max(1, height - bh + 1)))
        old = fit_into_box(self.crops[a], (x0, y0, x0 + bw, y0 + bh), height, width, keep_aspect=False)
        j = max_jitter
        s = rng.uniform(1 - j, 1 + j)
        dx, dy = rng.uniform(-j, j) * bw, rng.uniform(-j, j) * bh
        nb = (int(x0 + dx), int(y0 + dy), int(x0 + dx + bw * s), int(y0 + dy + bh * s))
        new = fit_into_box(self.crops[b], nb, height, width, keep_aspect=True)
        return silhouette_difference_mask(old, new, dilate_px)
