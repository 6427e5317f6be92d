"""Helpers of the local Airflow runner (tools/airflow_local.py) that need no scheduler."""
from __future__ import annotations

import json
import subprocess

import pytest

from tools import airflow_local
from tools.airflow_local import (_log_tail, create_backfill, parse_json_output, runs_finished,
                                 runs_of, tasks_of)


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


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr(airflow_local.time, "sleep", lambda s: None)


ANOTHER = ("airflow.models.backfill.AlreadyRunningBackfill: Another backfill is running for dag "
           "nightly. There can be only one running backfill per dag.")


def scripted(*answers):
    """An `airflow` stand-in answering ``(returncode, stderr)`` in turn (the last one for
    ever), and the list of its calls."""
    calls = []

    def airflow(cmd):
        calls.append(cmd)
        code, err = answers[min(len(calls), len(answers)) - 1]
        return subprocess.CompletedProcess(cmd, code, "", err)

    return airflow, calls


def test_a_backfill_create_refused_by_a_stale_read_is_run_again_once_the_empty_one_closes(
        no_sleep):
    # What the CLI does on SQLite's stale-read refusal: fails, leaving an empty backfill that
    # refuses the next create until the scheduler closes it; then the create goes through.
    airflow, calls = scripted(
        (1, "sqlite3.OperationalError: (sqlite3.OperationalError) database is locked"),
        (1, ANOTHER), (0, ""))
    create_backfill(["airflow", "backfill"], airflow)
    assert len(calls) == 3


def test_a_backfill_not_yet_closed_is_waited_for_then_raised(monkeypatch):
    # The scheduler closes a finished backfill only in its periodic check: the next create is
    # refused until then. Refused past settle_s: raised, naming the refusal.
    clock = [0.0]
    monkeypatch.setattr(airflow_local.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(airflow_local.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    airflow, calls = scripted((1, ANOTHER))
    with pytest.raises(TimeoutError, match="Another backfill is running"):
        create_backfill(["airflow", "backfill"], airflow, settle_s=60, retry_s=10)
    assert len(calls) == 8  # at 0, 10, ..., 60 s refused, and at 70 s past the limit


def test_a_backfill_closed_by_the_scheduler_lets_the_next_create_through(no_sleep):
    airflow, calls = scripted((1, ANOTHER), (1, ANOTHER), (0, ""))
    create_backfill(["airflow", "backfill"], airflow)
    assert len(calls) == 3


def test_any_other_create_failure_is_raised_at_once(no_sleep):
    airflow, calls = scripted((1, "DagNotFound: nightly"))
    with pytest.raises(RuntimeError, match="DagNotFound"):
        create_backfill(["airflow", "backfill"], airflow)
    assert len(calls) == 1


def test_stale_reads_are_retried_a_bounded_number_of_times(no_sleep):
    airflow, calls = scripted((1, "database is locked"))
    with pytest.raises(RuntimeError, match="database is locked"):
        create_backfill(["airflow", "backfill"], airflow, attempts=3)
    assert len(calls) == 3


def test_cli_json_is_found_among_log_lines():
    out = ("2026-12-06T18:18:36Z [info     ] setup plugin alembic [alembic.runtime.plugins]\n"
           '[{"dag_id": "nightly", "run_id": "r1"}]\n')
    assert parse_json_output(out) == [{"dag_id": "nightly", "run_id": "r1"}]
    with pytest.raises(ValueError):
        parse_json_output("no runs\n")


def _run_row(ds, state, run_id=None):
    """One row of `airflow dags list-runs -o json` (Airflow 3.1's fields)."""
    return {"dag_id": "nightly", "run_id": run_id or f"backfill__{ds}T00:00:00+00:00",
            "state": state, "run_after": f"{ds}T00:00:00+00:00",
            "logical_date": f"{ds}T00:00:00+00:00", "start_date": "", "end_date": ""}


def test_the_runs_of_a_range_oldest_first_and_finished_only_when_each_is():
    rows = [_run_row("2026-11-25", "running"), _run_row("2026-11-24", "success"),
            _run_row("2026-11-22", "success"), dict(_run_row("2026-11-24", "queued"),
                                                    logical_date="")]
    runs = runs_of(rows, "2026-11-23", "2026-11-25")
    assert [(r["ds"], r["state"]) for r in runs] == [("2026-11-24", "success"),
                                                    ("2026-11-25", "running")]
    assert not runs_finished(runs)
    assert runs_finished([dict(r, state="success") for r in runs])
    assert runs_finished([runs[0], dict(runs[1], state="failed")])
    assert not runs_finished([])  # nothing yet is not done


def test_task_seconds_from_start_and_end_and_tries_from_the_logs(tmp_path):
    """Rows of `airflow tasks states-for-dag-run -o json`: started first comes first, a task
    not started yet has no seconds, the try number is the last attempt's log."""
    rows = [{"dag_id": "nightly", "logical_date": "2026-11-24T00:00:00+00:00",
             "task_id": "gallery", "state": "success",
             "start_date": "2026-11-24T03:10:05.500000+00:00",
             "end_date": "2026-11-24T03:10:11.900000+00:00"},
            {"dag_id": "nightly", "logical_date": "2026-11-24T00:00:00+00:00",
             "task_id": "ingest", "state": "success",
             "start_date": "2026-11-24T03:00:00+00:00", "end_date": "2026-11-24T03:01:00+00:00"},
            {"dag_id": "nightly", "logical_date": "2026-11-24T00:00:00+00:00",
             "task_id": "quality_gate", "state": None, "start_date": "", "end_date": ""}]
    (tmp_path / "task_id=gallery").mkdir()
    for n in (1, 2):
        (tmp_path / "task_id=gallery" / f"attempt={n}.log").write_text("")
    assert tasks_of(rows, tmp_path) == [
        {"task_id": "ingest", "state": "success", "seconds": 60.0, "try": None},
        {"task_id": "gallery", "state": "success", "seconds": 6.4, "try": 2},
        {"task_id": "quality_gate", "state": "none", "seconds": 0.0, "try": None}]
