"""EdgeConnect networks (Nazeri et al., 2019), after the official ``src/networks.py``.

Plain modules with explicit arguments.  ``base_channels=64, res_blocks=8`` is the paper's
network (~97 GFLOP per 256² forward for the inpainting generator); the project's CPU default
is much smaller (see ``EdgeConnectTrainConfig``).  Spatial sizes must be multiples of 4.

Inputs/outputs (all float32, [0, 1], mask 1 = hole):
  EdgeGenerator:    cat(grey·(1-m), edges·(1-m), m)        N×3×H×W -> edges N×1×H×W (sigmoid)
  InpaintGenerator: cat(rgb·(1-m) + m, full edge map)      N×4×H×W -> rgb   N×3×H×W
  Discriminator:    image (+ condition)                    -> (N×1×H/8×W/8 map, [5 feature maps])
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm as _sn


def _maybe_sn(module: nn.Module, use: bool) -> nn.Module:
    return _sn(module) if use else module


class ResnetBlock(nn.Module):
    """Dilated residual block: reflect-pad, 3×3 dilated conv, IN, ReLU, 3×3 conv, IN.

    :param dim: channels.
    :param dilation: dilation of the first conv (EdgeConnect uses 2).
    :param use_spectral_norm: wrap convs in spectral norm (edge generator does).
    """

    def __init__(self, dim: int, dilation: int = 2, use_spectral_norm: bool = False):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(dilation),
            _maybe_sn(nn.Conv2d(dim, dim, 3, dilation=dilation, bias=not use_spectral_norm), use_spectral_norm),
            nn.InstanceNorm2d(dim, track_running_stats=False),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            _maybe_sn(nn.Conv2d(dim, dim, 3, dilation=1, bias=not use_spectral_norm), use_spectral_norm),
            nn.InstanceNorm2d(dim, track_running_stats=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # No ReLU after the sum, as in EdgeConnect (and "Identity Mappings in Deep ResNets").
        return x + self.conv_block(x)


class _EncoderDecoder(nn.Module):
    """Shared body: 7×7 conv, two stride-2 4×4 convs, dilated res blocks, mirror decoder."""

    def __init__(self, in_channels: int, out_channels: int, base_channels: int, res_blocks: int,
                 use_spectral_norm: bool):
        super().__init__()
        c, sn = base_channels, use_spectral_norm
        bias = not sn
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3),
            _maybe_sn(nn.Conv2d(in_channels, c, 7, bias=bias), sn),
            nn.InstanceNorm2d(c, track_running_stats=False), nn.ReLU(True),
            _maybe_sn(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1, bias=bias), sn),
            nn.InstanceNorm2d(2 * c, track_running_stats=False), nn.ReLU(True),
            _maybe_sn(nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1, bias=bias), sn),
            nn.InstanceNorm2d(4 * c, track_running_stats=False), nn.ReLU(True),
        )
        self.middle = nn.Sequential(*[ResnetBlock(4 * c, 2, sn) for _ in range(res_blocks)])
        self.decoder = nn.Sequential(
            _maybe_sn(nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1, bias=bias), sn),
            nn.InstanceNorm2d(2 * c, track_running_stats=False), nn.ReLU(True),
            _maybe_sn(nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1, bias=bias), sn),
            nn.InstanceNorm2d(c, track_running_stats=False), nn.ReLU(True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(c, out_channels, 7),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.middle(self.encoder(x)))


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """EdgeConnect's normal(0, 0.02) init for convs; called explicitly, not at construction."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class EdgeGenerator(nn.Module):
    """Edge generator G1: (grey, masked edges, mask) -> edge probability map.

    :param base_channels: channels after the first conv (paper: 64).
    :param res_blocks: dilated residual blocks in the middle (paper: 8).
    :param use_spectral_norm: spectral norm on every conv but the last (paper: True).
    """

    def __init__(self, base_channels: int = 64, res_blocks: int = 8, use_spectral_norm: bool = True):
        super().__init__()
        self.net = _EncoderDecoder(3, 1, base_channels, res_blocks, use_spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``N×3×H×W`` = cat(grey·(1-m), edges·(1-m), m)."""
        return torch.sigmoid(self.net(x))


class InpaintGenerator(nn.Module):
    """Image completion generator G2: (masked rgb, full edge map) -> rgb in [0, 1].

    :param base_channels: channels after the first conv (paper: 64).
    :param res_blocks: dilated residual blocks (paper: 8).
    """

    def __init__(self, base_channels: int = 64, res_blocks: int = 8):
        super().__init__()
        self.net = _EncoderDecoder(4, 3, base_channels, res_blocks, use_spectral_norm=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``N×4×H×W`` = cat(rgb·(1-m) + m, edges)."""
        return (torch.tanh(self.net(x)) + 1) / 2


class Discriminator(nn.Module):
    """70×70-style PatchGAN used by EdgeConnect for both stages; returns features too.

    :param in_channels: 2 for the edge stage (grey + edges), 3 for the inpainting stage.
    :param base_channels: paper 64.
    :param use_sigmoid: True for the nsgan loss (probabilities out).
    :param use_spectral_norm: paper True.
    """

    def __init__(self, in_channels: int, base_channels: int = 64, use_sigmoid: bool = True,
                 use_spectral_norm: bool = True):
        super().__init__()
        c, sn, bias = base_channels, use_spectral_norm, not use_spectral_norm
        self.use_sigmoid = use_sigmoid
        self.conv1 = nn.Sequential(_maybe_sn(nn.Conv2d(in_channels, c, 4, 2, 1, bias=bias), sn), nn.LeakyReLU(0.2, True))
        self.conv2 = nn.Sequential(_maybe_sn(nn.Conv2d(c, 2 * c, 4, 2, 1, bias=bias), sn), nn.LeakyReLU(0.2, True))
        self.conv3 = nn.Sequential(_maybe_sn(nn.Conv2d(2 * c, 4 * c, 4, 2, 1, bias=bias), sn), nn.LeakyReLU(0.2, True))
        self.conv4 = nn.Sequential(_maybe_sn(nn.Conv2d(4 * c, 8 * c, 4, 1, 1, bias=bias), sn), nn.LeakyReLU(0.2, True))
        self.conv5 = _maybe_sn(nn.Conv2d(8 * c, 1, 4, 1, 1, bias=bias), sn)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return ``(patch map, [conv1..conv5 features])``."""
        f1 = self.conv1(x)
        f2 = self.conv2(f1)
        f3 = self.conv3(f2)
        f4 = self.conv4(f3)
        f5 = self.conv5(f4)
        out = torch.sigmoid(f5) if self.use_sigmoid else f5
        return out, [f1, f2, f3, f4, f5]


def edge_generator_input(grey: torch.Tensor, edges: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Assemble G1's input; the hole's grey values and edges are erased (unknown)."""
    keep = 1 - hole
    return torch.cat([grey * keep, edges * keep, hole], dim=1)


def inpaint_generator_input(rgb: torch.Tensor, edges: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Assemble G2's input: hole filled with white (as EdgeConnect), plus the full edge map."""
    return torch.cat([rgb * (1 - hole) + hole, edges], dim=1)


def merge_edges(predicted: torch.Tensor, known: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Known edges outside the hole, predicted edges inside it (EdgeConnect's composition)."""
    return predicted * hole + known * (1 - hole)
