"""The pipeline-throughput and FAISS-pairing benchmarks: their sampling, aggregation and table
reading on small real inputs, and the FAISS bench end to end at 1k vectors. Their numbers are
read in docs/benchmarks.md and docs/sizing.md, not here; no timing is asserted."""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from test_bench import BENCH


def load(name: str):
    # Registered in sys.modules before it runs: its dataclasses resolve their module there.
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pt = load("pipeline_throughput")


def test_process_kinds_of_a_spark_job():
    assert pt.process_kind("java", ["/usr/bin/java", "-cp", "x"]) == "jvm"
    assert pt.process_kind("python3", ["/v/bin/python", "-m", "pyspark.daemon"]) == "python_worker"
    assert pt.process_kind("python3", ["/v/bin/python", "jobs/classify.py", "--ds", "x"]) == "driver"


def test_tree_sampler_sees_a_childs_memory_and_cpu():
    # A grandchild that holds ~64 MB and spins for a moment: the sampler must see both.
    code = ("import time; b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096]); "
            "t = time.process_time()\nwhile time.process_time() - t < 0.3: pass\ntime.sleep(0.2)")
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import subprocess, sys; subprocess.run([sys.executable, '-c', "
                               f"{code!r}])"])
    sampler = pt.TreeSampler(parent.pid, interval=0.05)
    sampler.start()
    parent.wait()
    sampler.stop()
    rss, _ = pt.peaks(sampler.samples)
    assert rss["total"] > 64 << 20
    assert sampler.cpu["driver"] > 0.15


def test_peaks_overheads_and_summary():
    samples = [pt.Sample(0.0, {"jvm": 100, "python_worker": 50}, 30),
               pt.Sample(0.1, {"jvm": 80, "python_worker": 90}, 60)]
    rss, worker = pt.peaks(samples)
    assert rss == {"jvm": 100, "python_worker": 90, "total": 170} and worker == 60
    # 2 slots x 10 s wall = 20 core-seconds, 16 of them model time.
    assert pt.overhead_share(10.0, 2, 16.0) == pytest.approx(0.25)
    assert pt.overhead_share(10.0, 2, 0.0) is None
    assert pt.cpu_overhead_share({"jvm": 2.0, "python_worker": 8.0}, 8.0) == pytest.approx(0.25)
    stages = [pt.StageResult("classify", 100, 30.0, model_s=10.0),
              pt.StageResult("stage_copy_paste", 100, 60.0, model_s=100.0, images=40),
              pt.StageResult("stage_vanilla", 100, 30.0, model_s=50.0, images=40)]
    s = pt.summary(stages, slots=2)
    # 80 images in 2 minutes of stages.
    assert s["staged_images"] == 80 and s["staged_images_per_min"] == pytest.approx(40.0)
    assert s["copy_paste_images_per_min"] == pytest.approx(20.0)
    assert s["staging_overhead_share"] == pytest.approx((90 * 2 - 150) / 150)
    md = pt.markdown(stages, 2, {"products": 100, "when": "now", "load_start": "1",
                                 "load_end": "2"})
    assert all(f"| {r.stage} |" in md for r in stages)


def test_date_rows_reads_one_date_and_method_from_delta(tmp_path):
    d1, d2 = dt.date(2026, 11, 24), dt.date(2026, 11, 25)
    table = pa.table({"product_id": ["a", "b", "c", "d"], "method": ["copy_paste", "vanilla",
                                                                     "copy_paste", "copy_paste"],
                      "seconds": [1.5, 2.0, 0.25, 9.0], "ds": pa.array([d1, d1, d1, d2])})
    write_deltalake(str(tmp_path / "staged_images"), table, partition_by=["ds"])
    assert pt.date_rows(tmp_path, "staged_images", "2026-11-24", ("copy_paste",)) == (2, 2, 1.75)
    assert pt.date_rows(tmp_path, "staged_images", "2026-11-24") == (3, 3, 3.75)
    assert pt.date_rows(tmp_path, "missing_table", "2026-11-24") == (0, 0, 0.0)


def test_date_rows_counts_carried_rows_but_not_their_seconds(tmp_path):
    d1, d2 = dt.date(2026, 11, 24), dt.date(2026, 11, 25)
    # On d2, "a" was carried (the run id of d1's night), "b" computed by d2's own run.
    table = pa.table({"product_id": ["a", "b", "a", "b"], "seconds": [1.5, 2.0, 1.5, 4.0],
                      "mlflow_run_id": ["r1", "r1", "r1", "r2"],
                      "ds": pa.array([d1, d1, d2, d2])})
    write_deltalake(str(tmp_path / "staged_images"), table, partition_by=["ds"])
    assert pt.date_rows(tmp_path, "staged_images", "2026-11-24") == (2, 2, 3.5)
    assert pt.date_rows(tmp_path, "staged_images", "2026-11-25") == (2, 1, 4.0)


