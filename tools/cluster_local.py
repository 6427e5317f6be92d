"""A real Spark standalone cluster on loopback (dev tooling, not in the wheel): one master and
one worker, each its own JVM, started from the scripts pyspark ships (`bin/spark-class`), so
the unchanged jobs can be submitted to `spark://127.0.0.1:<port>` with executors in their own
JVMs.

    python -m tools.cluster_local up        # start, print the master URL, wait for Ctrl-C
    python -m tools.cluster_local nightly   # the whole nightly DAG on it, report to --doc

`nightly` generates a demo catalog, starts the cluster, points Airflow's `spark_default`
connection at its master (`AIRFLOW_CONN_SPARK_DEFAULT`, from `Settings.spark_master`) and the
executors' resources at a `spark-defaults.conf`, then runs the unchanged nightly DAG with
`airflow dags test`, and reports every task's state and duration, every Spark application with
its executors (id, JVM pid, cores) and the tables written. Used by tests/test_cluster.py too.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    master_url: str
    ui_url: str
    work_dir: Path


def _spark_class(*args: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args], env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_for(url: str, needle: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Spark daemon exited early ({proc.returncode}); see its log")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as r:
                if needle in r.read().decode("utf-8", "replace"):
                    return
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not show {needle!r} within {timeout:.0f}s")


@contextlib.contextmanager
def standalone_cluster(work_dir: Path, cores: int = 2, memory: str = "2g",
                       timeout: float = 180, worker_conf: Mapping[str, str] | None = None
                       ) -> Iterator[Cluster]:
    """Start master + worker on 127.0.0.1, wait until the worker is registered, stop on exit.

    ``worker_conf``: Spark properties for the worker only (its ``--properties-file``), e.g.
    ``spark.worker.resource.gpu.amount`` and ``...discoveryScript`` to advertise GPUs.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    worker_args: list[str] = []
    if worker_conf:
        props = work_dir / "worker.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in worker_conf.items()))
        worker_args = ["--properties-file", str(props)]
    port, ui, worker_ui = free_port(), free_port(), free_port()
    env = dict(os.environ, SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP="127.0.0.1",
               SPARK_WORKER_DIR=str(work_dir / "worker"))
    master = _spark_class("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                          "--port", str(port), "--webui-port", str(ui),
                          log=work_dir / "master.log", env=env)
    procs = [master]
    try:
        master_url = f"spark://127.0.0.1:{port}"
        ui_url = f"http://127.0.0.1:{ui}"
        _wait_for(f"{ui_url}/json/", '"status"', master, timeout)
        worker = _spark_class("org.apache.spark.deploy.worker.Worker", master_url,
                              "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                              "--webui-port", str(worker_ui), "--work-dir", str(work_dir / "work"),
                              *worker_args, log=work_dir / "worker.log", env=env)
        procs.append(worker)
        _wait_for(f"{ui_url}/json/", '"aliveworkers" : 1', master, timeout)
        yield Cluster(master_url, ui_url, work_dir)
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)


def executors(work_dir: Path) -> list[dict]:
    """Executors the worker launched: application, executor id and the JVM's pid, read from
    each executor's own log (Spark prints ``Started daemon with process name: <pid>@<host>``)."""
    out = []
    for stderr in sorted((work_dir / "work").glob("app-*/*/stderr")):
        m = re.search(r"process name: (\d+)@", stderr.read_text(errors="replace"))
        out.append({"app": stderr.parent.parent.name, "executor": stderr.parent.name,
                    "pid": int(m.group(1)) if m else None})
    return out


def nightly(work: Path, ds: str, products: int, cores: int, memory: str,
            executor_cores: int, executor_memory: str, doc: Path | None) -> int:
    import json
    import shutil

    from adstage.config import Settings
    from adstage.demo.catalog import generate_catalog
    from adstage.report import describe, format_tables
    from tools.airflow_local import airflow_env, dags_test_with_progress, date_runs

    shutil.rmtree(work, ignore_errors=True)
    catalog = generate_catalog(work / "catalog", products, seed=7, ds=ds)
    load_before = os.getloadavg()
    started = time.monotonic()
    with standalone_cluster(work / "cluster", cores, memory) as cluster:
        base = {k: v for k, v in os.environ.items() if not k.startswith("ADSTAGE_")}
        base.update(ADSTAGE_HOME=str(work / "home"), ADSTAGE_FEED_URI=str(catalog["feed"]),
                    ADSTAGE_ALLOWED_ROOTS=str(work / "catalog"),
                    ADSTAGE_SPARK_MASTER=cluster.master_url, ADSTAGE_SHUFFLE_PARTITIONS="2",
                    ADSTAGE_STAGING_METHODS="copy_paste,hard_paste,vanilla",
                    ADSTAGE_EVAL_HOLDOUT_SHARE="0.3", ADSTAGE_PARALLAX_SECONDS="1",
                    PYSPARK_PYTHON=sys.executable)
        settings = Settings.load(environ=base)
        # Executors: their size and number come from Spark properties, not from the jobs.
        env = airflow_env(work / "airflow", settings, base=base, spark_defaults={
            "spark.executor.cores": str(executor_cores),
            "spark.executor.memory": executor_memory,
            "spark.cores.max": str(cores)})
        print(f"cluster {cluster.master_url} (UI {cluster.ui_url}); spark_default = "
              f"{env['AIRFLOW_CONN_SPARK_DEFAULT']}", flush=True)
        try:
            dags_test_with_progress("adstage_nightly", ds, env, work / "airflow" / "run.log")
            failed = None
        except RuntimeError as exc:  # still report what ran, and where it stopped
            failed = str(exc).splitlines()[0]
        with urllib.request.urlopen(f"{cluster.ui_url}/json/", timeout=10) as r:
            state = json.loads(r.read())
    wall = time.monotonic() - started
    report = cluster_report(ds, products, cores, memory, executor_cores, executor_memory,
                            env["AIRFLOW_CONN_SPARK_DEFAULT"], date_runs(env, "adstage_nightly", ds),
                            state, executors(work / "cluster"),
                            format_tables(describe(settings)), wall, load_before,
                            os.getloadavg())
    if failed:
        report += f"\n**The run failed**: {failed} (full log: {work / 'airflow' / 'run.log'}).\n"
    print(report)
    if doc:
        doc.write_text(report)
        print(f"written to {doc}")
    return 1 if failed else 0


