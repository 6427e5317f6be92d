"""The nightly DAG: integrity (after Airflow's own example-DAG test) and one real run.

The real run goes all the way on a small demo catalog: `airflow dags test` →
SparkSubmitOperator → spark-submit → every job in jobs/ → Delta tables, the gallery, the quality
gate, and an MLflow run per task.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adstage.airflow_local import DAGS, airflow_env, dags_test
from conftest import make_settings

DAG_FILE = DAGS / "adstage_nightly.py"
DS = "2026-11-24"


def load_dagbag_in_subprocess(tmp_path: Path) -> str:
    """Parse the DAG folder in a fresh interpreter whose metadata DB cannot be reached, so a
    DAG that touches the database or a connection at parse time fails here."""
    code = f"""
import json
try:
    from airflow.dag_processing.dagbag import DagBag   # Airflow >= 3.2
except ImportError:
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder={str(DAG_FILE)!r}, include_examples=False)
dag = bag.dags.get("adstage_nightly")
print(json.dumps({{
    "errors": {{k: str(v) for k, v in bag.import_errors.items()}},
    "dags": sorted(bag.dags),
    "tasks": [t.task_id for t in dag.tasks] if dag else [],
    "conn_ids": sorted({{getattr(t, "_conn_id", None) or "" for t in dag.tasks
                        if hasattr(t, "_conn_id")}}) if dag else [],
    "schedule": str(dag.timetable.summary) if dag else None,
    "catchup": dag.catchup if dag else None,
    "max_active_runs": dag.max_active_runs if dag else None,
    "tz": str(dag.start_date.tzinfo) if dag else None,
    "retries": [t.retries for t in dag.tasks] if dag else [],
    "args": [getattr(t, "application_args", None) or [t.bash_command] for t in dag.tasks]
            if dag else [],
    "upstream": {{t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}} if dag else {{}},
}}))
"""
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"),
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:////nonexistent/no/airflow.db",
               AIRFLOW__CORE__LOAD_EXAMPLES="False")
    env.pop("AIRFLOW_CONN_SPARK_DEFAULT", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_dag_integrity(tmp_path):
    info = json.loads(load_dagbag_in_subprocess(tmp_path))
    assert info["errors"] == {}
    assert info["dags"] == ["adstage_nightly"]
    assert info["tasks"][0] == "ingest"
    assert info["tasks"][:5] == ["ingest", "classify", "cutouts", "shape_index", "pair_donors"]
    up = info["upstream"]
    assert up["stage_copy_paste"] == up["stage_vanilla"] == ["pair_donors"]
    assert up["evaluate"] == ["stage_copy_paste", "stage_vanilla"]
    assert up["animate"] == ["stage_copy_paste"] and up["gallery"] == ["animate", "evaluate"]
    assert up["quality_gate"] == ["gallery"]
    assert info["conn_ids"] == ["spark_default"]
    assert info["schedule"] in ("@daily", "0 0 * * *") and info["catchup"] is True
    assert info["max_active_runs"] >= 1 and info["tz"] == "UTC"
    assert all(r >= 1 for r in info["retries"])
    assert all(("--ds" in args[:1] and "ds" in args[1]) or "ds" in args[0]
               for args in info["args"])


def test_dag_file_imports_nothing_heavy():
    source = DAG_FILE.read_text()
    for heavy in ("pyspark", "pandas", "mlflow", "torch", "Variable.get", "adstage"):
        assert f"import {heavy}" not in source and f"from {heavy}" not in source


@pytest.mark.slow
def test_real_dag_run_stages_the_demo_catalog(tmp_path):
    """The whole night, every task for real, on a small demo catalog."""
    import mlflow

    from adstage.demo.catalog import generate_catalog
    from adstage.report import read_table
    from adstage.tracking import recent_runs

    summary = generate_catalog(tmp_path / "catalog", 24, seed=7, ds=DS)
    settings = make_settings(tmp_path / "home")
    base = {k: v for k, v in os.environ.items() if not k.startswith("ADSTAGE_")}
    base.update(ADSTAGE_HOME=settings.home, ADSTAGE_FEED_URI=str(summary["feed"]),
                ADSTAGE_ALLOWED_ROOTS=str(tmp_path / "catalog"), ADSTAGE_SHUFFLE_PARTITIONS="2",
                ADSTAGE_STAGING_METHODS="copy_paste,hard_paste,vanilla",
                ADSTAGE_EVAL_HOLDOUT_SHARE="0.3", ADSTAGE_PARALLAX_SECONDS="1")
    if os.environ.get("ADSTAGE_JARS_DIR"):
        base["ADSTAGE_JARS_DIR"] = os.environ["ADSTAGE_JARS_DIR"]
    env = airflow_env(tmp_path / "airflow", settings, base=base)
    dags_test("adstage_nightly", DS, env, capture=True, timeout=1500)

    products = read_table(settings, "product_cutouts")["product_id"].nunique()
    n_images = summary["n_products"] + summary["n_staged"]
    assert len(read_table(settings, "catalog_images")) == n_images
    staged = read_table(settings, "staged_images", ds=DS)
    assert set(staged["method"]) == {"copy_paste", "hard_paste", "vanilla"}
    assert (staged["method"] == "vanilla").sum() == products
    assert set(read_table(settings, "staging_metrics", ds=DS)["method"]) >= {
        "copy_paste", "hard_paste", "vanilla"}
    clips = read_table(settings, "animations", ds=DS)
    assert len(clips) == (staged["method"] == "copy_paste").sum() > 0
    page = settings.gallery_path / DS / "index.html"
    assert page.read_text().count('class="card"') == staged["product_id"].nunique()

    mlflow.set_tracking_uri(settings.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[settings.mlflow_experiment])
    tasks = [t for t in json.loads(load_dagbag_in_subprocess(tmp_path))["tasks"]]
    assert sorted(runs["tags.adstage.job"]) == sorted(tasks)  # one MLflow run per task
    assert set(runs["status"]) == {"FINISHED"}
    assert set(runs["tags.adstage.ds"]) == {DS}
    gate = runs[runs["tags.adstage.job"] == "quality_gate"].iloc[0]
    assert gate["tags.adstage.gate"] == "pass"
    staging = runs[runs["tags.adstage.job"] == "stage_copy_paste"].iloc[0]
    assert staging["tags.adstage.gallery"] == str(page)  # the page is linked from the run
    ingest = runs[runs["tags.adstage.job"] == "ingest"].iloc[0]
    assert ingest["metrics.images_accepted"] == n_images
    assert ingest["metrics.duration_s"] > 0
    assert ingest["params.conf.feed_uri"] == str(summary["feed"])
    assert [r for r in recent_runs(settings, 20) if r["job"] == "ingest"][0]["status"] == "FINISHED"


def test_demo_progress_keeps_task_states_and_job_lines():
    from adstage.airflow_local import PROGRESS, _short

    state = ("2026-11-25T03:11:16.009955Z [info     ] Task instance state updated    "
             "[airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:424 "
             "new_state=success rows_affected=1 ti_id=01a2")
    job = ("2026-11-25T03:10:44.388441Z [info     ] 03:10:44 INFO    adstage.ingest: validated 40 "
           "feed rows, fetched 64 images [airflow.task.hooks.airflow.providers.apache.spark.hooks."
           "spark_submit.SparkSubmitHook] loc=spark_submit.py:965")
    noise = "2026-11-25T03:10:13Z [info     ] Filling up the DagBag [airflow.models.dagbag.DagBag]"
    assert _short(state) == "03:11:16 airflow: task success"
    assert _short(job) == "03:10:44 INFO    adstage.ingest: validated 40 feed rows, fetched 64 images"
    assert PROGRESS.search(state) and PROGRESS.search(job) and not PROGRESS.search(noise)


def test_backfill_plans_one_run_per_logical_date(tmp_path):
    """`airflow backfill create` (the ops guide's command) against the real DAG: one run per
    date of the range, each of which writes only its own `ds` partitions."""
    from adstage.airflow_local import ensure_db

    env = airflow_env(tmp_path / "airflow", make_settings(tmp_path / "home"))
    ensure_db(env)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "dags", "reserialize"], env=env, check=True, capture_output=True,
                   timeout=300)
    out = subprocess.run([airflow, "backfill", "create", "--dag-id", "adstage_nightly",
                          "--from-date", "2026-11-20", "--to-date", "2026-11-22",
                          "--max-active-runs", "2", "--reprocess-behavior", "completed",
                          "--dry-run"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    planned = out.stdout.split("Logical dates to be attempted:")[1].split()
    assert [d for d in planned if d.startswith("2026-")] == ["2026-11-20", "2026-11-21", "2026-11-22"]
