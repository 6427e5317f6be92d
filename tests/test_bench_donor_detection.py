"""The donor-detection bench still runs (two generated demo rooms, one thread, one int8
precision and torch eager; its numbers are read in docs/benchmarks.md, not here), and its torch
eager runner computes what onnxruntime computes."""
from __future__ import annotations

import json

import pytest

from test_bench import load


@pytest.mark.slow
def test_donor_detection_bench_runs_on_two_demo_rooms(tmp_path):
    out = tmp_path / "donor"
    assert load("donor_detection").main(
        ["--ikea-root", str(tmp_path / "no-ikea"), "--rooms", "0", "--demo-rooms", "2",
         "--threads", "1", "--int8", "qoperator", "--torch", "--calib-rooms", "1",
         "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["rooms"]["ikea"] == 0 and result["rooms"]["demo"] == 2
    assert len(result["rooms"]["calibration"]) == 1   # a third demo room, not a measured one
    rows = {r["precision"]: r for r in result["timings"]}
    assert set(rows) == {"fp32", "torch", "qoperator"}
    for r in rows.values():
        assert r["rooms"] == 2 and r["threads"] == 1
        assert r["oid_ssd"]["n"] == 2 and r["coco_centernet"]["n"] == 2
        assert r["donor_slots"]["median_ms"] > 0
    assert result["quantization"]["qoperator"]["u2netp"]["int8_ops"] > 0
    agree = result["agreement"]["qoperator"]
    assert set(agree["detections"]) == {"oid_ssd", "coco_centernet"}
    assert agree["u2netp_mask_iou"]["crops"] == rows["fp32"]["crops"]
    assert "| fp32 | 1 |" in out.with_suffix(".md").read_text()
    eager = result["agreement"]["torch"]   # the same graphs: the same boxes and slots
    assert all(d["recall"] == d["precision"] == 1.0 for d in eager["detections"].values()
               if d["fp32_boxes"])
    assert eager["usable_slots"]["fp32"] == eager["usable_slots"]["matched"]
    assert "torch" not in result["quantization"]


@pytest.fixture(scope="module")
def demo_room(tmp_path_factory):
    """One staged demo photo, generated once for the three graphs."""
    import cv2

    from adstage.demo.catalog import generate_catalog

    cat = tmp_path_factory.mktemp("eager") / "cat"
    generate_catalog(cat, 4, seed=3, ds="2026-11-24")
    return cv2.imread(str(sorted((cat / "images" / "staged").glob("*.png"))[0]))


@pytest.mark.parametrize("name", ["adstage-detector-oid-ssd", "adstage-detector-coco-centernet",
                                  "adstage-salient-u2netp"])
def test_torch_eager_runs_each_shipped_graph_as_onnxruntime_does(name, demo_room):
    import numpy as np

    from adstage import model_catalog
    from adstage.onnx_runtime import session_from_bytes
    from adstage.registry import MODELS_DIR
    from adstage.vision.detectors import Detector
    from adstage.vision.salient import SalientMasker, u2netp_input
    from bench.onnx_torch import TorchGraph

    photo = demo_room
    spec = model_catalog.get(name)
    blob = (MODELS_DIR / spec.folder / spec.file).read_bytes()
    runner = (Detector if spec.role == "detector" else SalientMasker)(blob, spec, "cpu", 1)
    feed = {runner._input: runner._preprocess(photo) if spec.role == "detector"
            else u2netp_input(photo[:200, :240])}
    ort = session_from_bytes(blob, "cpu", 1).run(None, feed)
    eager = TorchGraph(blob, threads=1).run(None, feed)
    assert [a.shape for a in ort] == [b.shape for b in eager]
    # float32 sums in another order: CenterNet's outputs are box corners in 512-pixel units
    for a, b in zip(ort, eager):
        assert np.allclose(a, b, rtol=1e-3, atol=1e-3), float(np.abs(a - b).max())