def cluster_report(ds, products, cores, memory, executor_cores, executor_memory, conn, runs,
                   master_state, execs, tables, wall, load_before, load_after) -> str:
    command = (f"python -m tools.cluster_local nightly --ds {ds} --products {products} "
               f"--cores {cores} --memory {memory} --executor-cores {executor_cores} "
               f"--executor-memory {executor_memory} --doc docs/cluster-run.md")
    by_app: dict[str, list[dict]] = {}
    for e in execs:
        by_app.setdefault(e["app"], []).append(e)
    apps = sorted(master_state.get("completedapps", []), key=lambda a: a["starttime"])
    lines = [
        "# The nightly DAG on a standalone Spark cluster", "",
        "The unchanged nightly DAG (`airflow dags test`, every task a `SparkSubmitOperator` or a "
        "process on the worker) against a real standalone cluster started on loopback from "
        "pyspark's own scripts: one master JVM, one worker JVM, and executors in JVMs of their "
        "own. The master URL reaches the operator only through Airflow's `spark_default` "
        "connection (`AIRFLOW_CONN_SPARK_DEFAULT`, made from `Settings.spark_master`); executor "
        "sizes only through `spark-defaults.conf` (`SPARK_CONF_DIR`).", "",
        "```bash", command, "```", "",
        f"Demo catalog of {products} products, logical date {ds}; cluster: worker with "
        f"{cores} cores and {memory}, executors of {executor_cores} core(s) and "
        f"{executor_memory}. Whole run {wall:.0f} s on a shared 2-core machine (load average "
        f"{load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end; durations are "
        "inflated by the other work on the cores).", "",
        f"Connection: `{conn}`", "",
        "## Tasks", "", "| task | state | seconds | try |", "| --- | --- | --- | --- |"]
    for r in runs:
        lines += [f"| {t['task_id']} | {t['state']} | {t['seconds']:.1f} | {t['try'] or '-'} |"
                  for t in r["tasks"]]
    lines += ["", "## Spark applications and their executors", "",
              "| application | name | cores | executors (id: JVM pid) | seconds |",
              "| --- | --- | --- | --- | --- |"]
    for a in apps:
        ex = ", ".join(f"{e['executor']}: {e['pid']}" for e in by_app.get(a["id"], []))
        lines.append(f"| {a['id']} | {a['name']} | {a['cores']} | {ex} | "
                     f"{a['duration'] / 1000:.1f} |")
    lines += ["", "## Tables after the run", "", "```", tables, "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cluster_local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "nightly"])
    parser.add_argument("--dir", type=Path, default=Path("var/spark-cluster"))
    parser.add_argument("--cores", type=int, default=2, help="worker cores (default 2)")
    parser.add_argument("--memory", default="2g", help="worker memory (default 2g)")
    parser.add_argument("--ds", default="2026-11-24", help="nightly: logical date")
    parser.add_argument("--products", type=int, default=24, help="nightly: demo catalog size")
    parser.add_argument("--executor-cores", type=int, default=1,
                        help="nightly: cores per executor (default 1: two executors per job)")
    parser.add_argument("--executor-memory", default="900m", help="nightly: memory per executor")
    parser.add_argument("--doc", type=Path, help="nightly: write the report (markdown) here")
    args = parser.parse_args(argv)
    if args.command == "nightly":
        return nightly(args.dir.resolve(), args.ds, args.products, args.cores, args.memory,
                       args.executor_cores, args.executor_memory, args.doc)
    with standalone_cluster(args.dir.resolve(), args.cores, args.memory) as cluster:
        print(f"master {cluster.master_url}  UI {cluster.ui_url}  logs {cluster.work_dir}",
              flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
