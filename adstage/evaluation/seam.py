"""Seam realism: can a classifier tell a pasted product's outline from a real edge?

Why. Copy-paste staging keeps almost every pixel of a real room photo, so whole-image FID/KID
mostly measures the background the composite inherited and barely moves when the paste itself
is bad. What betrays a paste is a thin band at the product outline: a white fringe, a too-hard
or too-soft edge, a halo, a mismatch of noise, blur or light. This module measures only there.

The measure, precisely:

* **Scale.** Every image (and its product mask) is resized so its short side is ``scale`` px;
  patches of one size then cover the same share of every photo whatever its resolution.
* **Generated side.** ``points`` points on the outer outline of the product mask, evenly
  spaced along the outline's length (outline pixels on the image border are skipped: the
  frame is no seam). Each point is the centre of a ``patch x patch`` patch (reflect padding at
  the border), so a patch shows product on one side and room on the other.
* **Real side.** Real staged photos have no paste, so their counterpart of "an outline" is a
  strong real edge: up to ``points`` Canny edge pixels per image, taken among the strongest
  (gradient magnitude), spread apart and at least ``patch // 2`` px from the border.
* **Features.** Every patch is embedded by the named extractor (`features.Embedder`).
* **Two-sample test.** Standardised logistic regression separates generated (label 1) from
  real (label 0) patches. Folds are grouped *by image*: no image has patches on both the
  training and the test side of a fold, otherwise the classifier could recognise the
  image (its room, its product colour) instead of the seam. The score is the balanced
  accuracy over folds: **0.5 = the seam is indistinguishable from real edges**, 1.0 = every
  seam patch gives the paste away. `control` runs the same test between two halves of the real
  images, which gives the floor the small sample actually reaches (not exactly 0.5).
* **Patch KID.** `kid.kid` between the two patch feature sets (0 = same distribution).
* **Per-image seam score.** For each generated image, the mean out-of-fold probability "pasted"
  over its outline patches, from the classifier that never saw that image: **higher = more
  likely pasted = worse**; the classes are weighted to balance, so about 0.5 = unremarkable.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Iterable

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from adstage.evaluation.kid import kid as patch_kid

Embed = Callable[[np.ndarray], np.ndarray]

_EDGE_STRONGEST = 0.5     # sample among the strongest half of the Canny edge pixels first
_CANNY = (50, 150)


class MissingMasks(ValueError):
    """Generated images without a usable product mask: the seam cannot be located."""

    def __init__(self, ids: list[str]):
        self.ids = list(ids)
        shown = ", ".join(self.ids[:20]) + (f" (+{len(self.ids) - 20} more)"
                                             if len(self.ids) > 20 else "")
        super().__init__(
            f"{len(self.ids)} generated image(s) have no usable product mask (missing, empty or "
            f"not the image's size): {shown}. The seam measure needs "
            f"staged_images.product_mask_uri for every generated image.")


@dataclass
class SeamPatches:
    """Patches (uint8 BGR, N x P x P x 3) and, per patch, the id of the image it came from."""

    patches: np.ndarray
    groups: list[str] = field(default_factory=list)

    def __post_init__(self):
        if len(self.patches) != len(self.groups):
            raise ValueError(f"{len(self.patches)} patches but {len(self.groups)} group ids")

    @property
    def n_images(self) -> int:
        return len(set(self.groups))


@dataclass
class SeamResult:
    """Outcome of one seam test; ``per_image`` holds the generated side's images only."""

    accuracy: float
    accuracy_std: float
    kid: float
    kid_std: float
    n_patches: int
    n_real_patches: int
    n_images: int
    n_real: int
    per_image: dict[str, float]


# -- geometry -------------------------------------------------------------------------------

def rescale(image: np.ndarray, short_side: int, interpolation: int) -> np.ndarray:
    """Resize so the short side is ``short_side`` px (aspect kept); a no-op when it already is."""
    h, w = image.shape[:2]
    if min(h, w) == short_side:
        return image
    s = short_side / min(h, w)
    size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
    return cv2.resize(image, size, interpolation=interpolation)


