"""Synthetic copy-paste inputs for pure staging tests: a textured room whose slot holds a red
donor product, and a blue product on white whose silhouette differs from the slot's."""
from __future__ import annotations

import cv2
import numpy as np

OLD = (40, 40, 220)   # the donor's product: red (BGR)
NEW = (200, 90, 20)   # ours: blue


def scene(H: int, W: int, slot_box, cut):
    """``(room, slot mask, product photo, soft alpha)``; ``cut`` is a box removed from the
    product's rectangle (a notch, or the gap between legs) so the silhouettes differ."""
    rng = np.random.default_rng(1)
    room = np.zeros((H, W, 3), np.uint8)
    room[: H * 2 // 3] = (180, 200, 210)
    room[H * 2 // 3:] = (90, 120, 150)
    room = np.clip(room.astype(np.int16) + rng.integers(-8, 9, room.shape), 0, 255).astype(np.uint8)
    slot = np.zeros((H, W), np.uint8)
    x0, y0, x1, y1 = slot_box
    cv2.ellipse(slot, ((x0 + x1 - 1) // 2, (y0 + y1 - 1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2),
                0, 0, 360, 255, -1)
    room[slot > 0] = OLD
    prod = np.full((110, 80, 3), 255, np.uint8)
    pm = np.zeros((110, 80), np.uint8)
    cv2.rectangle(pm, (10, 10), (69, 99), 255, -1)
    cv2.rectangle(pm, cut[:2], cut[2:], 0, -1)
    prod[pm > 0] = NEW
    return room, slot, prod, cv2.GaussianBlur(pm, (0, 0), 0.8)
