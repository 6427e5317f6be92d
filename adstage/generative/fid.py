"""Torch feature extractors for training-side code (``boundary_eval`` and friends).

The nightly evaluation imports none of this: it runs its extractors with onnxruntime
(``adstage.evaluation.features``: the FID Inception ``adstage-fid-inception`` built at set-up
by ``tools/build_fid.py``, and ``adstage-randfeat-v1``) and computes the Fréchet distance in
``adstage.evaluation.frechet`` — re-exported here as :func:`frechet_distance`, one
implementation for both sides.

``adstage-randfeat-v1`` — a fixed-seed random conv net (weights drawn from numpy's PCG64 with
seed 20230728, He-normal, 4 stride-2 3×3 convs 3→32→64→128→256, ReLU, global mean pool ->
256-d).  Random conv features are a known, weaker proxy for perceptual similarity: numbers are
comparable *within* this project only, never with published FIDs. The ONNX twin in
``adstage.evaluation.features`` draws the same weights (parity tested).

If a local TorchScript Inception file is configured (e.g. the NVIDIA/StyleGAN3
``inception-2015-12-05.pt``, called as ``net(uint8 NCHW, return_features=True)``),
:class:`TorchScriptInception` uses it instead.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from adstage.evaluation.frechet import frechet_distance  # noqa: F401  (one implementation)

RANDFEAT_NAME = "adstage-randfeat-v1"
RANDFEAT_SEED = 20230728


class RandFeatV1(nn.Module):
    """Fixed-seed random conv features (see module docstring); input RGB [0, 1] NCHW."""

    name = RANDFEAT_NAME
    widths = (3, 32, 64, 128, 256)

    def __init__(self):
        super().__init__()
        rng = np.random.Generator(np.random.PCG64(RANDFEAT_SEED))
        convs = []
        for cin, cout in zip(self.widths[:-1], self.widths[1:]):
            conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
            w = rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))
            conv.weight.data = torch.from_numpy(w.astype(np.float32))
            conv.weight.requires_grad_(False)
            convs.append(conv)
        self.convs = nn.ModuleList(convs)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.5) / 0.25
        for conv in self.convs:
            x = F.relu(conv(x))
        return x.mean(dim=(2, 3))


class TorchScriptInception(nn.Module):
    """Inception-v3 pool features from a local TorchScript file (never downloaded).

    :param path: local ``.pt`` TorchScript file taking uint8 NCHW and ``return_features``.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        self.net = torch.jit.load(str(path), map_location="cpu").eval()
        self.name = f"inception-torchscript:{Path(path).name}"

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x.clamp(0, 1) * 255).round().to(torch.uint8), return_features=True)


def feature_extractor(inception_path: str = "") -> nn.Module:
    """Inception from a local file if given, else ``adstage-randfeat-v1``."""
    return (TorchScriptInception(inception_path) if inception_path else RandFeatV1()).eval()


@torch.no_grad()
def features(extractor: nn.Module, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Features of ``N x H x W x 3`` float [0, 1] images as ``N x D`` float64."""
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch].transpose(0, 3, 1, 2))).float()
        out.append(extractor(x).double().numpy())
    return np.concatenate(out)
