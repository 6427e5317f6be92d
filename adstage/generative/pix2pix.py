"""pix2pix networks (Isola et al., 2017) for vanilla staging: product on white -> scene.

After the official ``models/networks.py``: recursive U-Net skip blocks and an N-layer
PatchGAN.  Instance norm by default (``norm="batch"`` is the paper's) so that exported
models are batch-independent and identical in train/eval apart from dropout.
Images are in [-1, 1] (tanh output); spatial sizes must be multiples of ``2**num_downs``.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ValueError(f"norm must be batch|instance, got {kind!r}")


class UnetSkipBlock(nn.Module):
    """One U-Net level: down conv, the inner submodule, up conv, skip concatenation.

    :param outer: channels on the outside of this level.
    :param inner: channels inside.
    :param in_channels: input channels if not ``outer`` (outermost level only).
    :param submodule: the next level in, or None for the innermost.
    :param outermost: the outermost level has no skip and ends in tanh.
    :param norm: ``"batch"`` or ``"instance"``.
    :param dropout: 0.5 dropout after the up conv (the paper's noise source).
    """

    def __init__(self, outer: int, inner: int, in_channels: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False,
                 norm: str = "instance", dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        in_channels = outer if in_channels is None else in_channels
        use_bias = norm == "instance"
        down = nn.Conv2d(in_channels, inner, 4, 2, 1, bias=use_bias)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif submodule is None:  # innermost: no norm on a 1×1 bottleneck
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, _norm(norm, outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2, True), down, _norm(norm, inner), submodule,
                      nn.ReLU(True), up, _norm(norm, outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        # Not in-place: LeakyReLU(inplace) on x would corrupt the skip connection.
        return torch.cat([x, self.model(x.clone())], dim=1)


class UnetGenerator(nn.Module):
    """U-Net generator.

    :param in_channels: input channels (3: product on white).
    :param out_channels: output channels (3: staged scene).
    :param num_downs: levels; 8 for 256² in the paper (1×1 bottleneck).
    :param base_channels: ``ngf`` (paper 64).
    :param max_mult: channel multiplier cap (paper 8).
    :param norm: ``"instance"`` (default here) or ``"batch"`` (paper).
    :param dropout: dropout in the inner decoder levels (paper True; off at export).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8,
                 base_channels: int = 64, max_mult: int = 8, norm: str = "instance", dropout: bool = True):
        super().__init__()
        if num_downs < 5:
            raise ValueError("num_downs must be >= 5 (four fixed outer levels + innermost)")
        c = base_channels
        top = c * max_mult
        block = UnetSkipBlock(top, top, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(top, top, submodule=block, norm=norm, dropout=dropout)
        mults = [min(m, max_mult) for m in (1, 2, 4, 8)]
        for outer_m, inner_m in [(mults[2], mults[3]), (mults[1], mults[2]), (mults[0], mults[1])]:
            block = UnetSkipBlock(c * outer_m, c * inner_m, submodule=block, norm=norm)
        self.model = UnetSkipBlock(out_channels, c, in_channels=in_channels, submodule=block,
                                   outermost=True, norm=norm)
        self.num_downs = num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``N×C×H×W`` in [-1, 1]; H, W multiples of ``2**num_downs``."""
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """N-layer PatchGAN (n_layers=3 -> 70×70 receptive field) on cat(condition, image).

    :param in_channels: 6 for conditional pix2pix (input + output image).
    :param base_channels: ``ndf`` (paper 64).
    :param n_layers: stride-2 layers after the first (paper 3).
    :param norm: ``"instance"`` or ``"batch"``.
    Returns ``(logits map, [features])`` like EdgeConnect's discriminator.
    """

    def __init__(self, in_channels: int = 6, base_channels: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        c = base_channels
        use_bias = norm == "instance"
        blocks: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, c, 4, 2, 1), nn.LeakyReLU(0.2, True))]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(c * prev, c * mult, 4, stride, 1, bias=use_bias),
                                        _norm(norm, c * mult), nn.LeakyReLU(0.2, True)))
        blocks.append(nn.Conv2d(c * mult, 1, 4, 1, 1))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return x, feats


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """pix2pix's normal(0, 0.02) init; norm layers (if affine) get N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
