"""Model inputs, computed the same way for training (torch) and for the nightly job (ORT).

Both models take RGB float32 NCHW in [-1, 1]; the sizes live in the model cards and in
``CLASSIFIER_SIZE`` / ``SEGMENTER_HW``. One function each, so training and serving never drift.
"""
from __future__ import annotations

import cv2
import numpy as np

CLASSIFIER_SIZE = 96          # square; the whole image is squashed, not cropped
SEGMENTER_HW = (96, 128)      # (height, width): the 3:4 of typical room photos


def to_unit(rgb_u8: np.ndarray) -> np.ndarray:
    """HWC uint8 RGB -> CHW float32 in [-1, 1]."""
    return (rgb_u8.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)


def classifier_input(bgr: np.ndarray, size: int = CLASSIFIER_SIZE) -> np.ndarray:
    """One BGR uint8 image of any size -> (3, size, size) float32.

    Squashing rather than cropping keeps the whole border in view: a uniform border is most of
    what tells a product shot from a room.
    """
    small = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)
    return to_unit(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))


def segmenter_input(bgr: np.ndarray, hw: tuple[int, int] = SEGMENTER_HW) -> np.ndarray:
    """One BGR uint8 image -> (3, h, w) float32; the mask is resized back by the caller."""
    small = cv2.resize(bgr, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
    return to_unit(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))


def decode(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> BGR uint8; ValueError when OpenCV cannot read them."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("undecodable image")
    return img
