"""Helpers of the local Airflow runner that need no scheduler."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import threading

import pytest

from adstage.airflow_local import _log_tail, backfill_done, create_backfill


def test_a_failed_tasks_error_carries_its_last_attempts_job_lines(tmp_path):
    task = tmp_path / "run_id=backfill__2026-11-24T00:00:00+00:00" / "task_id=quality_gate"
    task.mkdir(parents=True)
    (task / "attempt=1.log").write_text(json.dumps({"event": "first try"}) + "\n")
    (task / "attempt=10.log").write_text("\n".join(json.dumps({"event": e}) for e in (
        "quality gate failed for 2026-11-24:", "  - copy-paste fd regressed")) + "\nplain\n")
    tail = _log_tail(tmp_path, "2026-11-24", "quality_gate")
    assert tail.splitlines() == ["quality gate failed for 2026-11-24:",
                                 "  - copy-paste fd regressed", "plain"]
    assert _log_tail(tmp_path, "2026-11-25", "quality_gate") == ""


def _metadata(tmp_path) -> sqlite3.Connection:
    """The three tables of Airflow's metadata store these helpers read, in a real SQLite file."""
    db = sqlite3.connect(tmp_path / "airflow.db", isolation_level=None, check_same_thread=False)
    db.executescript("""
        CREATE TABLE backfill (id INTEGER PRIMARY KEY, dag_id TEXT, completed_at TEXT);
        CREATE TABLE dag_run (run_id TEXT, dag_id TEXT, logical_date TEXT, state TEXT,
                              backfill_id INTEGER);
        CREATE TABLE task_instance (run_id TEXT, task_id TEXT, state TEXT, duration REAL,
                                    try_number INTEGER, start_date TEXT, end_date TEXT);""")
    return db


def test_a_backfill_create_refused_by_a_stale_read_is_run_again_once_the_empty_one_closes(
        tmp_path):
    db = _metadata(tmp_path)
    calls = []

    def airflow(cmd):
        calls.append(cmd)
        if len(calls) == 1:
            # What the CLI leaves behind: its backfill row committed, no run; the scheduler
            # closes it a moment later.
            db.execute("INSERT INTO backfill (dag_id) VALUES ('nightly')")
            threading.Timer(0.5, db.execute, ["UPDATE backfill SET completed_at = 'now'"]).start()
            return subprocess.CompletedProcess(cmd, 1, "", "sqlite3.OperationalError: "
                                               "database is locked")
        db.execute("INSERT INTO backfill (dag_id) VALUES ('nightly')")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    assert create_backfill(db, "nightly", ["airflow", "backfill"], airflow) == 2
    assert len(calls) == 2


def test_any_other_backfill_create_error_is_raised_at_once(tmp_path):
    db = _metadata(tmp_path)
    calls = []

    def airflow(cmd):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "AlreadyRunningBackfill: another one")

    with pytest.raises(RuntimeError, match="AlreadyRunningBackfill"):
        create_backfill(db, "nightly", ["airflow", "backfill"], airflow)
    assert len(calls) == 1


def test_a_backfill_marked_complete_before_its_runs_finish_is_not_done(tmp_path):
    db = _metadata(tmp_path)
    db.execute("INSERT INTO backfill (id, dag_id, completed_at) VALUES (1, 'nightly', 'now')")
    db.execute("INSERT INTO dag_run VALUES ('b1', 'nightly', '2026-11-24', 'queued', 1)")
    assert not backfill_done(db, 1)
    db.execute("UPDATE dag_run SET state = 'success'")
    assert backfill_done(db, 1)
    db.execute("UPDATE backfill SET completed_at = NULL")
    assert not backfill_done(db, 1)
