"""Runtime roles (issue 20, item 1): the built wheel, installed with one role's extras into a
virtual environment that holds nothing else, imports every module that role runs; and the
nightly role, installed from the wheel (not the checkout), runs real jobs with the shipped
models.

Each role's environment is built once per requirement set and kept in
``$ADSTAGE_ROLE_ENVS`` (default ``~/.cache/adstage/roles/<role>-<hash>``; the hash covers the
role's extras in setup.cfg, requirements.lock and the Python version, so a changed pin builds a
new one). Every test session builds the wheel afresh (~5 s) and reinstalls it there without
dependencies (~3 s), so the code and data files under test are this working tree's. Building an
environment the first time downloads from PyPI: nightly ~1.7 GB, 100 s here; orchestration
(Airflow) ~2 min; those first runs are why the environment tests are marked e2e. The training
role (torch with its CUDA wheels, ~5 GB) is built only with ``ADSTAGE_ROLE_TRAINING=1``.

Everything runs from a temporary directory without PYTHONPATH, so nothing of the checkout is
importable: what runs is what the wheel installed.
"""
from __future__ import annotations

import configparser
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DS = "2026-11-24"

# The package's modules that import torch at module level: the training role's. Every other
# module of the package must import in the nightly role's environment.
TRAINING_ONLY = {
    "adstage.generative.boundary", "adstage.generative.checkpoint",
    "adstage.generative.edgeconnect", "adstage.generative.export", "adstage.generative.fid",
    "adstage.generative.losses", "adstage.generative.pix2pix", "adstage.generative.publish",
    "adstage.generative.train_common", "adstage.generative.train_edgeconnect",
    "adstage.generative.train_pix2pix", "adstage.onnx_export",
}
# jobs/ scripts of the training role (the training DAG); every other job is a nightly one.
TRAINING_JOBS = {"export_models", "quantize_models", "train_classifier", "train_edgeconnect",
                 "train_pix2pix", "train_segmenter", "training"}
ROLES = {"nightly": "nightly,cpu", "orchestration": "orchestration",
         "training": "nightly,training,cpu"}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYSPARK_PYTHON",
                        "PYSPARK_DRIVER_PYTHON") and not k.startswith("ADSTAGE_")}
    env.update(extra)
    return env


