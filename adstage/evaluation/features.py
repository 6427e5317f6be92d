"""The project's named feature extractor, fed with the pipeline's BGR uint8 images.

`adstage.generative.fid` works on RGB float NHWC; every image in this project is OpenCV BGR
uint8, so the conversion lives here once instead of in every caller (a silently swapped
channel order still yields plausible-looking, wrong, distances).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch.nn as nn

from adstage.generative import fid


class Embedder:
    """A feature extractor with its name (numbers are only comparable under the same name)."""

    def __init__(self, extractor: nn.Module, batch: int = 64):
        self.extractor = extractor
        self.name: str = str(getattr(extractor, "name", type(extractor).__name__))
        self.batch = batch
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        """Feature width, probed once with a blank image (needed to shape an empty result)."""
        if self._dim is None:
            probe = np.zeros((1, 64, 64, 3), dtype=np.float32)
            self._dim = int(fid.features(self.extractor, probe, 1).shape[1])
        return self._dim

    def __call__(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """``N x D`` float64 features of BGR uint8 images (an N x H x W x 3 array or a list)."""
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float64)
        batch = np.asarray(images) if isinstance(images, np.ndarray) else np.stack(images)
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"expected N x H x W x 3 BGR images, got shape {batch.shape}")
        rgb = batch[..., ::-1].astype(np.float32) / 255.0
        return fid.features(self.extractor, rgb, self.batch)


def embedder(inception_path: str = "") -> Embedder:
    """The local TorchScript Inception if a path is given, else ``adstage-randfeat-v1``."""
    return Embedder(fid.feature_extractor(inception_path))


def whole_image_features(embed: Embedder, images: list[np.ndarray], size: int) -> np.ndarray:
    """Features of whole BGR images, each area-resized to ``size x size`` first.

    A fixed size makes sets of mixed resolutions comparable; INTER_AREA avoids the aliasing
    that would otherwise show up as texture the extractor picks on.
    """
    return embed([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