def _rescale_image(image: np.ndarray, scale: int) -> np.ndarray:
    shrink = min(image.shape[:2]) > scale
    return rescale(image, scale, cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _rescale_mask(mask: np.ndarray, scale: int) -> np.ndarray:
    """Area-resize then threshold: keeps thin parts better than nearest-neighbour sampling."""
    small = rescale(mask, scale, cv2.INTER_AREA)
    return np.where(small > 127, 255, 0).astype(np.uint8)


def outline_points(mask: np.ndarray, n: int) -> np.ndarray:
    """``n`` (x, y) points evenly spaced along the outer outline(s) of ``mask > 127``.

    Spacing is by arc length over all outer contours together, so a long outline gets more
    points than a speck, and the result is deterministic. Contour pixels on the image border
    carry no length: where the product is cut by the frame there is no seam to look at.
    """
    binary = (np.asarray(mask) > 127).astype(np.uint8)
    if n <= 0 or not binary.any():
        return np.zeros((0, 2), dtype=np.int64)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    h, w = binary.shape
    pts, weights = [], []
    for c in contours:
        c = c.reshape(-1, 2).astype(np.int64)
        step = np.linalg.norm(np.roll(c, -1, axis=0) - c, axis=1) if len(c) > 1 else np.ones(1)
        on_border = (c[:, 0] == 0) | (c[:, 1] == 0) | (c[:, 0] == w - 1) | (c[:, 1] == h - 1)
        pts.append(c)
        weights.append(np.where(on_border, 0.0, step))
    pts_all, w_all = np.concatenate(pts), np.concatenate(weights)
    total = w_all.sum()
    if total <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    cum = np.cumsum(w_all)
    idx = np.searchsorted(cum, (np.arange(n) + 0.5) * total / n, side="right")
    idx = np.unique(np.minimum(idx, len(pts_all) - 1))  # sorted: order along the outline
    return pts_all[idx]


def edge_points(image: np.ndarray, n: int, margin: int, seed: int = 0,
                min_dist: int | None = None) -> np.ndarray:
    """Up to ``n`` (x, y) points on strong real edges, spread out, ``margin`` px inside.

    Canny marks edges; the strongest half (Sobel magnitude) is visited first in a seeded random
    order, then the rest, and a point is kept only if no kept point is closer than ``min_dist``
    (default ``margin``) — so patches cover many different edges, not one long contrast line.
    """
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    if n <= 0 or h <= 2 * margin or w <= 2 * margin:
        return np.zeros((0, 2), dtype=np.int64)
    edges = cv2.Canny(grey, *_CANNY) > 0
    inner = np.zeros_like(edges)
    inner[margin:h - margin, margin:w - margin] = True
    ys, xs = np.nonzero(edges & inner)
    if len(xs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    strength = np.hypot(gx, gy)[ys, xs]
    rng = np.random.default_rng(seed)
    strong = strength >= np.quantile(strength, 1.0 - _EDGE_STRONGEST)
    order = np.concatenate([rng.permutation(np.flatnonzero(strong)),
                            rng.permutation(np.flatnonzero(~strong))])
    return _spread(xs[order], ys[order], n, margin if min_dist is None else min_dist, (h, w))


def _spread(xs: np.ndarray, ys: np.ndarray, n: int, min_dist: int,
            shape: tuple[int, int]) -> np.ndarray:
    """Greedy Poisson-disc thinning in visiting order; an occupancy grid keeps it O(candidates)."""
    blocked = np.zeros(shape, dtype=np.uint8)
    radius = max(int(min_dist) - 1, 0)
    kept: list[tuple[int, int]] = []
    for x, y in zip(xs.tolist(), ys.tolist()):
        if blocked[y, x]:
            continue
        kept.append((x, y))
        if len(kept) == n:
            break
        cv2.circle(blocked, (x, y), radius, 1, thickness=-1)
    return np.array(kept, dtype=np.int64).reshape(-1, 2)


def cut_patches(image: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    """``size x size`` patches centred on (x, y) points; the image is reflected at its border."""
    points = np.asarray(points, dtype=np.int64).reshape(-1, 2)
    h, w = image.shape[:2]
    if len(points) and ((points < 0).any() or (points[:, 0] >= w).any()
                        or (points[:, 1] >= h).any()):
        raise ValueError(f"points must lie inside the {w}x{h} image")
    half = size // 2
    pad = [(half, size - half)] * 2 + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image, pad, mode="reflect")
    out = np.empty((len(points), size, size) + image.shape[2:], dtype=image.dtype)
    for i, (x, y) in enumerate(points):
        out[i] = padded[y:y + size, x:x + size]  # padded (y, x) = image (y - half, x - half)
    return out


# -- patch sets -----------------------------------------------------------------------------

def _bad_mask(image: np.ndarray, mask: np.ndarray | None) -> bool:
    """No mask, a zero-size or all-background one, or one of another size than the image."""
    if mask is None:
        return True
    mask = np.asarray(mask)
    return mask.size == 0 or mask.shape[:2] != image.shape[:2] or not (mask > 127).any()


def _as_set(chunks: list[np.ndarray], groups: list[str], patch: int) -> SeamPatches:
    patches = (np.concatenate(chunks) if chunks
               else np.zeros((0, patch, patch, 3), dtype=np.uint8))
    return SeamPatches(patches, groups)


def outline_patches(items: Iterable[tuple[str, np.ndarray, np.ndarray | None]], scale: int,
                    patch: int, points: int) -> SeamPatches:
    """Patches on the product outline of generated images ``(image_id, bgr, product_mask)``.

    All masks are checked before any work so that one run reports every offending id at once.
    """
    items = list(items)
    missing = [str(i) for i, image, mask in items if _bad_mask(image, mask)]
    if missing:
        raise MissingMasks(missing)
    chunks, groups = [], []
    for image_id, image, mask in items:
        small, small_mask = _rescale_image(image, scale), _rescale_mask(mask, scale)
        pts = outline_points(small_mask, points)
        chunks.append(cut_patches(small, pts, patch))
        groups += [str(image_id)] * len(pts)
    return _as_set(chunks, groups, patch)


def edge_patches(items: Iterable[tuple[str, np.ndarray]], scale: int, patch: int, points: int,
                 seed: int = 0) -> SeamPatches:
    """Patches on strong edges of real images ``(image_id, bgr)``, whole patches inside."""
    chunks, groups = [], []
    for image_id, image in items:
        small = _rescale_image(image, scale)
        pts = edge_points(small, points, margin=patch // 2, seed=seed)
        chunks.append(cut_patches(small, pts, patch))
        groups += [str(image_id)] * len(pts)
    return _as_set(chunks, groups, patch)


# -- the test -------------------------------------------------------------------------------

def group_folds(labels: np.ndarray, groups: list[str], folds: int,
                seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs; each group (image) lies wholly on one side of every fold.

    Stratified so each test fold holds both classes in about the overall proportion.
    """
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels, groups))


def _classifier(seed: int):
    return make_pipeline(StandardScaler(), LogisticRegression(
        class_weight="balanced", max_iter=5000, random_state=seed))


def _out_of_fold(a: np.ndarray, a_groups: list[str], b: np.ndarray, b_groups: list[str],
                 folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P(side a) for the rows of a then b, and the balanced accuracy per fold.

    An id found on both sides is one group (one image): it is never split across a fold.
    """
    n_a, n_b = len(set(a_groups)), len(set(b_groups))
    if n_a < 2 or n_b < 2:
        raise ValueError(f"the two-sample test needs at least 2 images (groups) per side to "
                         f"cross-validate by image, got {n_a} and {n_b}")
    if len(a) != len(a_groups) or len(b) != len(b_groups):
        raise ValueError("each feature row needs exactly one group id")
    x = np.concatenate([np.asarray(a, np.float64), np.asarray(b, np.float64)])
    y = np.r_[np.ones(len(a), dtype=int), np.zeros(len(b), dtype=int)]
    groups = [str(g) for g in a_groups] + [str(g) for g in b_groups]
    n_splits = max(2, min(folds, n_a, n_b))
    proba = np.full(len(y), np.nan)
    scores = []
    for train, test in group_folds(y, groups, n_splits, seed):
        if len(np.unique(y[train])) < 2:
            continue
        model = _classifier(seed).fit(x[train], y[train])
        proba[test] = model.predict_proba(x[test])[:, 1]
        if len(np.unique(y[test])) == 2:
            scores.append(balanced_accuracy_score(y[test], proba[test] >= 0.5))
    if not scores:
        raise ValueError("no fold held both sides; give each side more images")
    return proba, np.asarray(scores)


def _group_means(proba: np.ndarray, groups: list[str]) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for p, g in zip(proba.tolist(), groups):
        if np.isfinite(p):
            sums.setdefault(g, []).append(p)
    return {g: float(np.mean(v)) for g, v in sums.items()}


def two_sample(a: np.ndarray, a_groups: list[str], b: np.ndarray, b_groups: list[str],
               folds: int = 5, seed: int = 0) -> tuple[float, float, dict[str, float]]:
    """Classifier two-sample test cross-validated by image (label 1 = side a).

    Returns (mean balanced accuracy over folds, its std, {group: out-of-fold mean P(side a)}
    for the groups of both sides). 0.5 = the sides are indistinguishable to this classifier.
    """
    proba, scores = _out_of_fold(a, a_groups, b, b_groups, folds, seed)
    groups = [str(g) for g in a_groups] + [str(g) for g in b_groups]
    return float(scores.mean()), float(scores.std()), _group_means(proba, groups)


def seam_test(generated: SeamPatches, real: SeamPatches, embed: Embed, folds: int = 5,
              seed: int = 0) -> SeamResult:
    """Generated outline patches against real edge patches: accuracy, patch KID, per image."""
    fa, fb = embed(generated.patches), embed(real.patches)
    proba, scores = _out_of_fold(fa, generated.groups, fb, real.groups, folds, seed)
    k, k_std = patch_kid(fa, fb, seed=seed)
    return SeamResult(
        accuracy=float(scores.mean()), accuracy_std=float(scores.std()), kid=k, kid_std=k_std,
        n_patches=len(generated.patches), n_real_patches=len(real.patches),
        n_images=generated.n_images, n_real=real.n_images,
        per_image=_group_means(proba[:len(fa)], list(generated.groups)))


def _half(image_id: str) -> str:
    return hashlib.blake2b(image_id.encode("utf-8"), digest_size=8).hexdigest()


def split_halves(real: SeamPatches) -> tuple[SeamPatches, SeamPatches]:
    """Two halves of the real images: sorted by a hash of the id, then alternating.

    Hash order is stable across runs and independent of the order images arrive in, and it is
    unrelated to any property of the image, so the halves differ only by chance.
    """
    ids = sorted(set(real.groups), key=lambda g: (_half(g), g))
    first = set(ids[0::2])
    groups = np.asarray(real.groups, dtype=object)
    in_first = np.array([g in first for g in real.groups], dtype=bool)
    return (SeamPatches(real.patches[in_first], list(groups[in_first])),
            SeamPatches(real.patches[~in_first], list(groups[~in_first])))


def control(real: SeamPatches, embed: Embed, folds: int = 5, seed: int = 0) -> SeamResult:
    """Real edges against real edges (two halves of the real images): the test's floor."""
    first, second = split_halves(real)
    return seam_test(first, second, embed, folds, seed)
