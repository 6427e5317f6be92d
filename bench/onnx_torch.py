"""Run an ONNX graph op by op with torch kernels: the "torch eager" column of the benchmarks.

The shipped detectors and mask net exist only as ONNX (converted from TFLite and TF.js, or
shipped as ONNX by rembg): there are no torch weights or module definitions to run eagerly.
``TorchGraph`` executes the graph's nodes in order with the torch op each stands for (Conv ->
``F.conv2d``, Resize -> bilinear interpolation, ...), under ``torch.inference_mode``: the same
work, and the same per-op Python dispatch, as an ``nn.Module.forward`` written by hand would
do. It covers the ops of the three shipped graphs only and says which op it lacks otherwise.

``TorchGraph(model_bytes, threads).run(None, {input: array})`` mirrors an onnxruntime session,
so ``Detector`` and ``SalientMasker`` run on it unchanged. Benchmarks only (torch): the nightly
path runs onnxruntime.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

_DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 10: torch.float16,
           11: torch.float64}


def _attrs(node) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _pad_conv(x: torch.Tensor, pads) -> tuple[torch.Tensor, tuple[int, int]]:
    """ONNX pads [top, left, bottom, right]: symmetric ones go to the conv, others to F.pad."""
    t, l, b, r = pads
    if (t, l) == (b, r):
        return x, (t, l)
    return F.pad(x, (l, r, t, b)), (0, 0)


def _source(out_len: int, in_len: int, scale: float, mode: str) -> torch.Tensor:
    """Source coordinate of every output index, by ONNX's coordinate_transformation_mode."""
    i = torch.arange(out_len, dtype=torch.float32)
    if mode == "asymmetric":
        return i / scale
    if mode == "align_corners":
        return i * (in_len - 1) / max(out_len - 1, 1)
    if mode == "half_pixel" or (mode == "pytorch_half_pixel" and out_len > 1):
        return (i + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return torch.zeros_like(i)
    raise NotImplementedError(f"Resize coordinate_transformation_mode {mode!r}")


def _lerp(x: torch.Tensor, dim: int, out_len: int, scale: float, mode: str) -> torch.Tensor:
    n = x.shape[dim]
    src = _source(out_len, n, scale, mode).clamp(0, n - 1)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=n - 1)
    w = (src - lo).to(x.dtype)
    shape = [1] * x.dim()
    shape[dim] = out_len
    w = w.view(shape)
    return x.index_select(dim, lo) * (1 - w) + x.index_select(dim, hi) * w


def _resize(node, x, roi=None, scales=None, sizes=None):
    a = _attrs(node)
    if a.get("mode", "nearest") != "linear":
        raise NotImplementedError(f"Resize mode {a.get('mode')!r}")
    mode = a.get("coordinate_transformation_mode", "half_pixel")
    if sizes is not None and sizes.numel():
        out = [int(v) for v in sizes.tolist()]
        sc = [o / i for o, i in zip(out, x.shape)]
    else:
        sc = [float(v) for v in scales.tolist()]
        out = [int(np.floor(i * s)) for i, s in zip(x.shape, sc)]
    for dim in (2, 3):
        if out[dim] != x.shape[dim]:
            x = _lerp(x, dim, out[dim], sc[dim], mode)
    return x


def _conv(node, x, w, b=None):
    a = _attrs(node)
    x, pad = _pad_conv(x, a.get("pads", [0, 0, 0, 0]))
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise NotImplementedError(f"Conv auto_pad {a['auto_pad']!r}")
    return F.conv2d(x, w, b, stride=tuple(a.get("strides", [1, 1])), padding=pad,
                    dilation=tuple(a.get("dilations", [1, 1])), groups=a.get("group", 1))


def _maxpool(node, x):
    a = _attrs(node)
    x, pad = _pad_conv(x, a.get("pads", [0, 0, 0, 0]))
    return F.max_pool2d(x, tuple(a["kernel_shape"]), tuple(a.get("strides", [1, 1])), pad,
                        ceil_mode=bool(a.get("ceil_mode", 0)))


def _reshape(node, x, shape):
    dims = [x.shape[i] if (v == 0 and not _attrs(node).get("allowzero")) else v
            for i, v in enumerate(shape.tolist())]
    return x.reshape(dims)


