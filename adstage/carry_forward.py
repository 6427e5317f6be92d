"""Every downstream stage of a night in one Spark application (the night plan's ``one_app``).

Runs classify, cutouts, shape_index, pair_donors, stage_copy_paste, stage_vanilla, evaluate
and animate — their own ``run()``, in the DAG's order, each in its own MLflow run under its own
job name (tagged ``adstage.night_path=one_app``) — on one session. Each stage carries and
computes exactly what its task would (adstage.incremental): the rows are the same; what this
saves is eight JVM starts, sessions and Python imports (docs/incremental.md).

Chosen by adstage.night_plan when the catalog did not change since the last complete night.
When a stage still finds work (a model promoted or a setting changed since that night, which
the plan cannot see), it does it here, and the log says so.
"""
from __future__ import annotations

import importlib
import logging
import time
from typing import TYPE_CHECKING, Callable, Mapping

from adstage.config import Settings
from adstage.stages import STAGES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

COMPUTED = "incremental.computed"


def stage_runs() -> list[tuple[str, Callable[..., Mapping[str, float]]]]:
    return [(s.job, importlib.import_module(s.module).run) for s in STAGES]


def run(spark: "SparkSession", settings: Settings, ds: str) -> dict[str, dict[str, float]]:
    """Each stage's metrics, by job name. A stage that fails stops the night there, as its
    task would; the stages before it have written complete partitions."""
    from adstage.jobrunner import tracked

    results: dict[str, dict[str, float]] = {}
    for job, stage_run in stage_runs():
        started = time.monotonic()
        results[job] = tracked(settings, job, ds, lambda: stage_run(spark, settings, ds),
                               tags={"adstage.night_path": "one_app"})
        log.info("%s ds=%s: %.1f s in one application", job, ds, time.monotonic() - started)
    computed = {job: int(m[COMPUTED]) for job, m in results.items() if m.get(COMPUTED)}
    if computed:
        log.warning("carry_forward ds=%s computed %s: something besides the catalog changed "
                    "since the last night (a model version, a setting); the rows are right, "
                    "but a task per stage would have spread that work (carry_in_one_app=false)",
                    ds, computed)
    return results


def main(argv: list[str] | None = None) -> int:
    """CLI of the one-application night (`jobs/carry_forward.py`); no MLflow run of its own:
    each stage has its own."""
    from adstage.jobrunner import job_parser, run_spark_job

    args = job_parser("carry_forward", __doc__).parse_args(argv)
    return run_spark_job("carry_forward", args,
                         lambda spark, settings: run(spark, settings, args.ds), own_run=False)
