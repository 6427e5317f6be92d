"""Run the project's DAGs with a real, local Airflow.

    python -m adstage.airflow_local run DAG DS [--conf JSON]   # one date: `airflow dags test`
    python -m adstage.airflow_local backfill DAG FROM TO       # a range: scheduler + backfill

Sets up an Airflow home (SQLite metadata, this checkout's `dags/`, no examples), the
`spark_default` connection pointing at the configured Spark master, and the Delta jars for
spark-submit. `run` is `airflow dags test DAG DS`: a full DAG run in one process, tasks executed
for real (`make demo`). `backfill` starts what `airflow backfill create` needs to run anything —
a scheduler with the LocalExecutor and the API server whose execution API the task runners
report to — creates the backfill, waits for it and prints every run's task states. Used by the
tests too.
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
    from adstage.cluster_local import free_port

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
             timeout: float = 3600) -> list[dict]:
    """`airflow backfill create` for the range, run by the scheduler of ``env``
    (:func:`scheduler`); waits until the backfill completes and returns one dict per run
    (``ds``, ``state``, ``tasks`` with each task's state and seconds). Raises, naming the failed
    tasks and their logs, unless every run succeeded (every task succeeded or was skipped)."""
    subprocess.run([_airflow(), "dags", "unpause", dag_id], env=env, check=True,
                   capture_output=True, timeout=300)
    db = _metadata_db(env)
    backfill_id = create_backfill(
        db, dag_id, [_airflow(), "backfill", "create", "--dag-id", dag_id,
                     "--from-date", from_date, "--to-date", to_date,
                     "--max-active-runs", str(max_active_runs), "--reprocess-behavior", reprocess],
        lambda cmd: subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300))
    deadline = time.monotonic() + timeout
    while not backfill_done(db, backfill_id):
        if time.monotonic() > deadline:
            raise TimeoutError(f"backfill {backfill_id} of {dag_id} not done in {timeout:.0f}s: "
                               f"{json.dumps(backfill_runs(db, backfill_id))[-3000:]}")
        # A failed date never completes the backfill: the later dates' depends_on_past tasks
        # wait for it to be fixed. Report it now rather than waiting out the timeout.
        if any(r["state"] == "failed" for r in backfill_runs(db, backfill_id)):
            break
        time.sleep(5)
    runs = backfill_runs(db, backfill_id)
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


def create_backfill(db: sqlite3.Connection, dag_id: str, cmd: list[str],
                    run: Callable[[list[str]], subprocess.CompletedProcess], *,
                    attempts: int = 4, settle_s: float = 180) -> int:
    """Runs ``cmd`` (`airflow backfill create ...`) and returns the new backfill's id.

    On SQLite, `backfill create` can fail at once with "database is locked" even under a long
    busy timeout: it reads the dates' runs inside a savepoint, and when the scheduler commits
    before it writes, SQLite refuses to upgrade that stale read (the busy handler is not
    consulted). By then it has committed its backfill row but no run, so the scheduler marks
    that empty backfill complete within 30 s (its check's interval); then the same command is
    safe to run again."""
    for attempt in range(1, attempts + 1):
        before = db.execute("SELECT coalesce(max(id), 0) FROM backfill").fetchone()[0]
        out = run(cmd)
        if out.returncode == 0:
            return db.execute("SELECT max(id) FROM backfill WHERE dag_id = ? AND id > ?",
                              (dag_id, before)).fetchone()[0]
        if "database is locked" not in out.stderr or attempt == attempts:
            raise RuntimeError(f"airflow backfill create failed\n{out.stderr[-3000:]}")
        print(f"airflow backfill create: SQLite refused a stale read (attempt {attempt} of "
              f"{attempts}); waiting for the scheduler to close the empty backfill, then "
              "again", file=sys.stderr, flush=True)
        deadline = time.monotonic() + settle_s
        while db.execute("SELECT count(*) FROM backfill WHERE dag_id = ? AND completed_at IS "
                         "NULL", (dag_id,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scheduler did not close {dag_id}'s empty backfill "
                                   f"in {settle_s:.0f}s after: {out.stderr[-1000:]}")
            time.sleep(2)
    raise AssertionError("unreachable")


def backfill_done(db: sqlite3.Connection, backfill_id: int) -> bool:
    """Completed, and every one of its runs finished. The scheduler can mark a backfill
    complete between `backfill create` committing its row and committing its runs (it then
    has none unfinished), so completed_at alone would report queued runs as the result."""
    if db.execute("SELECT completed_at FROM backfill WHERE id = ?",
                  (backfill_id,)).fetchone()[0] is None:
        return False
    return all(r["state"] in ("success", "failed") for r in backfill_runs(db, backfill_id))


def _log_tail(logs: Path, ds: str, task_id: str, chars: int = 2000) -> str:
    """The job lines at the end of a failed task's last attempt (Airflow's JSON log lines'
    events), so that the error says why, not only where to look."""
    attempts = sorted(logs.glob(f"run_id=*{ds}*/task_id={task_id}/attempt=*.log"),
                      key=lambda p: int(p.stem.split("=")[1]))
    if not attempts:
        return ""
    events = []
    for line in attempts[-1].read_text(errors="replace").splitlines():
        try:
            events.append(str(json.loads(line).get("event", "")))
        except ValueError:
            events.append(line)
    return "\n".join(e for e in events if e)[-chars:]


def _metadata_db(env: Mapping[str, str]) -> sqlite3.Connection:
    """The SQLite metadata store, read-only: polling it costs nothing, where every `airflow`
    CLI call would import Airflow again (seconds of CPU on a small machine)."""
    uri = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or \
        f"sqlite:///{Path(env['AIRFLOW_HOME']) / 'airflow.db'}"
    if not uri.startswith("sqlite:///"):
        raise ValueError(f"the local backfill reads a SQLite metadata store, not {uri}")
    path = uri.removeprefix("sqlite:///").split("?")[0]
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=120)


def backfill_runs(db: sqlite3.Connection, backfill_id: int) -> list[dict]:
    return _runs(db, "backfill_id = ?", (backfill_id,))


def date_runs(env: Mapping[str, str], dag_id: str, ds: str) -> list[dict]:
    """The runs of one DAG and logical date (e.g. what `airflow dags test` left), with tasks."""
    with contextlib.closing(_metadata_db(env)) as db:
        return _runs(db, "dag_id = ? AND substr(logical_date, 1, 10) = ?", (dag_id, ds))


def _runs(db: sqlite3.Connection, where: str, args: tuple) -> list[dict]:
    runs = []
    for run_id, logical, state in db.execute(
            f"SELECT run_id, logical_date, state FROM dag_run WHERE {where} "
            "ORDER BY logical_date", args).fetchall():
        tasks = [{"task_id": t, "state": s, "seconds": round(d or 0.0, 1), "try": n}
                 for t, s, d, n in db.execute(
                     # From the two timestamps: Airflow 3.1's own duration column can be off
                     # by tens of seconds, negative even (seen: gallery -47.6 s for a 6.4 s run).
                     "SELECT task_id, state, (julianday(end_date) - julianday(start_date)) "
                     "* 86400, try_number FROM task_instance "
                     "WHERE run_id = ? ORDER BY start_date", (run_id,)).fetchall()]
        runs.append({"ds": str(logical)[:10], "run_id": run_id, "state": state, "tasks": tasks})
    return runs


def format_runs(runs: list[dict]) -> str:
    lines = []
    for r in runs:
        lines.append(f"{r['ds']}  {r['state']}  ({r['run_id']})")
        lines += [f"    {t['task_id']:<18} {t['state']:<8} {t['seconds']:7.1f}s  try {t['try']}"
                  for t in r["tasks"]]
    return "\n".join(lines)


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adstage.airflow_local", description=__doc__,
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
