"""The benchmarks still run (tiny sizes; their numbers are read in docs/benchmarks.md, not here)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_edgeconnect_inference_bench_runs(tmp_path):
    out = tmp_path / "rows.json"
    assert load("edgeconnect_inference").main(
        ["--size", "32", "--widths", "8", "--threads", "1", "--repeats", "1", "--calib", "1",
         "--catalog-products", "12", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = {r["engine"]: r for r in result["rows"]}
    assert set(rows) == {"torch", "ort_fp32", "ort_int8_qdq", "ort_int8_qoperator"}
    assert rows["ort_fp32"]["gflop_per_crop"] > 0 and rows["ort_fp32"]["g2_max_abs_diff_vs_torch"] < 1e-4
    assert rows["ort_int8_qdq"]["int8_ops"] > 0 and result["crops_per_image"] >= 1


@pytest.mark.slow
def test_gap_fill_bench_runs(tmp_path):
    out = tmp_path / "gap.json"
    assert load("gap_fill").main(["--demo-products", "12", "--rooms", "2", "--repeats", "1",
                                  "--out", str(out)]) == 0
    rows = {r["filler"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"telea", "edgeconnect_fp32"}
    assert all(r["crops"] > 0 and r["ms_per_crop"] > 0 and 0 <= r["hole_l1"] <= 1
               for r in rows.values())
