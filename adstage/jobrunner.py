"""What every Spark job entry point shares: arguments, settings, logging, MLflow, the session."""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from typing import Callable, Mapping

from adstage import errors, logs, redact, tracking
from adstage.config import Settings, SettingsError, parse_overrides

log = logging.getLogger(__name__)


def logical_date(value: str) -> str:
    """argparse type: a logical date, YYYY-MM-DD, exactly as Airflow's `ds` renders it."""
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ds must be YYYY-MM-DD, got {value!r}") from None


def job_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", type=logical_date, required=True,
                        help="logical date to (re)process, YYYY-MM-DD (Airflow passes {{ ds }})")
    parser.add_argument("--conf", action="append", metavar="FIELD=VALUE", default=[],
                        help="override a setting (repeatable); see adstage.config.Settings. "
                             "ADSTAGE_<FIELD> environment variables work too")
    return parser


def reportable(exc: BaseException) -> bool:
    """Errors a person fixes from one line: settings, the feed, and anything Spark, Delta or
    Hadoop raised in the JVM (an unwritable warehouse, a path that is not there)."""
    return isinstance(exc, (errors.JobError, SettingsError)) or \
        errors._java_cause(exc) is not None


def fail(job: str, ds: str | None, exc: BaseException) -> int:
    """Print `exc` as one line on stderr (secrets masked) and return the exit status, 2."""
    where = f"{job} ds={ds}" if ds else job
    print(redact.text(f"{where}: error: {errors.one_line(exc)}"), file=sys.stderr, flush=True)
    log.debug("%s failed", where, exc_info=exc)
    return 2


def guarded(job: str, ds: str | None, fn: Callable[[], int]) -> int:
    """`fn()`, with a `reportable` error ending it as one line and exit status 2 (no
    traceback); any other exception is a bug and propagates with its traceback."""
    try:
        return fn()
    except Exception as exc:
        if not reportable(exc):
            raise
        return fail(job, ds, exc)


def load_settings(args: argparse.Namespace) -> Settings:
    """The job's settings from the environment and its --conf flags; logging set up."""
    settings = Settings.load(parse_overrides(args.conf))
    logs.setup(settings.log_level)
    return settings


def run_spark_job(job: str, args: argparse.Namespace,
                  body: Callable[..., Mapping[str, float]],
                  params: Mapping[str, object] | None = None, own_run: bool = True,
                  precheck: Callable[[Settings], None] | None = None) -> int:
    """Load settings, open the MLflow run, build the session, run `body(spark, settings)` and
    log the metrics it returns. The session is stopped whatever happens. `own_run=False`: no
    MLflow run for the job itself (a job whose steps each open their own, `tracked`).
    `precheck(settings)` runs before MLflow and Spark (a missing feed fails in a second).
    A mistyped or senseless setting, a missing or empty feed, a Spark/Delta error: one line
    on stderr and exit status 2 (`guarded`)."""

    def run() -> int:
        from adstage.spark import get_session

        settings = load_settings(args)
        if precheck is not None:
            precheck(settings)

        def session_body() -> Mapping[str, float]:
            spark = get_session(settings, f"adstage-{job}-{args.ds}")
            try:
                return body(spark, settings)
            finally:
                spark.stop()

        if own_run:
            tracked(settings, job, args.ds, session_body, params)
        else:
            session_body()
        return 0

    return guarded(job, args.ds, run)


def tracked(settings: Settings, job: str, ds: str, fn: Callable[[], Mapping[str, float]],
            params: Mapping[str, object] | None = None,
            tags: Mapping[str, str] | None = None) -> dict[str, float]:
    """`fn()` inside the MLflow run of `job` for `ds`; its metrics logged there and returned."""
    import mlflow

    with tracking.job_run(settings, job, ds, params) as run:
        if tags:
            mlflow.set_tags(dict(tags))
        metrics = dict(fn())
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        log.info("%s ds=%s done; MLflow run %s", job, ds, run.info.run_id)
    return metrics
