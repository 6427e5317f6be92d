"""Run the project's DAGs with a real, local Airflow (dev tooling: not in the wheel).

    python -m tools.airflow_local run DAG DS [--conf JSON]   # one date: `airflow dags test`
    python -m tools.airflow_local backfill DAG FROM TO       # a range: scheduler + backfill

Sets up an Airflow home (SQLite metadata, this checkout's `dags/`, no examples), the
`spark_default` connection pointing at the configured Spark master, and the Delta jars for
spark-submit. `run` is `airflow dags test DAG DS`: a full DAG run in one process, tasks executed
for real (`make demo`). `backfill` starts what `airflow backfill create` needs to run anything —
a scheduler with the LocalExecutor and the API server whose execution API the task runners
report to — creates the backfill, waits for it and prints every run's task states. Used by the
tests too.

What ran is read through Airflow's stable CLI, never its metadata tables: `airflow dags
list-runs -o json` (the runs of a date range and their states) and `airflow tasks
states-for-dag-run -o json` (each task's state, start and end); the try number comes from the
task logs' `attempt=N.log` files.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from datetime import datetime
from typing import Callable, Iterator, Mapping

from adstage.config import Settings
from adstage.jars import jar_paths

DAGS = Path(__file__).resolve().parents[1] / "dags"


def airflow_env(airflow_home: Path, settings: Settings | None = None,
                base: dict[str, str] | None = None,
                spark_defaults: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for Airflow commands. ``spark_defaults``: Spark properties every
    spark-submit of these runs reads (a ``spark-defaults.conf`` in ``SPARK_CONF_DIR``): the way
    to give the driver JVM flags, which no session setting can reach."""
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
    # The operator runs `spark-submit` from PATH: this interpreter's, which pyspark installed.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = os.pathsep.join(filter(None, [bin_dir, env.get("PATH")]))
    if spark_defaults:
        conf_dir = Path(airflow_home) / "spark-conf"
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "spark-defaults.conf").write_text(
            "".join(f"{k} {v}\n" for k, v in spark_defaults.items()))
        env["SPARK_CONF_DIR"] = str(conf_dir)
    return env


# For many short spark-submits on a small machine (tests, the demo): no UI server, and a driver
# JVM that skips the optimising JIT tier and the parallel GC threads it would fight the executors
# for (bench/spark_submit_startup.py measures it). Not for long jobs on a real cluster.
FAST_START_SPARK_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


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
              timeout: float | None = None,
              conf: Mapping[str, object] | None = None) -> subprocess.CompletedProcess:
    """One real DAG run for logical date `ds` (``conf``: the run's params); raises when the
    run does not succeed."""
    ensure_db(env)
    extra = ["--conf", json.dumps(dict(conf))] if conf else []
    proc = subprocess.run([_airflow(), "dags", "test", dag_id, ds, *extra], env=env, text=True,
                          capture_output=capture, timeout=timeout)
    _check(dag_id, ds, proc.returncode, (proc.stdout or "") + (proc.stderr or ""))
    return proc


