"""A real Spark standalone cluster on loopback: one master and one worker, each its own JVM,
started from the scripts pyspark ships (`bin/spark-class`), so the unchanged jobs can be
submitted to `spark://127.0.0.1:<port>` with executors in their own JVMs.

    python -m adstage.cluster_local up      # start, print the master URL, wait for Ctrl-C
Used by tests/test_cluster.py and bench/standalone_nightly.py.
"""
from __future__ import annotations

import argparse
import contextlib
import os
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adstage.cluster_local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--dir", type=Path, default=Path("var/spark-cluster"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--memory", default="2g")
    args = parser.parse_args(argv)
    with standalone_cluster(args.dir.resolve(), args.cores, args.memory) as cluster:
        print(f"master {cluster.master_url}  UI {cluster.ui_url}  logs {cluster.work_dir}",
              flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
