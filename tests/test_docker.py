"""docker/ cannot be built here (no Docker engine): check it statically against the lock and
the code, so it cannot drift from what the tests run."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
OUTSIDE_LOCK = {"psycopg2-binary", "onnxruntime-gpu"}  # each explained in its Dockerfile


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


def dockerfiles() -> list[Path]:
    return sorted(DOCKER.glob("*.Dockerfile"))


def test_every_pinned_version_is_the_locked_one():
    pins = lock()
    for path in dockerfiles():
        text = path.read_text()
        assert "-c requirements.lock" in text, path.name
        for name, version in re.findall(r"([A-Za-z0-9_.\-]+)==([0-9][^\s\\]*)", text):
            key = name.lower().replace("_", "-")
            if key in OUTSIDE_LOCK:
                continue
            assert pins.get(key) == version, f"{path.name}: {name}=={version}, lock has {pins.get(key)}"


def test_gpu_onnxruntime_matches_the_cpu_pin():
    text = (DOCKER / "spark-executor.Dockerfile").read_text()
    assert f"onnxruntime-gpu=={lock()['onnxruntime']}" in text
    assert "torch" not in re.sub(r"#.*", "", text).replace("import torch", "").replace(
        "torch must not", "")


def test_copied_and_referenced_paths_exist():
    for path in dockerfiles():
        for src in re.findall(r"^COPY\s+(\S+)\s", path.read_text(), re.M):
            assert (ROOT / src).exists(), f"{path.name} copies missing {src}"
    jar_names = {p.split(":")[1] + "-" + p.split(":")[2] + ".jar" for p in
                 __import__("adstage.jars", fromlist=["x"]).delta_coordinates()}
    airflow = (DOCKER / "airflow.Dockerfile").read_text()
    for jar in jar_names:
        assert jar in airflow, f"ADSTAGE_SPARK_JARS in airflow.Dockerfile lacks {jar}"


def test_compose_matches_the_code():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "mlflow", "spark-master", "spark-worker", "airflow-scheduler",
            "airflow-apiserver", "airflow-dag-processor"} <= set(services)
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            assert (DOCKER / build["context"] / build["dockerfile"]).resolve().is_file(), name
    env = services["airflow-scheduler"]["environment"]
    conn = json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert conn["conn_type"] == "spark" and conn["host"].startswith("spark://spark-master:")
    from adstage.config import Settings

    fields = set(Settings.__dataclass_fields__)
    for key in env:
        if key.startswith("ADSTAGE_"):
            assert key[len("ADSTAGE_"):].lower() in fields, f"compose sets unknown {key}"
    dag_conn = (ROOT / "dags" / "adstage_nightly.py").read_text()
    assert 'conn_id="spark_default"' in dag_conn