def _run(cmd: list[str], timeout: float = 900, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def _base_python() -> str:
    return getattr(sys, "_base_executable", None) or shutil.which("python3.11") or sys.executable


def _extras(cfg: configparser.ConfigParser, names: str) -> list[str]:
    extras = cfg["options.extras_require"]
    return sorted(line.strip() for n in names.split(",")
                  for line in extras[n].splitlines() if line.strip())


# ---- the wheel ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from this working tree (a copy of what the build reads, so the tree
    gets no build/ or egg-info of its own and two runs never share one)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("adstage", "schemas", "models"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          str(src), "-w", str(dist)], timeout=300)
    (built,) = dist.glob("adstage-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_the_models_and_schemas(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = {n.split("/data/share/adstage/", 1)[1] for n in names if "/data/share/adstage/" in n}
    shipped = {str(p.relative_to(ROOT)) for folder in ("models", "schemas")
               for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
               and not (folder == "schemas" and p.suffix != ".json")}
    assert shipped and shipped <= data, f"not in the wheel: {sorted(shipped - data)}"
    # Only the package is installed as code: no top-level jobs, dags, models or schemas.
    tops = {n.split("/")[0] for n in names if not n.startswith("adstage-")}
    assert tops == {"adstage"}, tops


# ---- one environment per role -------------------------------------------------------------

def role_env(role: str, wheel: Path) -> Path:
    """The role's environment (built once per requirement set), with this session's wheel."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    key = hashlib.sha256(json.dumps([ROLES[role], _extras(cfg, ROLES[role]), sys.version,
                                     (ROOT / "requirements.lock").read_text()]).encode())
    base = Path(os.environ.get("ADSTAGE_ROLE_ENVS")
                or Path.home() / ".cache" / "adstage" / "roles")
    venv = base / f"{role}-{key.hexdigest()[:12]}"
    base.mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    with open(base / f".{role}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # two sessions at once build it once, in turn
        if not (venv / ".complete").is_file():
            shutil.rmtree(venv, ignore_errors=True)
            started = time.monotonic()
            _run([_base_python(), "-m", "venv", str(venv)])
            _run([str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "requirements.lock"),
                  f"{wheel}[{ROLES[role]}]"], timeout=1800, env=_clean_env())
            _run([str(python), "-m", "pip", "check"])
            (venv / ".complete").write_text(f"built in {time.monotonic() - started:.0f} s\n")
        # This session's wheel: its code and data files, never the dependencies again.
        _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
              str(wheel)], env=_clean_env())
    return venv


def in_env(venv: Path, code: str, cwd: Path, timeout: float = 600, **env: str) -> str:
    return _run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, timeout=timeout,
                env=_clean_env(**env)).stdout


@pytest.fixture(scope="module")
def nightly(wheel) -> Path:
    return role_env("nightly", wheel)


IMPORT_ALL = """
import importlib, json, pkgutil, runpy, sys
import adstage
skip, jobs = set(json.loads(sys.argv[1])), json.loads(sys.argv[2])
failed = {}
for m in pkgutil.walk_packages(adstage.__path__, "adstage."):
    if m.name not in skip:
        try:
            importlib.import_module(m.name)
        except Exception as exc:
            failed[m.name] = repr(exc)
for path in jobs:   # each job script as spark-submit loads it, minus the __main__ call
    try:
        runpy.run_path(path, run_name="role_check")
    except Exception as exc:
        failed[path] = repr(exc)
print(json.dumps({"failed": failed, "file": adstage.__file__,
                  "loaded": sorted({k.split(".")[0] for k in sys.modules})}))
"""


def _import_all(venv: Path, cwd: Path, skip: set[str], jobs: list[Path]) -> dict:
    out = _run([str(venv / "bin" / "python"), "-c", IMPORT_ALL, json.dumps(sorted(skip)),
                json.dumps([str(j) for j in jobs])], cwd=cwd, env=_clean_env()).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.e2e
def test_nightly_role_imports_what_it_runs_without_torch(nightly, tmp_path):
    jobs = [j for j in sorted((ROOT / "jobs").glob("*.py")) if j.stem not in TRAINING_JOBS]
    from adstage.stages import STAGES

    assert {s.script for s in STAGES} <= {j.name for j in jobs}
    shipped_jobs = tmp_path / "jobs"           # as the executor image has them: plain files
    shutil.copytree(ROOT / "jobs", shipped_jobs)
    got = _import_all(nightly, tmp_path, TRAINING_ONLY, [shipped_jobs / j.name for j in jobs])
    assert got["failed"] == {}
    assert got["file"].startswith(str(nightly)), got["file"]      # the wheel, not the checkout
    assert "torch" not in got["loaded"] and "airflow" not in got["loaded"]
    # Not merely unimported: not installed at all; and what the stages import lazily is there.
    found = json.loads(in_env(nightly, "import importlib.util as u, json; print(json.dumps({m: "
                              "bool(u.find_spec(m)) for m in ('torch', 'airflow', 'pyspark', "
                              "'delta', 'deltalake', 'mlflow', 'sqlalchemy', 'onnxruntime', "
                              "'onnx', 'cv2', 'faiss', 'sklearn', 'scipy', 'PIL')}))", tmp_path))
    assert [m for m, there in found.items() if there != (m not in ("torch", "airflow"))] == []
    # Every module outside TRAINING_ONLY imports here, so the list cannot hide a nightly module;
    # and each module in it really needs torch (else it belongs to the nightly role).
    for module in sorted(TRAINING_ONLY):
        proc = subprocess.run([str(nightly / "bin" / "python"), "-c", f"import {module}"],
                              capture_output=True, text=True, cwd=tmp_path, env=_clean_env())
        assert "No module named 'torch'" in proc.stderr, f"{module} imports without torch"


@pytest.mark.e2e
def test_orchestration_role_parses_the_dags_and_runs_the_cli(wheel, tmp_path):
    venv = role_env("orchestration", wheel)
    shutil.copytree(ROOT / "dags", tmp_path / "dags")       # as the Airflow image has them
    out = in_env(venv, """
import json, sys
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1] if len(sys.argv) > 1 else "dags", include_examples=False)
import importlib.util as u
print(json.dumps({"errors": {k: v[-500:] for k, v in bag.import_errors.items()},
                  "dags": sorted(bag.dag_ids),
                  "absent": [m for m in ("torch", "onnxruntime", "cv2", "faiss") if u.find_spec(m)],
                  "tasks": len(bag.dags["adstage_nightly"].tasks) if "adstage_nightly" in bag.dags
                           else 0}))
