"""What every Spark job entry point shares: arguments, settings, logging, MLflow, the session."""
from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Callable, Mapping

from adstage import logs, tracking
from adstage.config import Settings, parse_overrides

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


def run_spark_job(job: str, args: argparse.Namespace,
                  body: Callable[..., Mapping[str, float]],
                  params: Mapping[str, object] | None = None, own_run: bool = True) -> int:
    """Load settings, open the MLflow run, build the session, run `body(spark, settings)` and
    log the metrics it returns. The session is stopped whatever happens. `own_run=False`: no
    MLflow run for the job itself (a job whose steps each open their own, `tracked`)."""
    from adstage.spark import get_session

    settings = Settings.load(parse_overrides(args.conf))
    logs.setup(settings.log_level)

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
