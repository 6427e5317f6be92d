"""Run the project's DAGs with a real, local Airflow: `python -m adstage.airflow_local run DAG DS`.

Sets up an Airflow home (SQLite metadata, this checkout's `dags/`, no examples), the
`spark_default` connection pointing at the configured Spark master, and the Delta jars for
spark-submit, then runs `airflow dags test DAG DS` — a full DAG run in one process, tasks
executed for real. Used by `make demo` and by the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from adstage.config import Settings
from adstage.jars import jar_paths

DAGS = Path(__file__).resolve().parents[1] / "dags"


def airflow_env(airflow_home: Path, settings: Settings | None = None,
                base: dict[str, str] | None = None) -> dict[str, str]:
    settings = settings or Settings.load()
    env = dict(os.environ if base is None else base)
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "ADSTAGE_SPARK_JARS": ",".join(str(p) for p in jar_paths(settings.jars_path)),
        # Airflow's own deprecation chatter hides the task output a data engineer wants.
        "PYTHONWARNINGS": env.get("PYTHONWARNINGS", "ignore"),
    })
    # An explicit connection: an unknown conn_id would silently fall back to YARN.
    env.setdefault("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({
        "conn_type": "spark", "host": settings.spark_master, "extra": {"deploy-mode": "client"}}))
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    return env


def ensure_db(env: dict[str, str]) -> None:
    """`airflow db migrate` once per Airflow home (a few seconds on SQLite)."""
    marker = Path(env["AIRFLOW_HOME"]) / ".migrated"
    if marker.exists():
        return
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([_airflow(), "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    marker.touch()


# What a person watching `make demo` wants from Airflow's INFO log: each task starting and
# ending, the jobs' own summary lines, and anything that went wrong. The full log goes to a file.
PROGRESS = re.compile(r"new_state=|adstage\.|DagRun Finished|ERROR|Traceback|Error:")


def dags_test(dag_id: str, ds: str, env: dict[str, str], *, capture: bool = False,
              timeout: float | None = None) -> subprocess.CompletedProcess:
    """One real DAG run for logical date `ds`; raises when the run does not succeed."""
    ensure_db(env)
    proc = subprocess.run([_airflow(), "dags", "test", dag_id, ds], env=env, text=True,
                          capture_output=capture, timeout=timeout)
    _check(dag_id, ds, proc.returncode, (proc.stdout or "") + (proc.stderr or ""))
    return proc


def dags_test_with_progress(dag_id: str, ds: str, env: dict[str, str], log_file: Path) -> None:
    """Like `dags_test`, printing progress lines as they come and keeping the whole log."""
    ensure_db(env)
    env = dict(env, AIRFLOW__LOGGING__LOGGING_LEVEL="INFO")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as full, subprocess.Popen(
            [_airflow(), "dags", "test", dag_id, ds], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        for line in proc.stdout:
            full.write(line)
            if PROGRESS.search(line):
                print(_short(line), flush=True)
    _check(dag_id, ds, proc.returncode, log_file.read_text()[-20000:])
    print(f"full Airflow log: {log_file}")


def _short(line: str) -> str:
    """Airflow's structured line, cut to time, message and the fields that matter."""
    line = line.rstrip()
    m = re.match(r"(\S+T(\d\d:\d\d:\d\d))\S*\s+\[\w+\s*\]\s+(.*?)\s+\[[\w.]+\]", line)
    if not m:
        return line
    message = m.group(3)
    if re.match(r"\d\d:\d\d:\d\d ", message):  # a job's own log line: already timed
        return message
    state = re.search(r"new_state=(\w+)", line)
    if state:
        return f"{m.group(2)} airflow: task {state.group(1)}"
    return f"{m.group(2)} airflow: {message.split(', run_start_date')[0]}"


def _check(dag_id: str, ds: str, returncode: int, out: str) -> None:
    if returncode != 0 or "state=failed" in out.replace(" ", ""):
        raise RuntimeError(f"DAG {dag_id} {ds} failed (exit {returncode})\n{out[-4000:]}")


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adstage.airflow_local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run one DAG for one logical date")
    run.add_argument("dag_id")
    run.add_argument("ds")
    args = parser.parse_args(argv)
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.cwd() / "var" / "airflow").resolve()
    dags_test_with_progress(args.dag_id, args.ds, airflow_env(home),
                            home / "runs" / f"{args.dag_id}-{args.ds}.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
