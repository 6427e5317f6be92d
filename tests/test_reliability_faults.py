"""Faults past the driver (tests/test_ingest_faults.py kills the driver): an executor JVM killed
mid-job on a real standalone cluster, and an Airflow task whose first attempt fails.

Both run the unchanged jobs the way production does (spark-submit to a standalone master;
`airflow tasks test` → SparkSubmitOperator → spark-submit), and both end with the tables
exactly as one clean run leaves them: no partial rows, no duplicates.
"""
from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tools.airflow_local import FAST_START_SPARK_DEFAULTS, airflow_env, ensure_db
from tools.cluster_local import spark_home, standalone_cluster
from adstage.jars import jar_paths
from adstage.report import read_table
from conftest import make_settings
from feeds import mixed_feed, png
from test_ingest_faults import job_env

JOB = Path(__file__).resolve().parents[1] / "jobs" / "ingest.py"
DS = "2026-11-24"
EXECUTOR_CLASS = b"org.apache.spark.executor.CoarseGrainedExecutorBackend"
FAILED = "Task failed with exception"  # the Airflow 3 task runner's line for a failed try


def table_rows(settings, name: str) -> list[tuple]:
    """A table's rows as sorted tuples of their scalar columns (stable across re-runs)."""
    df = read_table(settings, name)
    cols = sorted(c for c in df.columns if df[c].map(lambda v: isinstance(v, (str, int, float,
                                                                              type(None)))).all())
    return sorted(tuple(str(v) for v in row) for row in df[cols].itertuples(index=False))


class HoldFirst(http.server.BaseHTTPRequestHandler):
    """Serves one PNG; the first request is held until the test releases it, so the executor
    that made it is known to be inside a task when it is killed."""

    body: bytes = b""
    arrived = threading.Event()
    release = threading.Event()
    requests = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        cls = type(self)
        cls.requests += 1
        if cls.requests == 1:
            cls.arrived.set()
            cls.release.wait(120)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(cls.body)))
        self.end_headers()
        self.wfile.write(cls.body)

    def log_message(self, *args):
        pass


def executor_pids(work_dir: Path) -> list[int]:
    """Executor JVMs launched by this test's worker (their cwd is under its work dir)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if EXECUTOR_CLASS in (proc / "cmdline").read_bytes() and \
                    str(work_dir) in os.readlink(proc / "cwd"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.mark.e2e
def test_executor_killed_mid_job_then_the_job_and_a_rerun_are_exact(tmp_path):
    feed, expected = mixed_feed(tmp_path)
    HoldFirst.body = png(tmp_path / "served.png", colour=(10, 200, 30)).read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HoldFirst)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/remote.png"
    with feed.open("a") as out:
        out.write(f'{{"product_id": "p-remote", "title": "Remote lamp", "category": "lamp", '
                  f'"image_uri": "{url}", "feed_date": "{DS}"}}\n')
    settings = make_settings(tmp_path / "home")
    env = dict(job_env(tmp_path), ADSTAGE_HTTP_ALLOWED_HOSTS="127.0.0.1",
               ADSTAGE_FETCH_TIMEOUT_S="150")
    with standalone_cluster(tmp_path / "cluster", cores=2, memory="1g") as cluster:
        def submit(log: Path) -> subprocess.Popen:
            return subprocess.Popen(
                [str(spark_home() / "bin" / "spark-submit"), "--master", cluster.master_url,
                 "--deploy-mode", "client", "--executor-memory", "1g",
                 "--total-executor-cores", "2",
                 "--jars", ",".join(str(p) for p in jar_paths(settings.jars_path)),
                 str(JOB), "--ds", DS, "--feed", str(feed)],
                env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)

        first = submit(tmp_path / "killed.log")
        try:
            assert HoldFirst.arrived.wait(600), "no executor ever fetched the remote image"
            victims = executor_pids(cluster.work_dir)
            assert len(victims) == 1, victims
            os.kill(victims[0], signal.SIGKILL)
            HoldFirst.release.set()
            assert first.wait(900) == 0, (tmp_path / "killed.log").read_text()[-4000:]
        finally:
            HoldFirst.release.set()
            if first.poll() is None:
                first.kill()
        # The worker started a second executor for the application, which redid the tasks.
        assert len(list((cluster.work_dir / "work").glob("app-*/*"))) == 2
        assert HoldFirst.requests >= 2
        after_kill = {t: table_rows(settings, t) for t in ("catalog_images", "ingest_rejects")}

        rerun = submit(tmp_path / "rerun.log")
        assert rerun.wait(900) == 0, (tmp_path / "rerun.log").read_text()[-4000:]
    server.shutdown()
    catalog = read_table(settings, "catalog_images")
    assert len(catalog) == expected["images_accepted"] + 1 and catalog["image_id"].is_unique
    assert len(read_table(settings, "ingest_rejects")) == len(expected["rejects"])
    assert {t: table_rows(settings, t) for t in after_kill} == after_kill


@pytest.mark.e2e
def test_airflow_task_retried_after_a_failed_attempt_lands_the_same_rows(tmp_path):
    """The ingest task of the real DAG under `airflow tasks test`: the first attempt finds no
    feed (a late upload) and fails without writing; once the feed is there, the retry lands
    exactly what a clean run of this feed lands (tests/feeds.py knows it)."""
    feed, expected = mixed_feed(tmp_path)
    settings = make_settings(tmp_path / "home")
    late = feed.with_suffix(".uploading")
    feed.rename(late)
    base = dict(job_env(tmp_path), ADSTAGE_FEED_URI=str(feed))
    env = airflow_env(tmp_path / "airflow", settings, base=base,
                      spark_defaults=FAST_START_SPARK_DEFAULTS)
    ensure_db(env)
    airflow = str(Path(sys.executable).with_name("airflow"))

    def attempt(n: int) -> str:
        proc = subprocess.run([airflow, "tasks", "test", "adstage_nightly", "ingest", DS],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=900)
        (tmp_path / f"attempt-{n}.log").write_text(proc.stdout)
        assert proc.returncode == 0, proc.stdout[-4000:]
        return proc.stdout

    out = attempt(1)
    # `tasks test` exits 0 whatever the task did; the task's end is in its log.
    assert FAILED in out and f"feed for ds={DS} not found" in out, out[-4000:]
    assert not Path(settings.table_uri("catalog_images")).exists()
    assert not Path(settings.table_uri("ingest_rejects")).exists()

    late.rename(feed)
    out = attempt(2)
    assert FAILED not in out, out[-4000:]
    catalog = read_table(settings, "catalog_images")
    assert sorted(zip(catalog.product_id, catalog.image_role)) == expected["catalog"]
    rejects = read_table(settings, "ingest_rejects")
    got = [(lvl, p if isinstance(p, str) else None, r)
           for lvl, p, r in zip(rejects.level, rejects.product_id, rejects.reason)]
    assert sorted(got, key=str) == expected["rejects"]
