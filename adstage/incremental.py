"""Incremental nightly runs: rows whose inputs did not change are carried forward, not recomputed.

Every row a stage writes records an ``input_fingerprint``: sha256 of everything that decides it —
the stage's *salt* (the settings that shape its output, the versions of the models it runs, the
adstage version) and the row's own inputs (content-addressed image URIs, boxes, the donor list,
...). On a date D a stage:

1. computes the fingerprint of each unit of work (a product) from D's inputs;
2. finds the latest earlier date it wrote (``previous_date``) and the units whose rows there all
   carry the same fingerprint, none of them a transient failure (``RETRY_REASONS``);
3. copies those rows, re-dated to D and otherwise unchanged (``mlflow_run_id`` and ``seconds``
   still name the run that computed them), and computes only the rest;
4. writes D's partition complete (carried + computed), as a full run would.

A stage with nothing to compute runs no model at all. What is not covered: a change of the
stage's *code* without an ``adstage.__version__`` bump; ``incremental=false`` recomputes
everything (after a fix, or to audit a carried date).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from adstage import __version__, delta
from adstage.config import Settings
from adstage.reasons import Reason

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

FINGERPRINT = "input_fingerprint"
# Outcomes that may not recur (a store hiccup, a bug since fixed): always recomputed.
RETRY_REASONS = (Reason.INTERNAL_ERROR.value, Reason.CORRUPT_IMAGE.value)


def salt(stage: str, **parts: object) -> str:
    """sha256 of what decides every row of a stage besides its own inputs: settings, model
    versions, the adstage version. Any change invalidates every carried row of the stage."""
    doc = {"stage": stage, "adstage": __version__, **parts}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint(stage_salt: str, *cols: "str | Column") -> "Column":
    """A row's fingerprint column: the salt and the row's input columns as canonical JSON."""
    from pyspark.sql import functions as F

    return F.sha2(F.concat_ws("|", F.lit(stage_salt), F.to_json(F.struct(*cols))), 256)


def digest(stage_salt: str, rows: Sequence[Sequence[object]]) -> str:
    """One fingerprint for a whole set of input rows (order-free): for a stage whose output is
    a statistic over the date's rows (the evaluation)."""
    lines = sorted(json.dumps(list(r), default=str) for r in rows)
    return hashlib.sha256("\n".join([stage_salt, *lines]).encode()).hexdigest()


def _only(df: "DataFrame", only: Mapping[str, Sequence[str]] | None) -> "DataFrame":
    from pyspark.sql import functions as F

    for col, values in (only or {}).items():
        df = df.filter(F.col(col).isin(list(values)))
    return df


