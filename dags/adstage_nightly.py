"""
### adstage nightly

Turns the day's catalog feed into staged ad images. Each stage is a Spark job submitted with
`spark-submit` through the `spark_default` connection (master, deploy mode and resources live
there, never in job code) and is idempotent for its logical date, which every job receives as
`--ds`, taken from the run's data interval.

Stages: **ingest** (feed → `catalog_images`, `ingest_rejects`); then **plan_night** picks the
layout: on a catalog that did not change since the last complete night, **carry_forward** runs
every stage below in one Spark application (they only carry their rows forward, and one JVM
costs less than eight); otherwise each is its own task. The rows are the same either way
(docs/incremental.md). The vision core:
**classify** (→ `image_labels`), **cutouts** (→ `product_cutouts`, `donor_slots`),
**shape_index** (→ FAISS files, `shape_index_versions`), **pair_donors** (→ `donor_pairs`,
`pairing_rejects`); staging: **stage_copy_paste** and **stage_vanilla** in parallel
(→ `staged_images`, `staging_rejects`), then **evaluate** (→ `staging_metrics`, seam scores)
and **animate** (→ `animations`), then the creative teams' **gallery** (an HTML page per
date, no Spark; its path is tagged on the MLflow runs), and last the **quality_gate**, which
fails the run loudly when products went missing, product pixels changed, too many products or
feed rows were refused, or FD / seam accuracy regressed against the previous dates.
Operations guide: README.md, "Operating the pipeline".
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag, task

from adstage.stages import STAGES, last_stages

JOBS = Path(__file__).resolve().parents[1] / "jobs"
# The logical date from the data interval: manual runs without a logical date still get one.
DS = "{{ (data_interval_start or dag_run.run_after) | ds }}"


def spark_job(task_id: str, script: str, *args: str, **kwargs) -> SparkSubmitOperator:
    return SparkSubmitOperator(
        task_id=task_id,
        conn_id="spark_default",
        application=str(JOBS / script),
        application_args=["--ds", DS, *args],
        name=f"adstage-{task_id}",
        # Delta's jars: the environment of the worker names them (make jars / the images).
        jars=os.environ.get("ADSTAGE_SPARK_JARS") or None,
        **kwargs,
    )


def python_job(task_id: str, script: str, **kwargs) -> BashOperator:
    return BashOperator(task_id=task_id, bash_command=(
        f"{shlex.quote(sys.executable)} {shlex.quote(str(JOBS / script))} --ds {DS}"), **kwargs)


@dag(
    dag_id="adstage_nightly",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    doc_md=__doc__,
    tags=["adstage", "nightly"],
    default_args={
        "owner": "adstage",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=2),
    },
)
def adstage_nightly():
    # In date order (depends_on_past): the night plan of D must see every earlier date's catalog.
    ingest = spark_job("ingest", "ingest.py", depends_on_past=True)

    @task.branch(task_id="plan_night")
    def plan_night(logical_ds: str) -> str:  # ("ds" is a name Airflow reserves)
        """A task per stage, or all of them in one application (adstage.night_plan)."""
        proc = subprocess.run([sys.executable, str(JOBS / "plan_night.py"), "--ds", logical_ds],
                              capture_output=True, text=True, check=False)
        print(proc.stderr, end="")  # its log, with the decision and the reason
        if proc.returncode:
            raise RuntimeError(f"plan_night failed (exit {proc.returncode})")
        plan = json.loads(proc.stdout.strip().splitlines()[-1])
        return "carry_forward" if plan["path"] == "one_app" else STAGES[0].job

    plan = plan_night(DS)
    # Reads the previous date like the stages it runs: one date's at a time.
    carry = spark_job("carry_forward", "carry_forward.py", depends_on_past=True)
    # The stages (adstage/stages.py, one list): the vision core (classify, cutouts,
    # shape_index, pair_donors; docs/vision-core.md), then staging (the paper's method and its
    # baseline side by side, judged against held-apart real photos, animated). Tasks that read
    # earlier dates wait for the previous date's instance (depends_on_past): in a backfill two
    # dates run at once, and the index of D must hold D-1's slots.
    tasks = {s.job: spark_job(s.job, s.script, depends_on_past=s.depends_on_past)
             for s in STAGES}
    ingest >> plan >> [tasks[STAGES[0].job], carry]
    for s in STAGES:
        for upstream in s.after:
            tasks[upstream] >> tasks[s.job]
    # Not Spark jobs (delta-rs reads): their own processes, the worker's interpreter.
    # After whichever layout ran (the other one is skipped).
    gallery = python_job("gallery", "gallery.py", trigger_rule="none_failed_min_one_success")
    # Last, so the creatives still get the page of a bad night: the gate fails the run loudly.
    # Never retried: its checks are deterministic, a second look at the same tables fails the
    # same way (the retries only delayed the failure by 2 + 4 minutes).
    gate = python_job("quality_gate", "quality_gate.py", depends_on_past=True, retries=0)
    [*(tasks[j] for j in last_stages()), carry] >> gallery >> gate


adstage_nightly()