@pytest.mark.slow
def test_faiss_bench_at_1k_vectors(tmp_path):
    out = tmp_path / "faiss"
    # nprobe = nlist (25 lists at 1k vectors) scans every list: IVF must then be exact too.
    assert load("pairing_faiss").main(
        ["--synthetic", "--sizes", "1000", "--queries", "20", "--base-masks", "12",
         "--methods", "flat", "ivf_flat", "--nprobe", "2", "25", "--repeats", "1",
         "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    by = {(r["method"], r["param"]): r for r in rows}
    assert by[("flat", "")]["recall10"] == 1.0 and by[("flat", "")]["recall100"] == 1.0
    assert by[("ivf_flat", "nprobe=25")]["recall100"] >= 0.99
    assert by[("ivf_flat", "nprobe=2")]["recall100"] < by[("ivf_flat", "nprobe=25")]["recall100"]
    assert by[("numpy", "")]["index_bytes"] == 1000 * 1024 * 4
    assert "| 1,000 | ivf_flat | nprobe=25 |" in out.with_suffix(".md").read_text()


def test_faiss_bench_numpy_search_is_exact():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    q = rng.normal(size=(5, 16)).astype(np.float32)
    ids = load("pairing_faiss").numpy_search(x, q, 10, block=2)
    assert (ids == np.argsort(-(q @ x.T), axis=1)[:, :10]).all()


def _run(n: int, slots: int, wall: float, cpu: float, model: float) -> dict:
    # The model's CPU is the Python workers' share; `model_s` (rows' seconds) is not used.
    return {"meta": {"slots": slots}, "stages": [
        {"stage": "stage_copy_paste", "products": n, "wall_s": wall,
         "cpu_s": {"jvm": cpu - model, "python_worker": model}, "model_s": 10 * model}]}


def test_sizing_fits_fixed_and_per_product_costs():
    sz = load("sizing")
    # wall = 30 s + 0.5 core-s/product on 2 slots; CPU = 10 s + 0.4 s/product; model 0.3 s.
    runs = [_run(n, 2, 30 + 0.5 * n / 2, 10 + 0.4 * n, 0.3 * n) for n in (100, 1000)]
    (c,) = sz.fit(runs)
    assert (c.fixed_s, c.core_s, c.fixed_cpu_s, c.cpu_s, c.model_s) == pytest.approx(
        (30, 0.5, 10, 0.4, 0.3))
    assert sz.predict_wall(c, 10_000, 2) == pytest.approx(30 + 2500)
    assert sz.predict_cpu(c, 10_000) == pytest.approx(10 + 4000)
    assert sz.cores_needed([c], 10**6, 14_400) == pytest.approx(0.5e6 / (14_400 - 30))
    assert sz.cores_needed([c], 10**6, 14_400, "cpu_s", 0.1) == pytest.approx(0.4e5 / 14_390)
    gpus, cores = sz.gpu_split([c], 10**6, 14_400, speedup=10)
    assert (gpus, cores) == pytest.approx((0.3e6 / 10 / 14_390, 0.1e6 / 14_390))
    # A stage that runs no model on a GPU (animate's clip encoding) keeps all its work on cores.
    gpus, cores = sz.gpu_split([c], 10**6, 14_400, speedup=10, gpu_stages=("classify",))
    assert (gpus, cores) == pytest.approx((0.0, 0.4e6 / 14_390))
    assert sz.cores_needed([c], 10, 20) == float("inf")
    assert sz.cores_needed([c], 10**6, 14_400, "cpu_s", {"stage_copy_paste": 0.1}) == \
        sz.cores_needed([c], 10**6, 14_400, "cpu_s", 0.1)
    assert sz.cores_needed([c], 10**6, 14_400, "cpu_s", {"ingest": 0.1}) == \
        sz.cores_needed([c], 10**6, 14_400, "cpu_s", 1.0)
    # One run: no intercept to fit, everything counts as per-product cost.
    (one,) = sz.fit(runs[:1])
    assert one.fixed_s == 0 and one.core_s == pytest.approx((30 + 25) * 2 / 100)
    assert sz.fit(runs[:1], min_runs=2) == []
    with pytest.raises(ValueError, match="slot counts"):
        sz.fit([runs[0], _run(1000, 4, 1, 1, 1)])



def test_an_exiting_worker_keeps_its_kind_and_an_unknown_one_is_left_out():
    """A Python worker on its way out has an empty command line: it must not pass for the
    driver (the copy-paste bench once showed its workers' CPU twice that way)."""
    worker = ["/venv/bin/python", "-m", "pyspark.daemon", "pyspark.worker"]
    assert pt.sample_kind("python", worker, None) == "python_worker"
    assert pt.sample_kind("python", [], "python_worker") == "python_worker"
    assert pt.sample_kind("python", [], None) is None
    assert pt.process_kind("python", []) == "driver"  # what it was taken for before


def test_sampler_reports_the_processes_that_used_the_cpu():
    burn = "import time; t = time.process_time(); exec('while time.process_time() - t < 0.6: pass')"
    proc = subprocess.Popen([sys.executable, "-c", burn, "pyspark.daemon"])
    sampler = pt.TreeSampler(proc.pid, interval=0.05)
    sampler.start()
    proc.wait()
    sampler.stop()
    assert sampler.cpu["python_worker"] >= 0.3
    assert sampler.top()[0]["kind"] == "python_worker" and "pyspark.daemon" in sampler.top()[0]["cmd"]
