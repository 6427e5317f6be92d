"""The one ONNX exporter on the vision nets: batch-only dynamic axes, parity with torch, IR
version the executors' onnxruntime reads."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from adstage.onnx_export import MAX_IR_VERSION, export_onnx
from adstage.vision import classifier, segmenter


@pytest.mark.parametrize("module, hw, out", [
    (classifier, (classifier.CLASSIFIER_SIZE, classifier.CLASSIFIER_SIZE), "p_staged"),
    (segmenter, segmenter.SEGMENTER_HW, "p_product"),
])
def test_vision_nets_export_with_a_batch_axis(tmp_path, module, hw, out):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = module.exportable(module.build_net()).eval()
    path = export_onnx(net, [torch.zeros(1, 3, *hw)], tmp_path / "m.onnx", ["image"], [out],
                       dynamic_axes={"image": {0: "batch"}, out: {0: "batch"}})
    assert onnx.load(str(path)).ir_version <= MAX_IR_VERSION
    x = np.random.default_rng(1).random((3, 3, *hw), dtype=np.float32)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert got.shape[0] == 3 and np.abs(got - want).max() < 1e-4
