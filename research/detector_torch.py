"""The shipped Open Images SSD (ONNX) as a trainable torch module, with a new class head.

The ONNX graph that tf2onnx made from MediaPipe's TFLite model is small: Conv, Clip (ReLU6),
Add, Transpose, Reshape, Concat, and Casts of fp16 weights. ``OnnxSsd`` runs those nodes in
order with torch ops; every Conv's weight and bias becomes a parameter, so the pretrained
backbone and box head fine-tune as they are. ``classes`` chooses the class head: the listed
old classes keep their rows of the 1x1 class convolutions, a new class starts from the row
of ``init_from`` (or the background row), so training begins from what the detector knew.

Experiments only (torch); the nightly path runs the exported ONNX on onnxruntime.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

OLD_CLASSES = 24   # the label map's 23 classes + background


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxSsd(torch.nn.Module):
    def __init__(self, model_bytes: bytes, old_labels: Sequence[str], classes: Sequence[str],
                 init_from: Mapping[str, str] | None = None):
        """``classes``: the new head's classes, background first (``old_labels[0]``'s row).
        A class also in ``old_labels`` keeps its row; another starts from
        ``init_from[class]``'s row (an old label) or the background's."""
        super().__init__()
        m = onnx.load_from_string(model_bytes)
        self.graph = m.graph
        self.classes = list(classes)
        init_from = dict(init_from or {})
        rows = []
        for c in self.classes:
            src = c if c in old_labels else init_from.get(c, old_labels[0])
            rows.append(list(old_labels).index(src))
        self.rows = rows
        consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i)
                                         for i in m.graph.initializer}
        for n in m.graph.node:  # fp16 weights cast once, here
            if n.op_type == "Cast" and n.input[0] in consts:
                consts[n.output[0]] = consts[n.input[0]].astype(np.float32)
        self.nodes = [n for n in m.graph.node
                      if not (n.op_type == "Cast" and n.input[0] in consts)]
        self.params = torch.nn.ParameterDict()
        self.consts: dict[str, torch.Tensor] = {}
        k = len(self.classes)
        class_heads = self._class_head_convs(consts)
        for n in self.nodes:
            if n.op_type == "Conv":
                w, b = consts[n.input[1]], consts[n.input[2]]
                if n.output[0] in class_heads:
                    a = w.shape[0] // OLD_CLASSES
                    w = w.reshape(a, OLD_CLASSES, *w.shape[1:])[:, rows].reshape(a * k, *w.shape[1:])
                    b = b.reshape(a, OLD_CLASSES)[:, rows].reshape(-1)
                self.params[n.input[1]] = torch.nn.Parameter(torch.from_numpy(w.copy()))
                self.params[n.input[2]] = torch.nn.Parameter(torch.from_numpy(b.copy()))
        for name, v in consts.items():
            if name in self.params:
                continue
            if v.dtype == np.int64 and v.ndim == 1 and len(v) == 3 and v[-1] == OLD_CLASSES:
                v = np.array([v[0], -1, k], np.int64)   # the class reshape: K classes now
            self.consts[name] = torch.from_numpy(np.array(v))
        self.outputs = [o.name for o in m.graph.output]
        self.input_name = m.graph.input[0].name

    def _class_head_convs(self, consts) -> set[str]:
        """Outputs of the 1x1 convs that feed the class reshape (``[1, -1, 24]``)."""
        producer = {o: n for n in self.nodes for o in n.output}
        heads = set()
        for n in self.nodes:
            if n.op_type != "Reshape":
                continue
            shape = consts.get(n.input[1])
            if shape is None or shape.ndim != 1 or len(shape) != 3 or shape[-1] != OLD_CLASSES:
                continue
            src = producer[n.input[0]]
            while src.op_type == "Transpose":
                src = producer[src.input[0]]
            if src.op_type == "Conv":
                heads.add(src.output[0])
        return heads

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: (B, 300, 300, 3) float in [-1, 1] (``detectors.ssd_input``) -> box encodings
        (B, N, 4) and class logits (B, N, K)."""
        return self.outputs_of(self.run_env({self.input_name: x}))

    def outputs_of(self, env: dict) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, logits = (env[o] for o in self.outputs)
        if boxes.shape[-1] != 4:
            boxes, logits = logits, boxes
        return boxes, logits

    def run_env(self, env: dict, start: int = 0, stop: int | None = None) -> dict:
        """Run ``self.nodes[start:stop]`` in order on the named tensors of ``env`` (grown in
        place): the whole graph, or its frozen bottom (to cache) or its trained top."""
        batch = next(iter(env.values())).shape[0]

        def val(name):
            if name in env:
                return env[name]
            if name in self.params:
                return self.params[name]
            return self.consts[name]

        for n in self.nodes[start:stop]:
            a = _attrs(n)
            op = n.op_type
            if op == "Conv":
                inp = val(n.input[0])
                pads = a.get("pads", [0, 0, 0, 0])
                if any(pads):
                    inp = F.pad(inp, (pads[1], pads[3], pads[0], pads[2]))
                out = F.conv2d(inp, val(n.input[1]), val(n.input[2]),
                               stride=a.get("strides", [1, 1]),
                               dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
            elif op == "Clip":
                out = torch.clamp(val(n.input[0]), float(val(n.input[1])),
                                  float(val(n.input[2])))
            elif op == "Add":
                out = val(n.input[0]) + val(n.input[1])
            elif op == "Transpose":
                out = val(n.input[0]).permute(*a["perm"])
            elif op == "Reshape":
                shape = [int(s) for s in val(n.input[1]).tolist()]
                shape[0] = batch if shape[0] == 1 else shape[0]
                out = val(n.input[0]).reshape(*shape)
            elif op == "Concat":
                out = torch.cat([val(i) for i in n.input], dim=a["axis"])
            elif op == "Cast":
                out = val(n.input[0]).float()
            else:
                raise NotImplementedError(f"ONNX op {op} ({n.name})")
            env[n.output[0]] = out
        return env
