"""Inference settings and their benchmarks: onnxruntime session options from Settings, threads
from the Spark task, the fp16 variant of the generators, the CUDA path's fallback, and the three
benches still running on minimal sizes (their numbers are read in docs/benchmarks.md, not here)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from adstage.config import Settings
from adstage.generative.inference import EdgeConnectInpainter
from adstage.onnx_runtime import CUDA, OrtOptions, float16_model, session_from_bytes, task_cpus
from adstage.staging.copy_paste import CROP_BATCH_CPU, crop_batch_for
from test_bench import load

MODELS = Path(__file__).resolve().parents[1] / "models" / "generative"
HAS_CUDA = CUDA in ort.get_available_providers()


def blobs() -> list[bytes]:
    return [(MODELS / f"edgeconnect_{k}.onnx").read_bytes() for k in ("edge", "inpaint")]


def test_session_options_come_from_settings():
    s = Settings.load({}, environ={"ADSTAGE_ONNX_GRAPH_OPTIMIZATION": "basic",
                                   "ADSTAGE_ONNX_CPU_ARENA": "false"})
    opts = OrtOptions.from_settings(s)
    assert (opts.threads, opts.graph_optimization, opts.cpu_arena, opts.mem_pattern) == (
        0, "basic", False, True)
    so = opts.session_options()
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert (so.enable_cpu_mem_arena, so.enable_mem_pattern) == (False, True)
    # Outside a Spark task "the task's CPUs" is one thread; an explicit count wins.
    assert so.intra_op_num_threads == 1 and so.inter_op_num_threads == 1
    assert OrtOptions(threads=3).session_options().intra_op_num_threads == 3
    with pytest.raises(ValueError, match="graph optimisation"):
        OrtOptions(graph_optimization="max")


def test_intra_op_threads_follow_the_spark_task(spark):
    import pyarrow as pa

    def probe(batches):
        for _ in batches:
            yield pa.RecordBatch.from_pylist([{"cpus": task_cpus(),
                                               "threads": OrtOptions().resolved_threads()}])

    rows = spark.range(2, numPartitions=2).mapInArrow(probe, "cpus long, threads long").collect()
    expected = int(spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    assert {(r.cpus, r.threads) for r in rows} == {(expected, expected)}


def test_crop_batch_defaults_by_provider():
    s = Settings.load({}, environ={})
    assert crop_batch_for(s, cuda=False) == CROP_BATCH_CPU
    assert crop_batch_for(s, cuda=True) == s.inference_batch
    assert crop_batch_for(Settings.load({"staging_inpaint_batch": "3"}, environ={}), True) == 3


def test_fp16_generators_keep_their_interface_and_match_fp32_on_cpu():
    import onnx

    rng = np.random.default_rng(0)
    feeds = [{"grey": rng.random((2, 1, 32, 32), dtype=np.float32)},
             {"image": rng.random((2, 3, 32, 32), dtype=np.float32)}]
    hole = np.zeros((2, 1, 32, 32), np.float32)
    hole[:, :, 8:24, 8:24] = 1
    for blob, feed in zip(blobs(), feeds):
        half = float16_model(blob)
        model = onnx.load_from_string(half)
        assert model.ir_version == onnx.load_from_string(blob).ir_version
        assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
        s32, s16 = (ort.InferenceSession(b, providers=["CPUExecutionProvider"])
                    for b in (blob, half))
        assert [(i.name, i.type) for i in s16.get_inputs()] == [
            (i.name, i.type) for i in s32.get_inputs()]
        assert s16.get_outputs()[0].type == "tensor(float)"
        feed = {**feed, "edges": (rng.random((2, 1, 32, 32)) > 0.9).astype(np.float32),
                "hole": hole}
        a, b = s32.run(None, feed)[0], s16.run(None, feed)[0]
        assert b.dtype == np.float32 and 0 < np.abs(a - b).max() < 5e-3


def test_without_cuda_the_same_interface_runs_fp32_on_the_cpu():
    if HAS_CUDA:
        pytest.skip("this onnxruntime build has CUDA: the fallback is not reachable")
    e, i = (session_from_bytes(b, "auto", options=OrtOptions(1), fp16=True) for b in blobs())
    assert e.get_providers() == i.get_providers() == ["CPUExecutionProvider"]
    runner = EdgeConnectInpainter(e, i)
    assert runner.bind_device is None  # no I/O binding on the CPU by default
    # fp16 is ignored on the CPU: the very session fp32 gets.
    assert session_from_bytes(blobs()[1], "auto", options=OrtOptions(1)) is i
    img = np.random.default_rng(0).integers(0, 256, (24, 28, 3), dtype=np.uint8)
    hole = np.zeros((24, 28), np.uint8)
    hole[4:16, 6:20] = 255
    out = runner([img], [hole])[0]
    assert out.shape == img.shape and np.array_equal(out[hole == 0], img[hole == 0])
    # The I/O-binding path (CUDA's), run here on the CPU device: the same result.
    bound = EdgeConnectInpainter(e, i, io_binding=True)
    assert bound.bind_device == ("cpu", 0)
    assert np.array_equal(bound([img], [hole])[0], out)
    with pytest.raises(RuntimeError, match="onnx_device=cuda"):
        session_from_bytes(blobs()[0], "cuda")


# ---- the benches, on minimal sizes ---------------------------------------------------------
@pytest.mark.slow
def test_gap_crops_bench_runs(tmp_path):
    out = tmp_path / "gap.json"
    assert load("gap_crops").main(["--ikea-products", "0", "--demo-products", "6",
                                   "--demo-size", "192", "128", "--crop-size", "64",
                                   "--batches", "1", "2", "--repeats", "1",
                                   "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    row = res["rows"][0]
    assert row["pairs"] == "demo" and row["images"] >= 1 and row["mean_crops"] >= 1
    # Full frame costs its padded pixels, fixed crops theirs; the job takes the cheaper per image.
    assert row["flop_ratio"] == pytest.approx(row["gflop_full_frame"] / row["gflop_gap_crops"],
                                              rel=0.02)
    assert row["gflop_fixed_crops"] == pytest.approx(
        row["mean_crops"] * 64 ** 2 * res["kflop_per_pixel"] * 1e3 / 1e9, rel=0.02)
    assert row["gflop_gap_crops"] <= min(row["gflop_fixed_crops"], row["gflop_full_frame"]) + 0.01
    assert set(row["ms_per_image_by_batch"]) == {"1", "2"} and row["best_batch"] in (1, 2)


@pytest.mark.slow
def test_onnx_sessions_bench_runs(tmp_path):
    out = tmp_path / "sessions.json"
    # Two real worker processes started together, and one per session setting.
    assert load("onnx_sessions").main(["--crops", "2", "--batch", "1", "--size", "32",
                                       "--repeats", "1", "--shapes", "2x1",
                                       "--options", "basic/off/on", "--crop-batches", "2",
                                       "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [(s["tasks"], s["threads_per_task"], s["vs_first"]) for s in res["shapes"]] == [
        (2, 1, 1.0)]
    assert res["shapes"][0]["crops_per_s"] > 0
    assert [(o["graph_optimization"], o["cpu_arena"], o["mem_pattern"], o["vs_first"])
            for o in res["options"]] == [("basic", False, True, 1.0)]
    assert res["options"][0]["ms_per_call"] > 0 and res["options"][0]["peak_rss_mb"] > 0
    assert [b["batch"] for b in res["crop_batches"]] == [2] and res["crop_batches"][0]["ms_per_crop"] > 0


def test_gpu_bench_runs_or_says_why_not(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    assert load("gpu_inference").main(["--batches", "1", "--size", "32", "--repeats", "1",
                                       "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    if not HAS_CUDA:
        assert "skipped: " in capsys.readouterr().out and CUDA in res["skipped"]
    elif "skipped" not in res:  # a CUDA build on a machine whose GPU is missing still skips
        assert {r["variant"] for r in res["rows"]} >= {"cuda_fp32_iobinding", "cuda_fp16_iobinding"}
