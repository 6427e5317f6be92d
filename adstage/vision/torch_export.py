"""ONNX export shared by the vision models (torch-only; training code imports it)."""
from __future__ import annotations

from pathlib import Path

# onnxruntime 1.32 reads IR <= 13; pin a conservative IR so older runtimes on executors load it.
MAX_IR_VERSION = 10
OPSET = 17


def export_onnx(model, example, path: str | Path, input_name: str, output_name: str) -> Path:
    """Export `model` in eval mode with a dynamic batch axis, check it, return the path."""
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    with torch.no_grad():
        torch.onnx.export(model, (example,), str(path), input_names=[input_name],
                          output_names=[output_name],
                          dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    proto = onnx.load(str(path))
    proto.ir_version = min(proto.ir_version, MAX_IR_VERSION)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path
