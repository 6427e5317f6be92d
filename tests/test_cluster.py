"""The unchanged ingest job on a real standalone cluster (master and worker JVMs on loopback,
executors in their own JVMs), submitted with spark-submit as Airflow would."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.cluster_local import spark_home, standalone_cluster
from adstage.jars import jar_paths
from adstage.report import read_table
from conftest import make_settings
from feeds import mixed_feed

JOB = Path(__file__).resolve().parents[1] / "jobs" / "ingest.py"


@pytest.mark.e2e
def test_ingest_on_a_standalone_cluster(tmp_path):
    feed, expected = mixed_feed(tmp_path)
    settings = make_settings(tmp_path / "home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADSTAGE_")}
    env.update(ADSTAGE_HOME=settings.home, ADSTAGE_ALLOWED_ROOTS=str(tmp_path / "catalog"),
               ADSTAGE_SHUFFLE_PARTITIONS="2", PYSPARK_PYTHON=sys.executable)
    with standalone_cluster(tmp_path / "cluster", cores=2, memory="1g") as cluster:
        proc = subprocess.run(
            [str(spark_home() / "bin" / "spark-submit"), "--master", cluster.master_url,
             "--deploy-mode", "client", "--executor-memory", "1g", "--total-executor-cores", "2",
             "--jars", ",".join(str(p) for p in jar_paths(settings.jars_path)),
             str(JOB), "--ds", "2026-11-24", "--feed", str(feed)],
            env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        assert cluster.master_url in proc.stdout + proc.stderr
        # The executor ran in a JVM of its own, under the worker's work dir.
        assert list((cluster.work_dir / "work").glob("app-*/*/stderr"))
    assert len(read_table(settings, "catalog_images")) == expected["images_accepted"]
    assert len(read_table(settings, "ingest_rejects")) == len(expected["rejects"])
