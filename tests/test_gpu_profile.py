"""GPU executors through Spark resource profiles, exercised on CPU.

Spark refuses task resource profiles in ``local[*]``, so the profile runs on a real standalone
cluster (master + worker JVMs on loopback, ``tools.cluster_local``) whose worker advertises one
fake GPU (address "0", from a discovery script written here).  The inference helper must make
Spark hand that GPU to the profiled stage's tasks -- and only to them -- while onnxruntime, which
has no CUDA provider here, still runs on the CPU.  No CUDA code runs in these tests.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.cluster_local import spark_home, standalone_cluster
from adstage.config import Settings
from adstage.resources import (discovery_script, inference_profile, map_in_arrow, profile_for,
                               task_gpu_id)
from conftest import make_settings
from gpu_profile_job import PROBE_DDL, make_probe, tiny_model

JOB = Path(__file__).resolve().parent / "gpu_profile_job.py"
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


# ---- no profile unless asked for --------------------------------------------------------------
def test_no_profile_by_default():
    assert Settings.load({}, environ={}).gpu_per_task == 0
    assert inference_profile(Settings.load({}, environ={})) is None
    assert inference_profile(Settings.load({}, environ={"ADSTAGE_GPU_PER_TASK": "0"})) is None


def test_profile_shape_without_and_with_dynamic_allocation():
    s = Settings.load({"gpu_per_task": "0.5", "gpu_per_executor": "2",
                       "gpu_discovery_script": "/x/find-gpus.sh"}, environ={})
    task_only = inference_profile(s)
    assert {k: v.amount for k, v in task_only.taskResources.items()} == {"cpus": 1, "gpu": 0.5}
    assert task_only.executorResources == {}  # a TaskResourceProfile: runs on existing executors
    dyn = inference_profile(s, dynamic_allocation=True)
    gpu = dyn.executorResources["gpu"]
    assert (gpu.amount, gpu.discoveryScript) == (2, "/x/find-gpus.sh")
    with pytest.raises(ValueError, match="0.5"):
        inference_profile(Settings.load({"gpu_per_task": "0.7"}, environ={}))


def test_default_discovery_script_is_the_shipped_one():
    path = discovery_script(Settings.load({}, environ={}))
    assert path.endswith("docker/gpu-discovery.sh") and Path(path).is_file()


def test_cuda_provider_gets_the_task_gpu(monkeypatch):
    import onnxruntime as ort

    from adstage.onnx_runtime import providers

    # CPU behaviour is unchanged, a device id or not.
    assert providers("cpu", 3) == [CPU]
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    assert providers("auto") == providers("auto", 1) == [CPU]
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    assert providers("auto") == [CUDA, CPU]
    assert providers("auto", 1) == providers("cuda", "1") == [(CUDA, {"device_id": 1}), CPU]
    assert task_gpu_id() is None  # not inside a Spark task


# ---- local[*]: the same helper, no profile ------------------------------------------------------
def test_local_mode_runs_without_a_profile(spark, tmp_path, caplog):
    df = spark.range(0, 4, numPartitions=2)
    probe = make_probe(tiny_model(), "auto")
    plain = [r.asDict() for r in map_in_arrow(df, probe, PROBE_DDL,
                                              make_settings(tmp_path)).collect()]
    assert sorted(r["id"] for r in plain) == [0, 1, 2, 3]
    assert {(r["resources"], r["gpu_id"], r["providers"], r["y"]) for r in plain} == {
        ("{}", None, CPU, 4.0)}
    # gpu_per_task > 0 in local mode: Spark would refuse the profile; the helper leaves it off.
    asked = make_settings(tmp_path, gpu_per_task="1")
    assert profile_for(df, asked) is None
    assert "ignored" in caplog.text
    assert map_in_arrow(df, probe, PROBE_DDL, asked).count() == 4


# ---- standalone cluster with a fake GPU: the profile itself -----------------------------------
@pytest.mark.e2e
def test_profile_on_a_standalone_cluster_with_a_fake_gpu(tmp_path):
    script = tmp_path / "fake-gpu.sh"
    script.write_text('#!/bin/sh\necho \'{"name": "gpu", "addresses": ["0"]}\'\n')
    script.chmod(0o755)
    out = tmp_path / "seen.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADSTAGE_")}
    env.update(PYSPARK_PYTHON=sys.executable)
    worker_gpu = {"spark.worker.resource.gpu.amount": "1",
                  "spark.worker.resource.gpu.discoveryScript": str(script)}
    with standalone_cluster(tmp_path / "cluster", cores=2, memory="1g",
                            worker_conf=worker_gpu) as cluster:
        proc = subprocess.run(
            [str(spark_home() / "bin" / "spark-submit"), "--master", cluster.master_url,
             "--deploy-mode", "client", "--executor-memory", "1g", "--total-executor-cores", "2",
             # Executors get the worker's GPU; default tasks ask for none of it.
             "--conf", "spark.executor.resource.gpu.amount=1",
             "--conf", f"spark.executor.resource.gpu.discoveryScript={script}",
             "--conf", "spark.ui.enabled=false",
             str(JOB), str(out)],
            env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    seen = json.loads(out.read_text())
    assert seen["master"] == cluster.master_url
    assert seen["profile"] == {"task": {"cpus": 1.0, "gpu": 1.0}, "executor": {}}
    # The profiled stage: every task held the GPU Spark assigned, read back as CUDA device 0 ...
    profiled = seen["profiled"]
    assert sorted(r["id"] for r in profiled) == list(range(8))
    assert {(r["resources"], r["gpu_id"]) for r in profiled} == {('{"gpu": ["0"]}', 0)}
    # ... one task at a time, though the executor has 2 cores: one GPU, one GPU per task ...
    spans = sorted({(r["t0"], r["t1"]) for r in profiled})
    assert len(spans) == 4 and all(b[0] >= a[1] for a, b in zip(spans, spans[1:])), spans
    # ... and onnxruntime, with no CUDA provider in this build, ran on the CPU all the same.
    assert {(r["providers"], r["y"]) for r in profiled} == {(CPU, 4.0)}
    # The same stage without a profile (gpu_per_task = 0): no GPU asked for, none given.
    plain = seen["plain"]
    assert sorted(r["id"] for r in plain) == list(range(8))
    assert {(r["resources"], r["gpu_id"], r["providers"]) for r in plain} == {("{}", None, CPU)}
