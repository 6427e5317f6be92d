"""ONNX export: dynamic batch, IR version onnxruntime can read, parity < 1e-4 on fresh inputs."""
import numpy as np
import onnx
import pytest
import torch

from adstage.generative import edgeconnect as ec
from adstage.generative import export as ex
from adstage.generative import inference
from adstage.generative import pix2pix as p2p
from adstage.onnx_runtime import providers

torch.set_num_threads(1)


def _trained_like(module):
    # Random non-default weights and one train-mode pass so spectral-norm vectors are non-trivial.
    ec.init_weights(module, gain=0.2)
    return module


CASES = {
    "edge": (lambda: ex.EdgeExport(_trained_like(ec.EdgeGenerator(8, 1))), {"grey": 1, "edges": 1, "hole": 1}, 8),
    "inpaint": (lambda: ex.InpaintExport(_trained_like(ec.InpaintGenerator(8, 1))), {"image": 3, "edges": 1, "hole": 1}, 8),
    "pix2pix": (lambda: ex.Pix2PixExport(p2p.UnetGenerator(3, 3, 5, 8)), {"product": 3}, 32),
}


@pytest.mark.parametrize("case", list(CASES))
def test_export_parity_dynamic_batch_and_ir_version(case, tmp_path):
    build, inputs, multiple = CASES[case]
    torch.manual_seed(0)
    model = build()
    model.train()
    with torch.no_grad():  # spectral norm power iteration runs in train mode only
        model(*[torch.rand(2, c, 2 * multiple, 2 * multiple) for c in inputs.values()])
    example = [torch.rand(1, c, 2 * multiple, 2 * multiple) for c in inputs.values()]
    path = ex.export_onnx(model, example, tmp_path / f"{case}.onnx", list(inputs), ["out"])
    proto = onnx.load(str(path))
    assert proto.ir_version <= 13  # onnxruntime 1.31 reads IR <= 13
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    # Fresh random inputs with another batch size and spatial size than the export example.
    shapes = {n: (3, c, 3 * multiple, 2 * multiple) for n, c in inputs.items()}
    err = ex.parity(model, path, shapes, seed=int(np.random.SeedSequence().entropy % 2**31), trials=2)
    assert err < 1e-4
    assert model.training  # export worked on an eval copy; the original keeps its mode


def test_edgeconnect_inpainter_runs_numpy_end_to_end(tmp_path):
    torch.manual_seed(0)
    edge = ex.EdgeExport(ec.EdgeGenerator(8, 1))
    paint = ex.InpaintExport(ec.InpaintGenerator(8, 1))
    s = [torch.rand(1, 1, 16, 16)] * 3
    pe = ex.export_onnx(edge, s, tmp_path / "e.onnx", ["grey", "edges", "hole"], ["edges_out"])
    pi = ex.export_onnx(paint, [torch.rand(1, 3, 16, 16)] + s[:2], tmp_path / "i.onnx", ["image", "edges", "hole"], ["image_out"])
    runner = inference.EdgeConnectInpainter(inference.session(pe), inference.session(pi))
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (37, 50, 3), dtype=np.uint8)  # not a multiple of 4
    hole = np.zeros((37, 50), np.uint8)
    hole[10:20, 5:30] = 255
    out = runner([img], [hole])[0]
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[hole == 0], img[hole == 0])


def test_providers_choice():
    assert providers("cpu") == ["CPUExecutionProvider"]
    assert providers("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(ValueError):
        providers("tpu")
