"""Shared fixtures: one local Spark session for the whole run (after Delta's own test utils),
a fresh Settings and warehouse per test, and small hand-made catalog feeds."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from adstage.config import Settings

# Workers and spark-submit must run this interpreter (and see this checkout).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")] if p)


def make_settings(home: Path, **overrides: str) -> Settings:
    """Settings for a test: defaults + overrides only (a developer's ADSTAGE_* env never leaks)."""
    base = {"home": str(home), "allowed_roots": str(home), "shuffle_partitions": "2",
            "jars_dir": os.environ.get("ADSTAGE_JARS_DIR", "")}
    base.update(overrides)
    return Settings.load({k: v for k, v in base.items() if v != ""}, environ={})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from adstage.spark import get_session

    s = get_session(make_settings(tmp_path_factory.mktemp("spark")), "adstage-tests")
    yield s
    s.stop()
