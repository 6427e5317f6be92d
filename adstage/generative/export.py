"""ONNX export of the generators (dynamic batch, height, width) and a torch parity check.

Exported graphs include EdgeConnect's input assembly and composition, so the torch-free
nightly job feeds plain arrays and can't get the masking conventions wrong:

  edgeconnect edge    (grey N×1×H×W, edges N×1×H×W, hole N×1×H×W) -> edges N×1×H×W (merged)
  edgeconnect inpaint (image N×3×H×W, edges N×1×H×W, hole N×1×H×W) -> image N×3×H×W (composited)
  pix2pix             (product N×3×H×W)                            -> scene N×3×H×W
All in [0, 1] float32, hole = 1 (white); H, W multiples of 4 (EdgeConnect) / 2**num_downs (pix2pix).
"""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from adstage.generative import edgeconnect as ec

OPSET = 17
# onnxruntime 1.31+ reads IR <= 13 (ORT 1.32 here); older torch writes 8, newer may write more.
MAX_IR_VERSION = 10


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


def eval_copy(model: nn.Module) -> nn.Module:
    """Deep-copied eval-mode model with spectral norm folded into plain weights.

    In eval mode spectral norm runs no power iteration, so ``W / sigma`` computed once is
    exact (and the exporter has no ``vdot``).  A deep copy shares the dynamically created
    ``Parametrized*`` class with the original, and removing a parametrization deletes the
    property *from that class*; each copied module therefore gets a private class first.
    """
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if parametrize.is_parametrized(module):
            cls = module.__class__
            module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return model


def export_onnx(model: nn.Module, example: Sequence[torch.Tensor], path: str | Path,
                input_names: Sequence[str], output_names: Sequence[str], opset: int = OPSET) -> Path:
    """Export in eval mode with dynamic batch/height/width axes; clamp the IR version.

    :param model: module to export (copied; the original is untouched).
    :param example: example inputs (shapes only matter for tracing).
    :param path: output ``.onnx`` path.
    :param input_names: graph input names, one per example tensor.
    :param output_names: graph output names.
    :param opset: ONNX opset (>= 17: InstanceNormalization / reflect Pad as used here).
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = eval_copy(model)
    axes = {n: {0: "batch", 2: "height", 3: "width"} for n in list(input_names) + list(output_names)}
    with torch.no_grad():
        # dynamo=False: the TorchScript exporter needs no onnxscript (not installed here).
        torch.onnx.export(model, tuple(example), str(path), input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=axes, opset_version=opset,
                          do_constant_folding=True, dynamo=False)
    proto = onnx.load(str(path))
    if proto.ir_version > MAX_IR_VERSION:
        proto.ir_version = MAX_IR_VERSION
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


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
