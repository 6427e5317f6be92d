"""Training data for EdgeConnect and pix2pix: numpy batches, no torch.

Sources:
  * ``synthetic``: procedurally drawn rooms-with-furniture (tests, smoke runs);
  * ``catalog``:   the project's demo catalog (``adstage.demo.catalog.generate_catalog``);
  * ``ikea``:      IKEA rooms/products read at run time from ``/work/shared`` (never copied).
Images are RGB float32 in [0, 1], channel-first; masks float32 {0, 1} with 1 = hole.
"""
from __future__ import annotations

import glob
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from adstage.generative import edges as edges_mod
from adstage.generative import masks as masks_mod

log = logging.getLogger(__name__)

IKEA_ROOT = "/work/shared/datasets/ikea"
MaskFn = Callable[[int, int, np.random.Generator], np.ndarray]


def read_rgb(path: str | Path, short_side: int | None = None) -> np.ndarray:
    """Read an image as RGB uint8, optionally resized so its shorter side is ``short_side``."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if short_side:
        h, w = rgb.shape[:2]
        s = short_side / min(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return rgb


def read_mask(path: str | Path) -> np.ndarray:
    """Read a grey mask as uint8 (255 = product/hole)."""
    import cv2

    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise FileNotFoundError(f"cannot read mask {path}")
    return m


# ---- synthetic scenes (tests and smoke runs) ---------------------------------------------
def synthetic_room(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A toy room (wall, floor, a furniture blob) and the blob's mask, both ``size²``."""
    import cv2

    img = np.zeros((size, size, 3), np.uint8)
    horizon = int(rng.uniform(0.45, 0.7) * size)
    img[:horizon] = rng.integers(120, 240, 3)
    img[horizon:] = rng.integers(40, 160, 3)
    for _ in range(int(rng.integers(1, 4))):  # picture frames / windows give edges to learn
        x, y = rng.integers(0, size - 8, 2)
        cv2.rectangle(img, (int(x), int(y)), (int(x + rng.integers(6, size // 3)), int(y + rng.integers(6, size // 4))),
                      tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    mask = np.zeros((size, size), np.uint8)
    cx, cy = int(rng.uniform(0.3, 0.7) * size), int(rng.uniform(0.55, 0.8) * size)
    ax, ay = int(rng.uniform(0.1, 0.25) * size), int(rng.uniform(0.08, 0.2) * size)
    cv2.ellipse(mask, (cx, cy), (ax, ay), 0, 0, 360, 255, -1)
    cv2.rectangle(mask, (cx - ax, cy - 2 * ay), (cx - ax + max(2, ax // 3), cy), 255, -1)
    colour = rng.integers(0, 255, 3).astype(np.uint8)
    img[mask > 0] = colour
    img = np.clip(img.astype(np.int16) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    return img, mask


def synthetic_bank(n: int = 32, size: int = 64, seed: int = 0) -> masks_mod.SilhouetteBank:
    """Silhouette bank of synthetic furniture blobs."""
    rng = np.random.default_rng(seed)
    return masks_mod.SilhouetteBank.from_masks([synthetic_room(size, rng)[1] for _ in range(n)])


# ---- IKEA research set ------------------------------------------------------------------
def ikea_room_paths(root: str = IKEA_ROOT) -> list[str]:
    return sorted(glob.glob(f"{root}/rooms/*.jpg"))


def ikea_product_paths(root: str = IKEA_ROOT) -> list[str]:
    return sorted(glob.glob(f"{root}/products/*.jpg"))


def split_holdout(paths: Sequence[str], holdout: int, seed: int = 2023) -> tuple[list[str], list[str]]:
    """Deterministic ``(train, held_back)`` split of a path list."""
    order = np.random.default_rng(seed).permutation(len(paths))
    held = sorted(paths[i] for i in order[:holdout])
    train = sorted(paths[i] for i in order[holdout:])
    return train, held


def ikea_split(root: str = IKEA_ROOT, share: float = 0.2) -> dict[str, list[str]]:
    """The project's stable IKEA split (``adstage.vision.ikea.items`` / ``evalsplit.is_holdout``:
    room key ``"r" + room_id``, product key ``"p" + product_id``, ``share`` held apart).

    Returns sorted paths: ``train_rooms``, ``held_rooms``, ``train_products``, ``held_products``.
    Held-apart rooms and products never enter training; evaluation reads only them.
    """
    from adstage.vision import ikea

    out: dict[str, list[str]] = {k: [] for k in ("train_rooms", "held_rooms", "train_products", "held_products")}
    for it in ikea.items(Path(root), share):
        out[f"{'held' if it.test else 'train'}_{it.kind}s"].append(str(it.path))
    return {k: sorted(v) for k, v in out.items()}


def product_bank(paths: Sequence[str], max_side: int = 128, min_area_frac: float = 0.02) -> masks_mod.SilhouetteBank:
    """Silhouettes of products on white, cut out by thresholding (see ``masks.product_mask_from_white``).

    Products whose cut-out covers less than ``min_area_frac`` of the photo (failed threshold,
    e.g. white furniture) are dropped.
    """
    import cv2

    out = []
    for p in paths:
        rgb = read_rgb(p)
        s = max_side / max(rgb.shape[:2])
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA)
        m = masks_mod.product_mask_from_white(rgb)
        if (m > 0).mean() >= min_area_frac:
            out.append(m)
    log.info("silhouette bank: %d of %d product photos usable", len(out), len(paths))
    return masks_mod.SilhouetteBank.from_masks(out)


# ---- demo catalog -------------------------------------------------------------------------
@dataclass(frozen=True)
class CatalogRow:
    """One demo-catalog product with absolute paths (staged fields None if unstaged only)."""

    product_id: str
    product_image: str
    product_mask: str
    staged_image: str | None
    staged_mask: str | None
    staged_box: tuple[int, int, int, int] | None


def read_catalog(root: str | Path) -> list[CatalogRow]:
    """Parse ``ground_truth.jsonl`` of a generated demo catalog."""
    root = Path(root)
    rows = []
    for line in (root / "ground_truth.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        un, st = r["unstaged"], r.get("staged")
        rows.append(CatalogRow(
            product_id=str(r["product_id"]),
            product_image=str(root / un["image"]), product_mask=str(root / un["mask"]),
            staged_image=str(root / st["image"]) if st else None,
            staged_mask=str(root / st["mask"]) if st else None,
            staged_box=tuple(int(v) for v in st["box"]) if st and st.get("box") is not None else None,
        ))
    return rows


# ---- inpainting batches ------------------------------------------------------------------
def mask_sampler(kind: str, bank: masks_mod.SilhouetteBank | None, dilate_px: int = 3) -> MaskFn:
    """Return ``f(h, w, rng) -> uint8 hole`` for ``freeform``, ``silhouette`` or ``mixed`` masks."""
    def freeform(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        return masks_mod.free_form_mask(h, w, rng)

    def silhouette(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        assert bank is not None, "silhouette masks need a SilhouetteBank"
        for _ in range(8):  # a pair can coincide exactly; retry for a non-empty gap
            m = bank.random_gap_mask(h, w, rng, dilate_px=dilate_px)
            if m.any():
                return m
        return masks_mod.free_form_mask(h, w, rng)

    if kind == "freeform":
        return freeform
    if kind == "silhouette":
        return silhouette
    if kind == "mixed":
        return lambda h, w, rng: (silhouette if rng.random() < 0.5 else freeform)(h, w, rng)
    raise ValueError(f"mask kind must be freeform|silhouette|mixed, got {kind!r}")


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random ``size²`` crop; images smaller than ``size`` are reflect-padded first."""
    h, w = img.shape[:2]
    if h < size or w < size:
        pad = ((0, max(0, size - h)), (0, max(0, size - w))) + ((0, 0),) * (img.ndim - 2)
        img = np.pad(img, pad, mode="reflect")
        h, w = img.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return img[y:y + size, x:x + size]


@dataclass(frozen=True)
class InpaintBatch:
    """One EdgeConnect batch, numpy float32 NCHW: rgb, grey, edges (full image), hole."""

    rgb: np.ndarray
    grey: np.ndarray
    edges: np.ndarray
    hole: np.ndarray


def make_inpaint_batch(crops: Sequence[np.ndarray], holes: Sequence[np.ndarray], sigma: float) -> InpaintBatch:
    """Stack RGB uint8 crops + uint8 holes into an :class:`InpaintBatch`.

    Edges are of the *complete* crop (EdgeConnect trains G1 against, and G2 with, ground
    truth edges); inputs are masked inside the networks' input builders.
    """
    rgb = np.stack([c.astype(np.float32) / 255.0 for c in crops]).transpose(0, 3, 1, 2)
    grey = np.stack([edges_mod.to_grey(c).astype(np.float32) / 255.0 for c in crops])[:, None]
    edge = np.stack([edges_mod.canny(c, sigma) for c in crops])[:, None]
    hole = np.stack([(h > 0).astype(np.float32) for h in holes])[:, None]
    return InpaintBatch(np.ascontiguousarray(rgb), grey, edge, hole)


class InpaintSampler:
    """Draws random crops from in-memory images with random holes.

    :param images: RGB uint8 images (any size; pre-scaled by the caller).
    :param size: crop side (multiple of 4).
    :param mask_fn: hole generator.
    :param sigma: Canny sigma.
    :param seed: the sampler's own RNG seed (batches are reproducible per seed).
    """

    def __init__(self, images: Sequence[np.ndarray], size: int, mask_fn: MaskFn, sigma: float, seed: int = 0):
        if not images:
            raise ValueError("InpaintSampler needs at least one image")
        self.images, self.size, self.mask_fn, self.sigma = list(images), size, mask_fn, sigma
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> InpaintBatch:
        crops, holes = [], []
        for _ in range(n):
            img = self.images[int(self.rng.integers(len(self.images)))]
            crop = random_crop(img, self.size, self.rng)
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            crops.append(np.ascontiguousarray(crop))
            holes.append(self.mask_fn(self.size, self.size, self.rng))
        return make_inpaint_batch(crops, holes, self.sigma)


# ---- pix2pix pairs ------------------------------------------------------------------------
def product_on_white(scene: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Vanilla-staging input aligned with its target: the scene's product pixels on white."""
    return np.where(mask[..., None] > 127, scene, 255).astype(np.uint8)


def square_crop_around(img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest square crop of a landscape/portrait image that keeps the product centred."""
    h, w = mask.shape
    side = min(h, w)
    box = masks_mod.mask_box(mask) or (0, 0, w, h)
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    x0 = int(np.clip(cx - side // 2, 0, w - side))
    y0 = int(np.clip(cy - side // 2, 0, h - side))
    return img[y0:y0 + side, x0:x0 + side], mask[y0:y0 + side, x0:x0 + side]


def paired_example(scene: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(input, target)`` uint8 ``size²`` RGB pair from a staged scene and its product mask."""
    import cv2

    scene, mask = square_crop_around(scene, mask)
    scene = cv2.resize(scene, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    return product_on_white(scene, mask), scene


def composite_on_room(room: np.ndarray, product: np.ndarray, product_mask: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paste a cut-out product onto a room (random floor-ish position); returns scene, mask."""
    import cv2

    h, w = room.shape[:2]
    box = masks_mod.mask_box(product_mask)
    if box is None:
        return room.copy(), np.zeros((h, w), np.uint8)
    crop, cmask = product[box[1]:box[3], box[0]:box[2]], product_mask[box[1]:box[3], box[0]:box[2]]
    scale = rng.uniform(0.35, 0.6) * min(h, w) / max(crop.shape[:2])
    tw, th = max(2, int(crop.shape[1] * scale)), max(2, int(crop.shape[0] * scale))
    crop = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_AREA)
    cmask = cv2.resize(cmask, (tw, th), interpolation=cv2.INTER_NEAREST)
    x0 = int(rng.integers(0, max(1, w - tw)))
    y0 = int(np.clip(rng.uniform(0.45, 0.95) * h - th, 0, h - th))
    scene, mask = room.copy(), np.zeros((h, w), np.uint8)
    region = scene[y0:y0 + th, x0:x0 + tw]
    region[cmask > 0] = crop[cmask > 0]
    mask[y0:y0 + th, x0:x0 + tw] = cmask
    return scene, mask


class PairSampler:
    """Random batches of aligned ``(product on white, staged scene)`` pairs in [-1, 1].

    :param pairs: list of ``(input, target)`` uint8 ``size²`` RGB images.
    :param seed: RNG seed.
    """

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], seed: int = 0):
        if not pairs:
            raise ValueError("PairSampler needs at least one pair")
        self.pairs = list(pairs)
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.rng.integers(len(self.pairs), size=n)
        flip = self.rng.random(n) < 0.5
        xs, ys = [], []
        for i, f in zip(idx, flip):
            x, y = self.pairs[int(i)]
            if f:
                x, y = x[:, ::-1], y[:, ::-1]
            xs.append(x)
            ys.append(y)
        to = lambda a: (np.stack(a).astype(np.float32) / 127.5 - 1.0).transpose(0, 3, 1, 2).copy()  # noqa: E731
        return to(xs), to(ys)
