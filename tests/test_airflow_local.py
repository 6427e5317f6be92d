"""Helpers of the local Airflow runner that need no scheduler."""
from __future__ import annotations

import json

from adstage.airflow_local import _log_tail


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