""", tmp_path, AIRFLOW_HOME=str(tmp_path / "airflow"),
                 AIRFLOW__CORE__LOAD_EXAMPLES="False").strip().splitlines()[-1]
    got = json.loads(out)
    assert got["errors"] == {}
    assert {"adstage_nightly", "adstage_training"} <= set(got["dags"])
    assert got["tasks"] > 8
    assert got["absent"] == [], "the scheduler role pulled in the nightly or training packages"
    version = _run([str(venv / "bin" / "adstage"), "--version"], cwd=tmp_path,
                   env=_clean_env()).stdout
    assert str(venv) in version and "(not found)" not in version, version


@pytest.mark.e2e
@pytest.mark.skipif(os.environ.get("ADSTAGE_ROLE_TRAINING") != "1",
                    reason="torch and its CUDA wheels (~5 GB): set ADSTAGE_ROLE_TRAINING=1")
def test_training_role_imports_the_trainers(wheel, tmp_path):
    venv = role_env("training", wheel)
    got = _import_all(venv, tmp_path, set(), [])
    assert got["failed"] == {} and "torch" in got["loaded"]


# ---- the installed wheel runs real jobs with the shipped models ---------------------------

@pytest.mark.e2e
def test_installed_wheel_runs_ingest_and_classify_with_the_shipped_models(nightly, tmp_path):
    """`python jobs/<job>.py` as the executor image runs it: jobs/ as plain files, the
    package, schemas and models from the wheel (share/adstage/ in the environment)."""
    if not shutil.which("java"):
        pytest.skip("Spark needs Java 17+")
    from adstage import jars

    if jars.missing_jars():
        pytest.skip("Delta jars missing: make jars")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    python = str(nightly / "bin" / "python")
    home, catalog = tmp_path / "home", tmp_path / "catalog"
    env = dict(ADSTAGE_HOME=str(home), ADSTAGE_FEED_URI=str(catalog / "feed.jsonl"),
               ADSTAGE_ALLOWED_ROOTS=str(catalog), PYSPARK_PYTHON=python,
               SPARK_LOCAL_IP="127.0.0.1")
    env["ADSTAGE_JARS_DIR"] = str(jars.default_jars_dir())
    where = in_env(nightly, "from adstage import registry, tables; "
                            "print(registry.MODELS_DIR); print(tables.schemas_dir())", tmp_path)
    models_dir, schemas_dir = where.split()
    assert models_dir == str(nightly / "share" / "adstage" / "models")
    assert schemas_dir == str(nightly / "share" / "adstage" / "schemas")
    _run([python, "-m", "adstage.demo.catalog", "--out", str(catalog), "--products", "4",
          "--ds", DS], cwd=tmp_path, env=_clean_env(**env))
    for job in ("ingest", "classify"):
        proc = _run([python, f"jobs/{job}.py", "--ds", DS], cwd=tmp_path,
                    env=_clean_env(**env), timeout=900)
        log = proc.stdout + proc.stderr
        assert f"{job} ds={DS} done" in log, log[-3000:]
    assert "using the shipped model" in log and "model shipped shipped-" in log, log[-3000:]
    labels = in_env(nightly, f"""
from deltalake import DeltaTable
from adstage.config import Settings
t = DeltaTable(Settings.load().table_uri("image_labels")).to_pandas()
t = t[t["ds"].astype(str) == "{DS}"]
print(len(t), int(t["label"].notna().sum()))
""", tmp_path, **env).split()
    assert int(labels[0]) >= 4 and int(labels[1]) >= 1, labels   # a row per image, labelled
