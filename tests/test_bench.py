"""The benchmarks still run (tiny sizes; their numbers are read in docs/benchmarks.md, not here)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_edgeconnect_inference_bench_runs(tmp_path):
    out = tmp_path / "rows.json"
    assert load("edgeconnect_inference").main(
        ["--size", "32", "--widths", "8", "--threads", "1", "--repeats", "1", "--out", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["gflop_per_call"] > 0 and row["max_abs_err"] < 1e-4
