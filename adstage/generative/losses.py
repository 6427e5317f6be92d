"""EdgeConnect / pix2pix losses: adversarial, feature matching, (weighted) L1, and the
optional VGG perceptual + style losses.

The VGG losses need ImageNet weights, which this project does not ship or download: pass a
local torchvision-style VGG19 ``state_dict`` path (keys ``features.N.weight``) to enable them.
They are off by default, so default training = L1 + adversarial + feature matching.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class AdversarialLoss(nn.Module):
    """GAN loss on discriminator outputs.

    :param kind: ``"nsgan"`` (BCE on sigmoid outputs, EdgeConnect default), ``"lsgan"``
        (MSE) or ``"hinge"`` (on raw outputs).
    :param with_logits: if True, ``nsgan`` expects logits (pix2pix style) instead of
        probabilities.
    """

    def __init__(self, kind: str = "nsgan", with_logits: bool = False):
        super().__init__()
        if kind not in {"nsgan", "lsgan", "hinge"}:
            raise ValueError(f"unknown GAN loss {kind!r}")
        self.kind = kind
        self.with_logits = with_logits

    def forward(self, outputs: torch.Tensor, is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
        """Loss for ``outputs`` judged as real (``is_real``) or fake.

        :param outputs: discriminator output map.
        :param is_real: target label.
        :param for_discriminator: hinge loss differs between D and G updates.
        """
        if self.kind == "hinge":
            if for_discriminator:
                return F.relu(1 - outputs).mean() if is_real else F.relu(1 + outputs).mean()
            return -outputs.mean()
        target = torch.full_like(outputs, 1.0 if is_real else 0.0)
        if self.kind == "lsgan":
            return F.mse_loss(outputs, target)
        if self.with_logits:
            return F.binary_cross_entropy_with_logits(outputs, target)
        return F.binary_cross_entropy(outputs.clamp(1e-7, 1 - 1e-7), target)


def feature_matching_loss(fake_feats: Sequence[torch.Tensor], real_feats: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum of L1 distances between discriminator features of fake and (detached) real inputs."""
    loss = fake_feats[0].new_zeros(())
    for fake, real in zip(fake_feats, real_feats):
        loss = loss + F.l1_loss(fake, real.detach())
    return loss


def weighted_l1(output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                hole: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error, optionally per-pixel weighted and normalised by the hole area.

    EdgeConnect divides its whole-image L1 by the mean hole fraction so that small holes
    still matter; with a boundary weight map the band's errors count ``weight`` times more
    (the total is *not* renormalised by the weights, so the emphasis is real, not a re-split).

    :param output: ``N x C x H x W`` prediction.
    :param target: same-shape ground truth.
    :param weight: ``N x 1 x H x W`` per-pixel weights, broadcast over channels.
    :param hole: ``N x 1 x H x W`` mask (1 = hole) for the area normalisation.
    """
    err = (output - target).abs()
    if weight is not None:
        err = err * weight
    loss = err.mean()
    if hole is not None:
        loss = loss / hole.mean().clamp(min=1e-3)
    return loss


class VGG19Features(nn.Module):
    """torchvision's ``vgg19().features`` layout, built locally so no torchvision is needed.

    Returns the activations after relu{1..5}_{1..4} that EdgeConnect's losses use.
    """

    _CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
            512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
    _NAMES = ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4",
              "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1", "relu5_2", "relu5_3", "relu5_4"]

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in self._CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                c = int(v)
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    @classmethod
    def from_state_dict(cls, path: str | Path) -> "VGG19Features":
        """Load a torchvision VGG19 state dict (``features.*`` keys; classifier ignored)."""
        model = cls()
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        feats = {k: v for k, v in state.items() if k.startswith("features.")}
        missing, _ = model.load_state_dict(feats, strict=False)
        missing = [m for m in missing if m not in {"mean", "std"}]
        if missing:
            raise ValueError(f"{path}: not a torchvision VGG19 state dict, missing {missing[:4]}")
        for p in model.parameters():
            p.requires_grad_(False)
        return model.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x`` in [0, 1], ``N x 3 x H x W``."""
        x = (x - self.mean) / self.std
        out, i = {}, 0
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                out[self._NAMES[i]] = x
                i += 1
        return out


def _gram(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    f = x.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class PerceptualStyleLoss(nn.Module):
    """EdgeConnect's perceptual (relu{1..5}_1) and style (Gram of relu2_2..relu5_2) losses.

    :param vgg: a frozen :class:`VGG19Features`.
    """

    def __init__(self, vgg: VGG19Features):
        super().__init__()
        self.vgg = vgg

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(perceptual, style)`` for images in [0, 1]."""
        fo, ft = self.vgg(output), self.vgg(target)
        perceptual = sum(F.l1_loss(fo[k], ft[k]) for k in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))
        style = sum(F.l1_loss(_gram(fo[k]), _gram(ft[k])) for k in ("relu2_2", "relu3_4", "relu4_4", "relu5_2"))
        return perceptual, style
