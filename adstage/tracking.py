"""MLflow: every job run is an MLflow run with its logical date, config, counts and duration."""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import time
from pathlib import Path
from typing import Iterator, Mapping

from adstage import redact
from adstage.config import Settings

log = logging.getLogger(__name__)


def configure(settings: Settings):
    """Point MLflow at the configured store and make sure the experiment exists."""
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    with _local_store_lock(settings):
        experiment = mlflow.get_experiment_by_name(settings.mlflow_experiment)
        if experiment is None:
            # A local artifact root next to the SQLite store; a tracking server keeps its own.
            artifact_location = None
            if settings.tracking_uri.startswith("sqlite:"):
                artifact_location = "file://" + settings.mlflow_artifact_uri
            mlflow.create_experiment(settings.mlflow_experiment,
                                     artifact_location=artifact_location)
    mlflow.set_experiment(settings.mlflow_experiment)
    return mlflow


@contextlib.contextmanager
def _local_store_lock(settings: Settings) -> Iterator[None]:
    """Two jobs starting at once (a backfill of two dates) would both run MLflow's schema
    migration on a new SQLite store and both create the experiment; one file lock orders them.
    A tracking server does this itself."""
    if not settings.tracking_uri.startswith("sqlite:"):
        yield
        return
    lock = Path(settings.home) / ".mlflow-init.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def job_run(settings: Settings, job: str, ds: str | None = None,
            params: Mapping[str, object] | None = None) -> Iterator["object"]:
    """Wrap one job execution in an MLflow run.

    Logs the logical date and job as tags, the settings and ``params`` as params, and the
    wall-clock duration as a metric; a failing job ends its run as FAILED and re-raises. Runs
    of the same job and date that a killed driver left RUNNING are closed as FAILED first
    (`close_abandoned_runs`).
    """
    mlflow = configure(settings)
    tags = {"adstage.job": job, "adstage.host": socket.gethostname(),
            "adstage.pid": str(os.getpid())}
    if ds:
        tags["adstage.ds"] = ds
        close_abandoned_runs(settings, job, ds)
    started = time.monotonic()
    with mlflow.start_run(run_name=f"{job} {ds or ''}".strip(), tags=tags) as run:
        mlflow.log_params({f"conf.{k}": v for k, v in settings.as_params().items()})
        if params:
            mlflow.log_params(redact.mapping(params))
        log.info("MLflow run %s (experiment %s, store %s)", run.info.run_id,
                 settings.mlflow_experiment, redact.text(settings.tracking_uri))
        try:
            yield run
        finally:
            mlflow.log_metric("duration_s", round(time.monotonic() - started, 3))


def _alive_here(run) -> bool:
    """Whether `run` was started by a process still alive on this host."""
    tags = run.data.tags
    if tags.get("adstage.host") != socket.gethostname():
        return False
    try:
        pid = int(tags.get("adstage.pid", ""))
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def close_abandoned_runs(settings: Settings, job: str, ds: str) -> list[str]:
    """Close as FAILED the runs of `job` for `ds` still RUNNING although their driver is gone
    (killed: SIGKILL, OOM, a lost node, which leave no chance to end the run). A run whose
    process is alive on this host is left alone; one started on another host is taken for
    dead (Airflow runs one attempt of a task and date at a time). Returns the closed run ids."""
    import mlflow
    from mlflow import MlflowClient

    runs = mlflow.search_runs(
        experiment_names=[settings.mlflow_experiment],
        filter_string=(f"tags.`adstage.job` = '{job}' AND tags.`adstage.ds` = '{ds}' "
                       "AND attributes.status = 'RUNNING'"), output_format="list")
    client = MlflowClient(settings.tracking_uri)
    closed = []
    for run in runs:
        if _alive_here(run):
            continue
        client.set_tag(run.info.run_id, "adstage.abandoned",
                       f"left RUNNING by a driver that is gone (host "
                       f"{run.data.tags.get('adstage.host', '?')}, pid "
                       f"{run.data.tags.get('adstage.pid', '?')}); closed as FAILED by the next "
                       f"run of {job} for {ds}")
        client.set_terminated(run.info.run_id, status="FAILED")
        closed.append(run.info.run_id)
        log.warning("MLflow run %s of %s ds=%s was left RUNNING by a driver that is gone: "
                    "closed as FAILED", run.info.run_id, job, ds)
    return closed


def latest_run(settings: Settings, job: str, ds: str, status: str = "FINISHED"):
    """The newest run of `job` for logical date `ds` with `status`, or None."""
    mlflow = configure(settings)
    runs = mlflow.search_runs(
        experiment_names=[settings.mlflow_experiment], max_results=1,
        filter_string=(f"tags.`adstage.job` = '{job}' AND tags.`adstage.ds` = '{ds}' "
                       f"AND attributes.status = '{status}'"),
        order_by=["attributes.start_time DESC"], output_format="list")
    return runs[0] if runs else None


def recent_runs(settings: Settings, n: int = 10) -> list[dict[str, object]]:
    """The newest runs of the experiment, flattened for a terminal: job, ds, status, counts."""
    mlflow = configure(settings)
    runs = mlflow.search_runs(experiment_names=[settings.mlflow_experiment],
                              max_results=n, order_by=["attributes.start_time DESC"],
                              output_format="list")
    out = []
    for run in runs:
        metrics = run.data.metrics
        row = {"job": run.data.tags.get("adstage.job"), "ds": run.data.tags.get("adstage.ds"),
               "status": run.info.status, "run_id": run.info.run_id}
        row.update({k: int(v) if float(v).is_integer() else round(v, 2)
                    for k, v in sorted(metrics.items()) if "." not in k})
        out.append(row)
    return out
