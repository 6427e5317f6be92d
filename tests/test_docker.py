"""docker/ cannot be built here (no Docker engine): check it statically against the lock and
the code, so it cannot drift from what the tests run."""
from __future__ import annotations

import configparser
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


def extras() -> dict[str, list[str]]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return {name: [line.strip() for line in value.splitlines() if line.strip()]
            for name, value in cfg["options.extras_require"].items()}


def installed_extras(path: Path) -> set[str]:
    """The extras a Dockerfile installs the project's wheel with (`...whl)[a,b]`)."""
    found = re.findall(r"adstage-\*\.whl\)\[([a-z,]+)\]", path.read_text())
    assert found, f"{path.name} does not install the adstage wheel with its role extras"
    return {e for group in found for e in group.split(",")}


def test_every_extra_pins_the_locked_version():
    pins = lock()
    for extra, reqs in extras().items():
        for req in reqs:
            name, version = req.split("==")
            key = name.lower().replace("_", "-")
            if key in OUTSIDE_LOCK:
                continue
            assert pins.get(key) == version, f"[{extra}] {req}, lock has {pins.get(key)}"


def test_gpu_onnxruntime_matches_the_cpu_pin():
    assert extras()["gpu"] == [f"onnxruntime-gpu=={lock()['onnxruntime']}"]
    assert extras()["cpu"] == [f"onnxruntime=={lock()['onnxruntime']}"]
    text = (DOCKER / "spark-executor.Dockerfile").read_text()
    assert "torch" not in re.sub(r"#.*", "", text).replace("import torch", "").replace(
        "torch must not", "")


def test_images_install_their_roles():
    """Executor: the nightly role on the GPU build of onnxruntime. Airflow: orchestration, and
    nightly too (client deploy mode: the drivers run there, and gallery / quality_gate /
    plan_night are plain Python tasks), plus the MLflow server. Neither has torch."""
    assert installed_extras(DOCKER / "spark-executor.Dockerfile") == {"nightly", "gpu"}
    assert installed_extras(DOCKER / "airflow.Dockerfile") == {
        "orchestration", "nightly", "cpu", "server"}
    assert not any(r.startswith("torch") for e in ("nightly", "orchestration", "cpu", "gpu",
                                                   "server") for r in extras()[e])
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    conn = json.loads(compose["x-airflow"]["environment"]["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert conn["extra"]["deploy-mode"] == "client"   # what the Airflow image's nightly is for
    mlflow = compose["services"]["mlflow"]
    assert mlflow["build"]["dockerfile"] == "docker/airflow.Dockerfile"  # has the server extra


def test_copied_and_referenced_paths_exist():
    for path in dockerfiles():
        for line in re.findall(r"^COPY\s+(.*)$", path.read_text(), re.M):
            if "--from=" in line:
                continue                     # from an earlier build stage, not the context
            *sources, _dest = [w for w in line.split() if not w.startswith("--")]
            for src in sources:
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
