"""MLflow runs of the jobs (adstage.tracking), on a real SQLite MLflow store."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from adstage import tracking
from conftest import make_settings

DS = "2026-11-24"

HOLD_RUN_OPEN = """
import sys, time
from adstage import tracking
from conftest import make_settings
settings = make_settings(__import__("pathlib").Path(sys.argv[1]))
with tracking.job_run(settings, sys.argv[2], sys.argv[3]) as run:
    print(run.info.run_id, flush=True)
    time.sleep(600)
"""


def _start_holder(tmp_path, job: str, ds: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", HOLD_RUN_OPEN, str(tmp_path), job, ds],
                            env=env, stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    run_id = proc.stdout.readline().strip()
    assert run_id, "the holder process did not open its run"
    return proc, run_id


@pytest.mark.slow
def test_runs_left_running_by_a_killed_driver_are_closed_failed_by_the_next_run(tmp_path):
    settings = make_settings(tmp_path)
    killed, killed_id = _start_holder(tmp_path, "ingest", DS)
    alive, alive_id = _start_holder(tmp_path, "ingest", "2026-11-25")  # another date
    try:
        os.kill(killed.pid, signal.SIGKILL)  # no chance to end its run
        killed.wait(timeout=60)
        client = MlflowClient(settings.tracking_uri)
        assert client.get_run(killed_id).info.status == "RUNNING"

        with tracking.job_run(settings, "ingest", DS) as run:
            pass

        old = client.get_run(killed_id)
        assert old.info.status == "FAILED" and "closed as FAILED" in old.data.tags[
            "adstage.abandoned"]
        assert client.get_run(run.info.run_id).info.status == "FINISHED"
        assert client.get_run(alive_id).info.status == "RUNNING"   # not this job's date
        # A run whose driver is still alive is left alone, even for the same job and date.
        same, same_id = _start_holder(tmp_path, "classify", DS)
        try:
            assert tracking.close_abandoned_runs(settings, "classify", DS) == []
            assert client.get_run(same_id).info.status == "RUNNING"
        finally:
            same.kill()
            same.wait(timeout=60)
        time.sleep(0.1)
        assert tracking.close_abandoned_runs(settings, "classify", DS) == [same_id]
    finally:
        alive.kill()
        alive.wait(timeout=60)
