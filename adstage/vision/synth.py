"""Training scenes for the slot segmenter (numpy/OpenCV; no torch).

Two generators, both giving (BGR image, mask 255 = replaceable product):

* ``demo_scene``: a demo room with one demo product staged in it (the demo catalog's own
  renderer, so the mask is exact; decor - plants, rugs, side tables - is background);
* ``cut_paste_scene``: "Cut, Paste and Learn" (Dwibedi et al., ICCV 2017): product cutouts
  (``adstage.vision.backdrop_cutout`` on real product photos on white) pasted into an empty demo room at a
  random scale and place, standing on the floor, with one of several blendings (hard edge,
  Gaussian-feathered alpha, a slight blur of the whole paste) so the net cannot learn the
  paste seam instead of the object; a contact shadow under it half of the time.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from adstage.demo import products, rooms

Rng = np.random.Generator


@dataclass(frozen=True)
class Sprite:
    """A cut-out product: BGR pixels cropped to its box and its 0..1 alpha."""
    bgr: np.ndarray
    alpha: np.ndarray


def demo_scene(rng: Rng, size: tuple[int, int] = (512, 384)) -> tuple[np.ndarray, np.ndarray]:
    shape = products.SHAPE_CLASSES[rng.integers(len(products.SHAPE_CLASSES))]
    spec = products.sample_spec(shape, rng, light=rng.uniform() < 0.1)
    room = rooms.render_room(rng, size)
    lift = rng.uniform(45, 60) if shape == "lamp/table" else 0.0
    place = rooms.plan_placement(room, spec.size_cm, rng, lift_cm=lift)
    sprite, smask = products.render_product(spec, place.px_per_cm, rng)
    staged = rooms.stage(room, sprite, smask, place, spec.size_cm, rng,
                         rug=spec.category != "cabinet")
    return staged.image, staged.mask


def sprite_from_cutout(bgr: np.ndarray, alpha: np.ndarray) -> Sprite | None:
    ys, xs = np.nonzero(alpha > 127)
    if len(xs) < 50:
        return None
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    return Sprite(bgr[y0:y1, x0:x1].copy(), alpha[y0:y1, x0:x1].astype(np.float32) / 255.0)


def paste(canvas: np.ndarray, label: np.ndarray, sprite: Sprite, rng: Rng) -> None:
    """Paste one sprite standing on the floor part of the canvas (in place)."""
    h, w = canvas.shape[:2]
    target_h = int(rng.uniform(0.25, 0.75) * h)
    s = target_h / sprite.bgr.shape[0]
    if sprite.bgr.shape[1] * s > 0.8 * w:
        s = 0.8 * w / sprite.bgr.shape[1]
    sw, sh = max(4, int(sprite.bgr.shape[1] * s)), max(4, int(sprite.bgr.shape[0] * s))
    img = cv2.resize(sprite.bgr, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    a = cv2.resize(sprite.alpha, (sw, sh), interpolation=cv2.INTER_AREA)
    if rng.uniform() < 0.5:
        img = img[:, ::-1]; a = a[:, ::-1]
    img = np.clip(img * rng.uniform(0.75, 1.05) + rng.uniform(-15, 10), 0, 255)
    y1 = int(rng.uniform(0.7, 1.0) * h)
    y0 = max(0, y1 - sh)
    x0 = int(rng.uniform(0, max(1, w - sw)))
    img, a = img[sh - (y1 - y0):], a[sh - (y1 - y0):]
    hh, ww = a.shape
    ww = min(ww, w - x0)
    img, a = img[:, :ww], a[:, :ww]
    label_a = a > 0.5
    blend = rng.integers(3)
    if blend == 1:
        a = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.6, 2.0))
    elif blend == 2:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.2))
    region = canvas[y0:y0 + hh, x0:x0 + ww].astype(np.float32)
    if rng.uniform() < 0.5:  # soft contact shadow: darken a flattened ellipse at the base
        shadow = np.zeros(canvas.shape[:2], np.float32)
        cv2.ellipse(shadow, (x0 + ww // 2, y0 + hh - 2), (max(2, ww // 2), max(2, hh // 20)),
                    0, 0, 360, 1.0, -1)
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(2.0, ww / 20))
        canvas[:] = np.clip(canvas * (1 - 0.35 * shadow[..., None]), 0, 255).astype(np.uint8)
        region = canvas[y0:y0 + hh, x0:x0 + ww].astype(np.float32)
    out = region * (1 - a[..., None]) + img * a[..., None]
    canvas[y0:y0 + hh, x0:x0 + ww] = np.clip(out, 0, 255).astype(np.uint8)
    lab = label[y0:y0 + hh, x0:x0 + ww]
    lab[label_a] = 255
    # A later paste in front hides what it covers: label follows the visible pixels.


def cut_paste_scene(sprites: list[Sprite], rng: Rng,
                    size: tuple[int, int] = (512, 384)) -> tuple[np.ndarray, np.ndarray]:
    room = rooms.render_room(rng, size)
    canvas = room.image.copy()
    label = np.zeros(canvas.shape[:2], np.uint8)
    for _ in range(1 + int(rng.uniform() < 0.3)):
        paste(canvas, label, sprites[rng.integers(len(sprites))], rng)
    return canvas, label


def ikea_sprites(max_items: int = 400, test: bool = False) -> list[Sprite]:
    """Cutouts of IKEA products in pipeline categories (train split), clean backdrops only."""
    from adstage.vision import ikea
    from adstage.vision.backdrop_cutout import cut_out

    out = []
    for it in ikea.items():
        if it.kind != "product" or it.test != test or it.category in (None, "plant_pot", "clock"):
            continue
        img = cv2.imread(str(it.path), cv2.IMREAD_COLOR)
        if img is None:
            continue
        c = cut_out(img)
        if c.ok:
            sp = sprite_from_cutout(img, c.alpha)
            if sp is not None:
                out.append(sp)
        if len(out) >= max_items:
            break
    return out
