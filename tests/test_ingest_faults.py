"""Faults: a driver killed mid-write, and two logical dates landing at once.

Each test runs the real job (`jobs/ingest.py`) in its own process with its own JVM, like
spark-submit would, so that killing it is a real kill.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adstage.report import read_table
from conftest import make_settings
from feeds import mixed_feed

JOB = Path(__file__).resolve().parents[1] / "jobs" / "ingest.py"


def start_job(ds: str, feed: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(JOB), "--ds", ds, "--feed", str(feed)],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own group: the kill takes the JVM too


def job_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADSTAGE_")}
    env.update(ADSTAGE_HOME=str(tmp_path / "home"), ADSTAGE_SHUFFLE_PARTITIONS="2",
               ADSTAGE_ALLOWED_ROOTS=str(tmp_path / "catalog"))
    if os.environ.get("ADSTAGE_JARS_DIR"):
        env["ADSTAGE_JARS_DIR"] = os.environ["ADSTAGE_JARS_DIR"]
    return env


@pytest.mark.e2e
def test_driver_killed_between_writes_then_rerun_is_complete_and_exact(tmp_path):
    feed, expected = mixed_feed(tmp_path)
    env = job_env(tmp_path)
    settings = make_settings(tmp_path / "home")
    merge_commit = Path(settings.table_uri("catalog_images")) / "_delta_log" / f"{1:020d}.json"

    proc = start_job("2026-11-24", feed, env, tmp_path / "killed.log")
    deadline = time.monotonic() + 600
    while not merge_commit.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the job ended before it could be killed mid-write"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    # Killed after catalog_images committed and before the rejects of the date were written.
    assert len(read_table(settings, "catalog_images")) == expected["images_accepted"]
    assert not (Path(settings.table_uri("ingest_rejects")) / "_delta_log" / f"{1:020d}.json").exists()

    rerun = start_job("2026-11-24", feed, env, tmp_path / "rerun.log")
    assert rerun.wait(timeout=900) == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    catalog = read_table(settings, "catalog_images")
    assert len(catalog) == expected["images_accepted"] and catalog["image_id"].is_unique
    assert len(read_table(settings, "ingest_rejects")) == len(expected["rejects"])


@pytest.mark.e2e
def test_two_dates_at_once_both_land(tmp_path):
    feed, expected = mixed_feed(tmp_path)
    env = job_env(tmp_path)
    settings = make_settings(tmp_path / "home")
    days = ["2026-11-24", "2026-11-25"]
    procs = [start_job(ds, feed, env, tmp_path / f"{ds}.log") for ds in days]
    for ds, proc in zip(days, procs):
        assert proc.wait(timeout=900) == 0, (tmp_path / f"{ds}.log").read_text()[-3000:]

    rejects = read_table(settings, "ingest_rejects")
    per_day = rejects.groupby(rejects["ds"].astype(str)).size().to_dict()
    assert per_day == {ds: len(expected["rejects"]) for ds in days}
    catalog = read_table(settings, "catalog_images")
    assert len(catalog) == expected["images_accepted"] and catalog["image_id"].is_unique