def dags_test_with_progress(dag_id: str, ds: str, env: dict[str, str], log_file: Path,
                            conf: Mapping[str, object] | None = None) -> None:
    """Like `dags_test`, printing progress lines as they come and keeping the whole log."""
    ensure_db(env)
    env = dict(env, AIRFLOW__LOGGING__LOGGING_LEVEL="INFO")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    extra = ["--conf", json.dumps(dict(conf))] if conf else []
    with log_file.open("w") as full, subprocess.Popen(
            [_airflow(), "dags", "test", dag_id, ds, *extra], env=env, text=True,
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


@contextlib.contextmanager
def scheduler(env: dict[str, str], timeout: float = 300) -> Iterator[dict[str, str]]:
    """A scheduler (LocalExecutor) and the API server its task runners report to, on loopback;
    yields the environment that talks to them. Stopped on exit; logs in $AIRFLOW_HOME/daemons/.

    Cron scheduling is off (`use_job_schedule`): an `@daily` DAG with catch-up would otherwise
    start a run for every day since its start date the moment it is unpaused; only backfills and
    triggered runs execute. The metadata store stays SQLite: Airflow 3.1 runs the LocalExecutor
    on it (no check refuses it; task runners write through the API server, so only the
    scheduler, the API server and CLI calls share the file).
    """
    from tools.cluster_local import free_port

    ensure_db(env)
    port = free_port()
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    if not env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        # Scheduler, API server and CLI write one SQLite file at once: write-ahead logging lets
        # readers through while one writes (the mode sticks to the file), and a long busy
        # timeout waits out a busy writer instead of failing with "database is locked".
        with contextlib.closing(sqlite3.connect(db)) as con:
            con.execute("PRAGMA journal_mode=WAL")
        env = dict(env, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{db}?timeout=120")
    env = dict(env,
               # The task logs are what a data engineer opens when a task fails: they must hold
               # the job's own lines (INFO), which the CLI's quiet WARNING default would drop.
               AIRFLOW__LOGGING__LOGGING_LEVEL="DEBUG" if env.get(
                   "AIRFLOW__LOGGING__LOGGING_LEVEL", "").upper() == "DEBUG" else "INFO",
               AIRFLOW__CORE__EXECUTOR="LocalExecutor",
               AIRFLOW__CORE__PARALLELISM=env.get("AIRFLOW__CORE__PARALLELISM", "4"),
               AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
               AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
               AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False")
    # Scheduler and API server must share the key that signs the task runners' tokens.
    env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(32))
    subprocess.run([_airflow(), "dags", "reserialize"], env=env, check=True,
                   capture_output=True, timeout=timeout)
    logs = Path(env["AIRFLOW_HOME"]) / "daemons"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    try:
        for name, args in (("api-server", ["api-server", "--host", "127.0.0.1", "--port",
                                           str(port), "--workers", "1", "--apps", "execution"]),
                           ("scheduler", ["scheduler"])):
            procs.append(subprocess.Popen([_airflow(), *args], env=env, start_new_session=True,
                                          stdout=(logs / f"{name}.log").open("w"),
                                          stderr=subprocess.STDOUT))
        _wait_http(f"http://127.0.0.1:{port}/execution/", procs[0], timeout)
        yield env
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[1]} exited early ({proc.returncode})")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:  # up, and answering
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def backfill(dag_id: str, from_date: str, to_date: str, env: dict[str, str], *,
             reprocess: str = "completed", max_active_runs: int = 2,
             timeout: float = 3600, poll_s: float = 20) -> list[dict]:
    """`airflow backfill create` for the range, run by the scheduler of ``env``
    (:func:`scheduler`); waits until every run of the range finished and returns one dict per
    run (``ds``, ``state``, ``tasks`` with each task's state and seconds). Raises, naming the
    failed tasks and their logs, unless every run succeeded (every task succeeded or was
    skipped).

    The command commits the backfill's runs (new ones queued, re-processed ones cleared back to
    queued) before it returns, so from then on the range's runs are the backfill's and it is
    done when each has finished. Polled with `airflow dags list-runs` every ``poll_s``: each
    call imports Airflow (~3 s of CPU here), hence not every second."""
    subprocess.run([_airflow(), "dags", "unpause", dag_id], env=env, check=True,
                   capture_output=True, timeout=300)
    create_backfill(
        [_airflow(), "backfill", "create", "--dag-id", dag_id, "--from-date", from_date,
         "--to-date", to_date, "--max-active-runs", str(max_active_runs),
         "--reprocess-behavior", reprocess],
        lambda cmd: subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300))
    deadline = time.monotonic() + timeout
    while True:
        runs = list_runs(env, dag_id, from_date, to_date)
        if runs_finished(runs):
            break
        # A failed date never lets the later ones finish: their depends_on_past tasks wait
        # for it to be fixed. Report it now rather than waiting out the timeout.
        if any(r["state"] == "failed" for r in runs):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"backfill of {dag_id} {from_date}..{to_date} not done in "
                               f"{timeout:.0f}s: {json.dumps(runs)[-3000:]}")
        time.sleep(poll_s)
    runs = [with_tasks(env, dag_id, r) for r in runs]
    # Skipped: the night plan's layout that did not run (adstage.night_plan).
    failed = [(r["ds"], t) for r in runs for t in r["tasks"]
              if t["state"] not in ("success", "skipped")]
    if failed or any(r["state"] != "success" for r in runs):
        logs = Path(env["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}"
        tails = "".join(f"\n--- {ds} {t['task_id']} (last lines of its log) ---\n"
                        f"{_log_tail(logs, ds, t['task_id'])}"
                        for ds, t in failed if t["state"] == "failed")
        raise RuntimeError(f"backfill of {dag_id} {from_date}..{to_date} failed: {failed}; "
                           f"task logs under {logs}{tails}")
    return runs


LOCKED = "database is locked"
ANOTHER_BACKFILL = "Another backfill is running"


def create_backfill(cmd: list[str], run: Callable[[list[str]], subprocess.CompletedProcess],
                    *, attempts: int = 4, settle_s: float = 180, retry_s: float = 10) -> None:
    """Runs ``cmd`` (`airflow backfill create ...`) until it succeeds.

    The scheduler closes a backfill only in its periodic check (every 30 s), not when its last
    run finishes: until then the next create for the DAG is refused ("Another backfill is
    running"), even right after :func:`backfill` saw every run of the previous one finish. Such
    refusals are waited out, up to ``settle_s`` from the first.

    On SQLite, `backfill create` can also fail at once with "database is locked" even under a
    long busy timeout: it reads the dates' runs inside a savepoint, and when the scheduler
    commits before it writes, SQLite refuses to upgrade that stale read (the busy handler is not
    consulted). By then it has committed its backfill row but no run, so the same command is
    refused as above until the scheduler closes that empty backfill; then it is safe to run
    again. Up to ``attempts`` locked failures, each followed by up to ``settle_s`` of refusals."""
    locked = 0
    settled_by = None
    while True:
        out = run(cmd)
        if out.returncode == 0:
            return
        text = (out.stderr or "") + (out.stdout or "")
        if LOCKED in text and locked < attempts - 1:
            locked += 1
            settled_by = time.monotonic() + settle_s
            print(f"airflow backfill create: SQLite refused a stale read (attempt {locked} of "
                  f"{attempts}); waiting for the scheduler to close the empty backfill, then "
                  "again", file=sys.stderr, flush=True)
        elif ANOTHER_BACKFILL not in text:
            raise RuntimeError(f"airflow backfill create failed\n{text[-3000:]}")
        elif settled_by is None:
            settled_by = time.monotonic() + settle_s
            print("airflow backfill create: the DAG's previous backfill is not closed yet; "
                  f"waiting up to {settle_s:.0f}s for the scheduler to close it",
                  file=sys.stderr, flush=True)
        elif time.monotonic() > settled_by:
            raise TimeoutError(f"the scheduler did not close the DAG's previous backfill in "
                               f"{settle_s:.0f}s: {text[-1000:]}")
        time.sleep(retry_s)


def runs_finished(runs: list[dict]) -> bool:
    """Every run of the range finished (and there is one)."""
    return bool(runs) and all(r["state"] in ("success", "failed") for r in runs)


def _attempt(log: Path) -> int:
    """The try number of a task log file (``attempt=N.log``)."""
    return int(log.stem.split("=")[1])


def _log_tail(logs: Path, ds: str, task_id: str, chars: int = 2000) -> str:
    """The job lines at the end of a failed task's last attempt (Airflow's JSON log lines'
    events), so that the error says why, not only where to look."""
    attempts = sorted(logs.glob(f"run_id=*{ds}*/task_id={task_id}/attempt=*.log"),
                      key=_attempt)
    if not attempts:
        return ""
    events = []
    for line in attempts[-1].read_text(errors="replace").splitlines():
        try:
            events.append(str(json.loads(line).get("event", "")))
        except ValueError:
            events.append(line)
    return "\n".join(e for e in events if e)[-chars:]


def airflow_json(env: Mapping[str, str], *args: str, timeout: float = 300) -> list[dict]:
    """The answer of an `airflow ... -o json` command (its one JSON line; log lines around
    it are skipped)."""
    proc = subprocess.run([_airflow(), *args, "-o", "json"], text=True, capture_output=True,
                          env=dict(env, AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING"),
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed (exit {proc.returncode})\n"
                           f"{proc.stderr[-3000:]}")
    return parse_json_output(proc.stdout)


def parse_json_output(stdout: str) -> list[dict]:
    for line in stdout.splitlines():
        if line.strip().startswith("["):
            return json.loads(line)
    raise ValueError(f"no JSON list in the command's output: {stdout[-1000:]!r}")


def list_runs(env: Mapping[str, str], dag_id: str, from_ds: str, to_ds: str) -> list[dict]:
    """The runs of logical dates ``from_ds``..``to_ds`` (`airflow dags list-runs`), oldest
    first: ``ds``, ``run_id``, ``state``."""
    rows = airflow_json(env, "dags", "list-runs", dag_id, "-s", from_ds, "-e", f"{to_ds}T23:59:59")
    return runs_of(rows, from_ds, to_ds)


def runs_of(rows: list[dict], from_ds: str, to_ds: str) -> list[dict]:
    runs = [{"ds": r["logical_date"][:10], "run_id": r["run_id"], "state": r["state"]}
            for r in rows if r.get("logical_date")]
    return sorted((r for r in runs if from_ds <= r["ds"] <= to_ds), key=lambda r: r["ds"])


def with_tasks(env: Mapping[str, str], dag_id: str, run: dict) -> dict:
    """``run`` with its ``tasks`` (`airflow tasks states-for-dag-run`)."""
    rows = airflow_json(env, "tasks", "states-for-dag-run", dag_id, run["run_id"])
    logs = Path(env["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}" / f"run_id={run['run_id']}"
    return dict(run, tasks=tasks_of(rows, logs))


def tasks_of(rows: list[dict], logs: Path) -> list[dict]:
    """Task dicts (``task_id``, ``state``, ``seconds``, ``try``) from the CLI's rows, in the
    order they started. Seconds from start and end (Airflow 3.1's own duration column has
    read tens of seconds off, negative even: gallery -47.6 s for a 6.4 s run); the try number
    (which the CLI does not show) from the task's log files, None where it wrote none."""
    def when(value: str) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    tasks = []
    for r in sorted(rows, key=lambda r: (r.get("start_date") or "9999", r["task_id"])):
        start, end = when(r.get("start_date", "")), when(r.get("end_date", ""))
        tries = [_attempt(p) for p in (logs / f"task_id={r['task_id']}").glob("attempt=*.log")]
        tasks.append({"task_id": r["task_id"], "state": r["state"] or "none",
                      "seconds": round((end - start).total_seconds(), 1) if start and end
                      else 0.0, "try": max(tries, default=None)})
    return tasks


def date_runs(env: Mapping[str, str], dag_id: str, ds: str) -> list[dict]:
    """The runs of one DAG and logical date (e.g. what `airflow dags test` left), with tasks."""
    return [with_tasks(env, dag_id, r) for r in list_runs(env, dag_id, ds, ds)]


def format_runs(runs: list[dict]) -> str:
    lines = []
    for r in runs:
        lines.append(f"{r['ds']}  {r['state']}  ({r['run_id']})")
        lines += [f"    {t['task_id']:<18} {t['state']:<8} {t['seconds']:7.1f}s  "
                  f"try {t['try'] or '-'}"
                  for t in r["tasks"]]
    return "\n".join(lines)


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.airflow_local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run one DAG for one logical date")
    run.add_argument("dag_id")
    run.add_argument("ds")
    run.add_argument("--conf", type=json.loads, help="the run's params as JSON, e.g. "
                     "'{\"size\": \"tiny\"}' for adstage_training")
    fill = sub.add_parser("backfill", help="backfill a date range with a local scheduler")
    fill.add_argument("dag_id")
    fill.add_argument("from_date")
    fill.add_argument("to_date")
    fill.add_argument("--max-active-runs", type=int, default=2)
    fill.add_argument("--reprocess", default="completed", choices=["none", "failed", "completed"],
                      help="what to do with dates that already have a run (default: re-run)")
    args = parser.parse_args(argv)
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.cwd() / "var" / "airflow").resolve()
    if args.cmd == "run":
        dags_test_with_progress(args.dag_id, args.ds, airflow_env(home),
                                home / "runs" / f"{args.dag_id}-{args.ds}.log", args.conf)
        return 0
    with scheduler(airflow_env(home)) as env:
        print(f"scheduler + API server up (logs {home / 'daemons'}); backfilling "
              f"{args.dag_id} {args.from_date}..{args.to_date}", flush=True)
        runs = backfill(args.dag_id, args.from_date, args.to_date, env,
                        reprocess=args.reprocess, max_active_runs=args.max_active_runs)
    print(format_runs(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