def _slice(node, x, starts=None, ends=None, axes=None, steps=None):
    a = _attrs(node)
    starts = starts.tolist() if starts is not None else a["starts"]
    ends = ends.tolist() if ends is not None else a["ends"]
    axes = axes.tolist() if axes is not None else a.get("axes", list(range(len(starts))))
    steps = steps.tolist() if steps is not None else [1] * len(starts)
    idx = [slice(None)] * x.dim()
    for s, e, ax, st in zip(starts, ends, axes, steps):
        n = x.shape[ax]
        s, e = max(min(s, n), -n), max(min(e, n), -n - 1)
        idx[ax] = slice(s, e, st)
    return x[tuple(idx)]


def _unsqueeze(node, x, axes=None):
    axes = axes.tolist() if axes is not None else _attrs(node)["axes"]
    for ax in sorted(a if a >= 0 else a + x.dim() + len(axes) for a in axes):
        x = x.unsqueeze(ax)
    return x


def _clip(node, x, lo=None, hi=None):
    a = _attrs(node)
    lo = lo if lo is not None else a.get("min")
    hi = hi if hi is not None else a.get("max")
    return torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi))


def _div(node, a, b):
    if a.dtype.is_floating_point or b.dtype.is_floating_point:
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


def _topk(node, x, k):
    a = _attrs(node)
    v, i = torch.topk(x, int(k.reshape(-1)[0]), dim=a.get("axis", -1),
                      largest=bool(a.get("largest", 1)), sorted=bool(a.get("sorted", 1)))
    return v, i


def _gather(node, x, i):
    ax = _attrs(node).get("axis", 0) % x.dim()
    i = torch.where(i < 0, i + x.shape[ax], i)
    out = torch.index_select(x, ax, i.reshape(-1))
    return out.reshape(tuple(x.shape[:ax]) + tuple(i.shape) + tuple(x.shape[ax + 1:]))


OPS: dict[str, Callable] = {
    "Conv": _conv, "MaxPool": _maxpool, "Resize": _resize, "Reshape": _reshape,
    "Slice": _slice, "Unsqueeze": _unsqueeze, "Clip": _clip, "Div": _div, "TopK": _topk,
    "Relu": lambda n, x: F.relu(x),
    "Sigmoid": lambda n, x: torch.sigmoid(x),
    "Add": lambda n, a, b: a + b,
    "Sub": lambda n, a, b: a - b,
    "Mul": lambda n, a, b: a * b,
    "Equal": lambda n, a, b: a == b,
    "Transpose": lambda n, x: x.permute(*_attrs(n)["perm"]),
    "Concat": lambda n, *xs: torch.cat(xs, dim=_attrs(n)["axis"]),
    "Cast": lambda n, x: x.to(_DTYPES[_attrs(n)["to"]]),
    "Shape": lambda n, x: torch.tensor(x.shape, dtype=torch.int64),
    "Gather": _gather,
    "GlobalAveragePool": lambda n, x: x.mean(dim=(2, 3), keepdim=True),
}


class _Input:
    def __init__(self, name: str):
        self.name = name


class TorchGraph:
    """An ONNX model as a sequence of torch ops, with an onnxruntime-like ``run``."""

    def __init__(self, model: bytes, threads: int = 1):
        m = onnx.load_from_string(model)
        self.threads = threads
        self.values: dict[str, torch.Tensor] = {
            i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
        self.nodes = []
        for n in m.graph.node:
            if n.op_type == "Constant":
                self.values[n.output[0]] = torch.from_numpy(
                    numpy_helper.to_array(n.attribute[0].t).copy())
            elif n.op_type == "Cast" and n.input[0] in self.values:   # fp16 weights: once
                self.values[n.output[0]] = OPS["Cast"](n, self.values[n.input[0]])
            elif n.op_type not in OPS:
                raise NotImplementedError(f"ONNX op {n.op_type} has no torch counterpart here")
            else:
                self.nodes.append(n)
        self.inputs = [_Input(i.name) for i in m.graph.input if i.name not in self.values]
        self.outputs = [o.name for o in m.graph.output]

    def get_inputs(self) -> list[_Input]:
        return self.inputs

    def run(self, output_names, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch.set_num_threads(self.threads)
        env = dict(self.values)
        with torch.inference_mode():
            for name, arr in feeds.items():
                env[name] = torch.from_numpy(np.ascontiguousarray(arr))
            for n in self.nodes:
                args = [env[i] if i else None for i in n.input]
                out = OPS[n.op_type](n, *args)
                for name, v in zip(n.output, out if isinstance(out, tuple) else (out,)):
                    env[name] = v
        return [env[o].numpy() for o in (output_names or self.outputs)]
