"""Every command has --help; `adstage tables` lists tables with versions and row counts."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from adstage.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv", [["--help"], ["tables", "--help"], ["why", "--help"],
                                  ["block-slot", "--help"],
                                  ["ingest", "--help"],
                                  ["demo-catalog", "--help"], ["jars", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out.lower()


# One test per job, so that one broken job fails alone and names itself.
@pytest.mark.slow
@pytest.mark.parametrize("job", sorted(p.name for p in (ROOT / "jobs").glob("*.py")))
def test_job_scripts_have_help(job):
    """Every job answers --help; the ones a DAG schedules also take the logical date."""
    scheduled = "".join(p.read_text() for p in (ROOT / "dags").glob("*.py"))
    path = ROOT / "jobs" / job
    proc = subprocess.run([sys.executable, str(path), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, (job, proc.stderr[-2000:])
    assert "usage" in proc.stdout.lower(), job
    if f'"{job}"' in scheduled:
        # A job with steps (jobs/training.py) takes the date in each step.
        steps = re.search(r"\{([\w,-]+)\}", proc.stdout.split("\n\n")[0])
        for step in steps.group(1).split(",") if steps else [None]:
            out = subprocess.run([sys.executable, str(path), *([step] if step else []),
                                  "--help"], capture_output=True, text=True,
                                 timeout=120).stdout
            assert "--ds" in out, (job, step)


def test_tables_on_an_empty_warehouse(tmp_path, capsys):
    assert main(["--conf", f"home={tmp_path}", "staging"]) == 0
    assert "no staged images yet" in capsys.readouterr().out
    assert main(["--conf", f"home={tmp_path}", "tables"]) == 0
    out = capsys.readouterr().out
    assert "catalog_images" in out and "ingest_rejects" in out


def test_why_rejects_a_bad_date_and_answers_on_an_empty_warehouse(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["why", "p1", "--ds", "2026-13-01"])
    assert exc.value.code == 2
    assert "not a date (YYYY-MM-DD): '2026-13-01'" in capsys.readouterr().err
    assert main(["--conf", f"home={tmp_path}", "why", "p1"]) == 0
    assert "not in the catalog" in capsys.readouterr().out


def test_block_slot_names_an_unknown_slot_in_one_line(tmp_path, capsys):
    assert main(["--conf", f"home={tmp_path}", "block-slot", "s-1", "--reason", "x",
                 "--ds", "2026-11-24"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("adstage block-slot: no donor slot 's-1'") and err.count("\n") == 1


def test_ingest_rejects_a_bad_date(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ingest", "--ds", "24/11/2026", "--feed", "/x.jsonl"])
    assert exc.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