def previous_date(spark: "SparkSession", settings: Settings, tables: Sequence[str], ds: str,
                  only: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """The latest date before `ds` on which any of `tables` got rows (narrowed by `only`)."""
    from pyspark.sql import functions as F

    found = []
    for name in tables:
        df = spark.read.format("delta").load(delta.ensure_table(spark, settings, name))
        latest = _only(df.filter(F.col("ds") < F.lit(ds).cast("date")), only).agg(
            F.max("ds")).first()[0]
        if latest is not None:
            found.append(latest.isoformat())
    return max(found) if found else None


@dataclass
class Plan:
    """What a stage computes on `ds` and what it carries forward (see the module docstring)."""

    stage: str
    ds: str
    key: str
    todo: "DataFrame"                       # inputs to compute, with their fingerprint
    carried: dict[str, "DataFrame"] = field(default_factory=dict)  # table -> re-dated rows
    source_ds: str | None = None
    n_computed: int = 0
    n_carried: int = 0

    def complete(self, table: str, computed: "DataFrame") -> "DataFrame":
        """`computed` rows (fingerprint attached by key) plus the rows carried into `table`."""
        from pyspark.sql import functions as F

        keyed = computed.drop(FINGERPRINT).join(
            F.broadcast(self.todo.select(self.key, FINGERPRINT)), self.key, "left")
        carried = self.carried.get(table)
        return keyed if carried is None else keyed.unionByName(carried, allowMissingColumns=True)

    def write(self, settings: Settings, out: "DataFrame", done_table: str, rejects_table: str,
              only: Mapping[str, Sequence[str]] | None = None,
              extra_rejects: "DataFrame | None" = None) -> tuple["DataFrame", "DataFrame"]:
        """The write half of every stage: `out`'s rows without a reason into `done_table`, the
        others (and `extra_rejects`) into `rejects_table`, each completed with the carried
        rows and replacing the date's partition (narrowed by `only`). Returns both frames for
        the stage's metrics (read them while `out` is still persisted)."""
        from pyspark.sql import functions as F

        spark = out.sparkSession
        done = self.complete(done_table, out.filter(F.col("reason").isNull()))
        rejects = self.complete(rejects_table, out.filter(F.col("reason").isNotNull()))
        if extra_rejects is not None:
            rejects = rejects.unionByName(extra_rejects, allowMissingColumns=True)
        delta.replace_date(spark, done, settings, done_table, self.ds, only)
        delta.replace_date(spark, rejects, settings, rejects_table, self.ds, only)
        return done, rejects

    def compute(self, fn: Callable[["DataFrame"], "DataFrame"], ddl: str) -> "DataFrame":
        """`fn(todo)`: the stage's model work on the units to compute, spread over the cluster
        by key; or an empty frame of schema `ddl` when there is nothing to compute, and then no
        model is loaded and no Python worker started."""
        spark = self.todo.sparkSession
        if not self.n_computed:
            return spark.createDataFrame([], ddl)
        return fn(self.todo.drop(FINGERPRINT).repartition(
            max(spark.sparkContext.defaultParallelism, 1), self.key))

    def metrics(self) -> dict[str, int]:
        return {"incremental.computed": self.n_computed, "incremental.carried": self.n_carried}


def plan(spark: "SparkSession", settings: Settings, stage: str, ds: str, inputs: "DataFrame",
         key: str, tables: Sequence[str],
         only: Mapping[str, Sequence[str]] | None = None) -> Plan:
    """Split `inputs` (one row per `key`, with a ``FINGERPRINT`` column) into the units to
    compute and the rows of `tables` to carry from the latest earlier date. A unit is carried
    only when all its rows there (narrowed by `only`, e.g. the job's methods) have its current
    fingerprint and none is a transient failure."""
    from pyspark.sql import functions as F

    # Materialised once: the inputs are joins and aggregations over several tables, and the
    # plan's frames are read by the model work, both writes and the metrics; without this each
    # of those actions would rebuild them (and their fingerprints) from the Delta files.
    inputs = inputs.localCheckpoint()
    source = previous_date(spark, settings, tables, ds, only) if settings.incremental else None
    if source is None:
        p = Plan(stage, ds, key, inputs, n_computed=inputs.count())
        _log(p, "no earlier date to carry from" if settings.incremental else "incremental=false")
        return p
    prev = {t: _only(delta.read_date(spark, settings, t, source), only) for t in tables}
    marks = reduce(lambda a, b: a.unionByName(b), [
        df.select(key, FINGERPRINT,
                  (F.col("reason").isin(list(RETRY_REASONS)) if "reason" in df.columns
                   else F.lit(False)).alias("_retry"))
        for df in prev.values()])
    reusable = (marks.groupBy(key)
                .agg(F.min(FINGERPRINT).alias(FINGERPRINT),
                     F.countDistinct(FINGERPRINT).alias("_n"),
                     F.max(F.col(FINGERPRINT).isNull().cast("int")).alias("_null"),
                     F.max(F.col("_retry").cast("int")).alias("_retry"))
                .filter("_n = 1 AND _null = 0 AND _retry = 0").select(key, FINGERPRINT))
    keys = inputs.select(key, FINGERPRINT).join(reusable, [key, FINGERPRINT]).select(
        key).localCheckpoint()
    todo = inputs.join(keys, key, "left_anti")
    lit_ds = F.lit(ds).cast("date")
    carried = {t: df.join(keys, key, "left_semi").withColumn("ds", lit_ds)
               for t, df in prev.items()}
    n, n_carried = inputs.count(), keys.count()
    p = Plan(stage, ds, key, todo, carried, source, n_computed=n - n_carried,
             n_carried=n_carried)
    _log(p, f"fingerprints compared with {source}")
    return p


def carry_date(spark: "SparkSession", settings: Settings, table: str, ds: str,
               stage_digest: str) -> "tuple[str, DataFrame] | None":
    """``(date, rows)``: the rows of `table`'s latest earlier date, re-dated to `ds`, when every
    one of them has `stage_digest` as its fingerprint (the whole date's input is unchanged);
    else None."""
    from pyspark.sql import functions as F

    source = previous_date(spark, settings, [table], ds) if settings.incremental else None
    if source is None:
        return None
    prev = delta.read_date(spark, settings, table, source)
    fps = {r[0] for r in prev.select(FINGERPRINT).distinct().collect()}
    if fps != {stage_digest}:
        log.info("%s ds=%s: input differs from %s's; recomputing", table, ds, source)
        return None
    log.info("%s ds=%s: input identical to %s's; its rows carried forward", table, ds, source)
    return source, prev.withColumn("ds", F.lit(ds).cast("date"))


def _log(p: Plan, why: str) -> None:
    log.info("%s ds=%s incremental: %d %ss to compute, %d carried forward (%s)", p.stage, p.ds,
             p.n_computed, p.key, p.n_carried, why)
