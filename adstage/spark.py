"""The one way jobs and tests get a SparkSession with Delta Lake configured.

Under spark-submit (Airflow's SparkSubmitOperator, a cluster), the master, jars and resources
come from spark-submit and the connection: we add only the Delta SQL settings. Run directly
(python jobs/x.py, tests, notebooks), the session is local by default (`Settings.spark_master`,
any master URL works) with the cached Delta jars.
"""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from adstage import redact
from adstage.config import Settings
from adstage.jars import jar_paths, missing_jars

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def under_spark_submit() -> bool:
    # spark-submit starts the Python driver from a JVM that hands it a py4j gateway.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def session_conf(settings: Settings) -> dict[str, str]:
    """Every conf this project sets on a session, in one place (tests read it too)."""
    conf = dict(DELTA_CONF)
    conf.update({
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        # Delta rebuilds a table's file list (its log replayed) the first time a session
        # touches it, as a shuffle of 50 partitions by default: 2 700 tasks on the unchanged
        # night's one application at 1k products, 19 s of its 73 s. Sized like every other
        # shuffle of this cluster it took 4.5 s, and the night 107 s -> 75 s
        # (docs/benchmarks.md); spark_conf can still set it apart.
        "spark.databricks.delta.snapshotPartitions": str(settings.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        # Delta's own retention defaults are fine; a local run should not spam the UI port.
        "spark.ui.showConsoleProgress": "false",
        # Creatives read tables with delta-rs: keep features its pandas reader supports.
        "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
        # The batch a Python worker holds at once (mapInPandas / mapInArrow). Spark's 10 000
        # rows let a task of 8 000 images decode them all before the first inference: one
        # worker of cutouts grew from 0.8 GB at 1k products to 3.5 GB at 10k; with 256 rows it
        # stays at 0.8 GB, same speed (docs/benchmarks.md).
        "spark.sql.execution.arrow.maxRecordsPerBatch": "256",
    })
    conf.update(settings.spark_conf)
    return conf


def get_session(settings: Settings, app_name: str) -> "SparkSession":
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if not under_spark_submit():
        missing = missing_jars(settings.jars_path)
        if missing:
            raise RuntimeError(f"Delta jars missing: {', '.join(map(str, missing))}. "
                               "Run `make jars` (or `adstage jars`) once to fetch them.")
        builder = builder.master(settings.spark_master).config(
            "spark.jars", ",".join(str(p) for p in jar_paths(settings.jars_path)))
        builder = builder.config("spark.ui.enabled", "false")
    for key, value in session_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info("Spark %s session %s on %s", spark.version, app_name,
             redact.text(spark.sparkContext.master))  # k8s://https://user:pw@... happens
    return spark
