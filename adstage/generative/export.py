"""ONNX export of the generators (dynamic batch, height, width) and a torch parity check.

Exported graphs include EdgeConnect's input assembly and composition, so the torch-free
nightly job feeds plain arrays and can't get the masking conventions wrong:

  edgeconnect edge    (grey N×1×H×W, edges N×1×H×W, hole N×1×H×W) -> edges N×1×H×W (merged)
  edgeconnect inpaint (image N×3×H×W, edges N×1×H×W, hole N×1×H×W) -> image N×3×H×W (composited)
  pix2pix             (product N×3×H×W)                            -> scene N×3×H×W
All in [0, 1] float32, hole = 1 (white); H, W multiples of 4 (EdgeConnect) / 2**num_downs (pix2pix).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from adstage.generative import edgeconnect as ec

from adstage.onnx_export import MAX_IR_VERSION, OPSET, eval_copy, export_onnx  # noqa: F401


class EdgeExport(nn.Module):
    """G1 with input masking and edge merging baked in."""

    def __init__(self, g1: nn.Module):
        super().__init__()
        self.g1 = g1

    def forward(self, grey: torch.Tensor, edges: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        known = edges * (1 - hole)
        return ec.merge_edges(self.g1(ec.edge_generator_input(grey, known, hole)), known, hole)


class InpaintExport(nn.Module):
    """G2 with input masking and composition baked in (known pixels pass through)."""

    def __init__(self, g2: nn.Module):
        super().__init__()
        self.g2 = g2

    def forward(self, image: torch.Tensor, edges: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        out = self.g2(ec.inpaint_generator_input(image, edges, hole))
        return out * hole + image * (1 - hole)


class Pix2PixExport(nn.Module):
    """U-Net with the [0, 1] <-> [-1, 1] rescaling baked in."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet

    def forward(self, product: torch.Tensor) -> torch.Tensor:
        return (self.unet(product * 2 - 1) + 1) / 2


def parity(model: nn.Module, onnx_path: str | Path, shapes: Mapping[str, Sequence[int]],
           seed: int = 0, trials: int = 2, binary: Sequence[str] = ("hole",)) -> float:
    """Max abs difference between torch (eval) and onnxruntime on fresh random inputs.

    :param model: the torch module that was exported.
    :param onnx_path: exported file.
    :param shapes: input name -> shape; use shapes *different* from the export example so
        the dynamic axes are exercised.
    :param seed: numpy seed for the random inputs (drawn fresh per trial).
    :param trials: number of random draws.
    :param binary: inputs drawn as {0, 1} masks rather than uniform [0, 1).
    """
    import onnxruntime as ort

    model = eval_copy(model)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(trials):
        feeds = {}
        for name, shape in shapes.items():
            a = rng.random(tuple(shape), dtype=np.float32)
            feeds[name] = (a > 0.7).astype(np.float32) if name in binary else a
        with torch.no_grad():
            ref = model(*[torch.from_numpy(feeds[n]) for n in shapes]).numpy()
        got = sess.run(None, feeds)[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
