"""ONNX export for every network the project trains (torch-only: training code imports it).

Eval mode with spectral norm folded, the TorchScript exporter (no onnxscript needed), dynamic
axes, the model checked, and the IR version clamped to what the executors' onnxruntime reads.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

OPSET = 17
# onnxruntime 1.31+ reads IR <= 13 (ORT 1.32 here); older torch writes 8, newer may write more.
MAX_IR_VERSION = 10


class SigmoidHead(nn.Module):
    """A logits net with the sigmoid inside the graph, so ONNX returns probabilities.

    :param body: the network producing logits.
    :param flat: flatten the output, e.g. ``(N, 1) -> (N,)`` for a one-score classifier.
    """

    def __init__(self, body: nn.Module, flat: bool = False):
        super().__init__()
        self.body, self.flat = body, flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x).sigmoid()
        return y.flatten() if self.flat else y


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
                input_names: Sequence[str], output_names: Sequence[str], opset: int = OPSET,
                dynamic_axes: Mapping[str, Mapping[int, str]] | None = None) -> Path:
    """Export in eval mode with dynamic axes (default: batch, height, width of every input and
    output, for fully convolutional nets); clamp the IR version.

    :param model: module to export (copied; the original is untouched).
    :param example: example inputs (shapes only matter for tracing).
    :param path: output ``.onnx`` path.
    :param input_names: graph input names, one per example tensor.
    :param output_names: graph output names.
    :param opset: ONNX opset (>= 17: InstanceNormalization / reflect Pad as used here).
    :param dynamic_axes: per name, the axes that vary (e.g. ``{0: "batch"}`` for a classifier).
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = eval_copy(model)
    axes = {n: dict(a) for n, a in dynamic_axes.items()} if dynamic_axes is not None else \
        {n: {0: "batch", 2: "height", 3: "width"} for n in list(input_names) + list(output_names)}
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
