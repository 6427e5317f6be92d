"""
### adstage training

Retrains every model the nightly DAG runs and moves a model's `@champion` alias only when the
new version is at least as good as the current champion on the held-apart set. Weekly (Sunday
03:00 UTC), no catch-up: one run trains on the tables as they stand at its logical date.
Trigger by hand with `airflow dags trigger adstage_training` (param `size`: `tiny` in CI, `full`
for real training).

Steps (each a process of its own, the worker's interpreter; `jobs/training.py`):
**training_sets** writes the training and held-apart sets from the Delta tables (staged photos
with donor-slot masks, product cutout masks; the evaluation hold-out stays out of training);
**train_classifier**, **train_segmenter** (their own generated data), **train_edgeconnect**,
**train_pix2pix** (the warehouse sets) train and export ONNX candidates; **promote** scores each
candidate and the current champion with the same figure on the same held-apart set, registers
the candidate as a new version and moves `@champion` only when it is at least as good; the
reason is on the version's tags (`adstage.promotion.*`) and on the MLflow run either way.
Roll back with `adstage promote NAME VERSION`. Operations guide: README.md.
"""
from __future__ import annotations

import shlex
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import Param, dag

TRAINING = shlex.quote(str(Path(__file__).resolve().parents[1] / "jobs" / "training.py"))
# The logical date as the nightly DAG takes it: manual runs without a logical date get one too.
DS = "{{ (data_interval_start or dag_run.run_after) | ds }}"
PYTHON = shlex.quote(sys.executable)
MODELS = ("classifier", "segmenter", "edgeconnect", "pix2pix")


def step(task_id: str, args: str) -> BashOperator:
    return BashOperator(task_id=task_id, bash_command=(
        f"{PYTHON} {TRAINING} {args} --ds {DS} --size {{{{ params.size }}}}"))


@dag(
    dag_id="adstage_training",
    schedule="0 3 * * 0",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["adstage", "training"],
    params={"size": Param("full", enum=["tiny", "full"],
                          description="trainer preset: tiny (CI, seconds) or full")},
    default_args={
        "owner": "adstage",
        "retries": 1,
        "retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(hours=12),
    },
)
def adstage_training():
    sets = step("training_sets", "sets")
    trained = [step(f"train_{m}", f"train {m}") for m in MODELS]
    # One gate over all candidates; a failed trainer fails it, so nothing half-trained is
    # promoted (the champions stay as they were).
    promote = step("promote", "promote")
    sets >> trained >> promote


adstage_training()
