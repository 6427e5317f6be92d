"""Delta writes the whole pipeline uses: create from the contract, rewrite one date, upsert.

Two rules: a logical date is rewritten atomically with `replaceWhere` (never delete-then-append),
and current-state tables are MERGEd so that a re-run of a date changes nothing.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Mapping, Sequence

from adstage.config import Settings
from adstage.tables import spec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

# Creatives read tables with delta-rs (deltalake): keep to features its readers support.
TABLE_PROPERTIES = {"delta.enableDeletionVectors": "false"}
CONFLICT_RETRIES = 4
# Optimistic-concurrency conflicts (ConcurrentAppend..., ProtocolChanged, MetadataChanged) and a
# table being created by another job right now: all settle when retried.
RETRYABLE = ("Concurrent", "ProtocolChanged", "MetadataChanged",
             "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION")


def ensure_table(spark: "SparkSession", settings: Settings, name: str) -> str:
    """Create the table from its contract when missing; return its URI."""
    from delta.tables import DeltaTable

    contract = spec(name)
    uri = settings.table_uri(name)
    builder = DeltaTable.createIfNotExists(spark).location(uri).comment(contract.description)
    for field in contract.spark_schema().fields:
        builder = builder.addColumn(field.name, field.dataType, nullable=field.nullable,
                                    comment=field.metadata.get("comment"))
    if contract.partition_by:
        builder = builder.partitionedBy(*contract.partition_by)
    for key, value in TABLE_PROPERTIES.items():
        builder = builder.property(key, value)
    if not DeltaTable.isDeltaTable(spark, uri):
        # Two jobs creating one table at once: the loser sees a half-made folder or a log
        # without its first commit yet; once the winner's commit lands, a retry is a no-op.
        _with_retries(builder.execute, name, extra=("DELTA_TABLE_NOT_FOUND",))
    else:
        _add_new_columns(spark, uri, name)
    return uri


_CURRENT: set[str] = set()  # tables seen with every contract column, in this process


def _add_new_columns(spark: "SparkSession", uri: str, name: str) -> None:
    """A contract column added after the table was created (nullable, appended): added to the
    table, so that a warehouse written by an older adstage keeps working. A column the
    contract now allows to be null (``animations.gif_uri`` once GIFs became opt-in) has its
    NOT NULL dropped."""
    if uri in _CURRENT:
        return
    fields = {f.name: f for f in spark.read.format("delta").load(uri).schema.fields}
    have = set(fields)
    for c in spec(name).columns:
        if c.nullable and c.name in fields and not fields[c.name].nullable:
            log.info("%s: column %s may now be null (contract)", name, c.name)
            _with_retries(lambda c=c: spark.sql(
                f"ALTER TABLE delta.`{uri}` ALTER COLUMN {c.name} DROP NOT NULL"), name)
    missing = [c for c in spec(name).columns if c.name not in have]
    for c in missing:
        if not c.nullable:
            raise ValueError(f"{name}: contract column {c.name} is missing from {uri} and not "
                             "nullable; migrate the table by hand")
    if missing:
        cols = ", ".join(f"{c.name} {c.type.replace('long', 'bigint')} COMMENT '"
                         + c.description.replace("'", "\\'") + "'" for c in missing)
        log.info("%s: adding contract columns %s", name, [c.name for c in missing])
        _with_retries(lambda: spark.sql(f"ALTER TABLE delta.`{uri}` ADD COLUMNS ({cols})"), name)
    _CURRENT.add(uri)


def conform(df: "DataFrame", name: str) -> "DataFrame":
    """Select and cast the contract's columns in order: the one place rows meet the schema."""
    from pyspark.sql import functions as F

    schema = spec(name).spark_schema()
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def replace_date(spark: "SparkSession", df: "DataFrame", settings: Settings, name: str,
                 ds: str, only: Mapping[str, Sequence[str]] | None = None) -> str:
    """Atomically replace the rows of one logical date (partition) with `df`.

    `only` narrows what is replaced, e.g. ``{"method": ["vanilla"]}``: two jobs writing their
    own methods of one date into one table then never erase each other's rows (every row of
    `df` must match, which Delta checks).
    """
    uri = ensure_table(spark, settings, name)
    out = conform(df, name)
    where = f"ds = DATE'{ds}'"
    for col, values in (only or {}).items():
        quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
        where += f" AND {col} IN ({quoted})"
    _with_retries(lambda: out.write.format("delta").mode("overwrite")
                  .option("replaceWhere", where).save(uri), name)
    return uri


def merge_upsert(spark: "SparkSession", df: "DataFrame", settings: Settings, name: str,
                 keep_on_insert: tuple[str, ...] = (),
                 seen: tuple[str, ...] = ()) -> dict[str, int]:
    """Upsert on the contract's key. A matched row is updated only when the source's `ds` is
    not older than the row's and some column differs, so re-running a date rewrites nothing and a
    backfill of an old date never overwrites newer data. `keep_on_insert` columns are written on
    insert only (e.g. first_seen_ds). `seen` columns (e.g. last_seen_ds) move forward on every
    match, the content unchanged or not: the later of the row's and the source's value.

    Returns the rows inserted, updated (content) and seen again (only a `seen` column moved);
    `updated` is counted before the MERGE (Delta reports one figure for all its update clauses)."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    contract = spec(name)
    uri = ensure_table(spark, settings, name)
    src = conform(df, name)
    key = " AND ".join(f"t.{k} = s.{k}" for k in contract.key)
    update_cols = [c for c in contract.names
                   if c not in contract.key and c not in keep_on_insert and c not in seen]
    changed = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in update_cols if c != "ds")
    content = f"s.ds >= t.ds AND ({changed})"
    forward = {c: f"CASE WHEN t.{c} IS NULL OR s.{c} > t.{c} THEN s.{c} ELSE t.{c} END"
               for c in seen}
    moved = " OR ".join(f"(s.{c} IS NOT NULL AND (t.{c} IS NULL OR s.{c} > t.{c}))" for c in seen)

    def run():
        merge = (DeltaTable.forPath(spark, uri).alias("t").merge(src.alias("s"), key)
                 .whenMatchedUpdate(condition=content,
                                    set={**{c: f"s.{c}" for c in update_cols}, **forward}))
        if seen:
            merge = merge.whenMatchedUpdate(condition=moved, set=forward)
        return merge.whenNotMatchedInsert(values={c: f"s.{c}" for c in contract.names}).execute()

    updated = None
    if seen:
        target = spark.read.format("delta").load(uri)
        updated = (src.alias("s").join(target.alias("t"), F.expr(key)).filter(F.expr(content))
                   .count())
    result = _with_retries(run, name)
    metrics = {"inserted": 0, "updated": 0, "seen": 0}
    if result is not None:
        row = result.first()
        if row is not None:
            metrics = {"inserted": int(row["num_inserted_rows"]),
                       "updated": int(row["num_updated_rows"]), "seen": 0}
    if updated is not None:
        metrics["seen"] = max(metrics["updated"] - updated, 0)
        metrics["updated"] = min(updated, metrics["updated"])
    return metrics


def _with_retries(action, name: str, extra: tuple[str, ...] = ()):
    """Retry Delta's optimistic-concurrency conflicts (two backfill dates landing at once);
    `extra` adds error markers that are transient for this one action."""
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            return action()
        except Exception as exc:  # py4j wraps Delta's exceptions; match on the class name
            text = type(exc).__name__ + str(exc)[:500]
            if not any(marker in text for marker in RETRYABLE + extra) or attempt == CONFLICT_RETRIES:
                raise
            log.warning("write conflict on %s (attempt %d/%d), retrying: %s", name, attempt,
                        CONFLICT_RETRIES, str(exc).splitlines()[0])
            time.sleep(1.0 * attempt)


def read_date(spark: "SparkSession", settings: Settings, name: str, ds: str) -> "DataFrame":
    """The rows one logical date wrote."""
    from pyspark.sql import functions as F

    return (spark.read.format("delta").load(ensure_table(spark, settings, name))
            .filter(F.col("ds") == F.lit(ds).cast("date")))


def read_as_of(spark: "SparkSession", settings: Settings, name: str, ds: str,
               key: str) -> "DataFrame":
    """Each `key`'s rows from its latest date on or before `ds` (per-date tables' current state)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(ensure_table(spark, settings, name))
    df = df.filter(F.col("ds") <= F.lit(ds).cast("date"))
    return (df.withColumn("_latest", F.max("ds").over(Window.partitionBy(key)))
            .filter(F.col("ds") == F.col("_latest")).drop("_latest"))


def update_columns(spark: "SparkSession", df: "DataFrame", settings: Settings, name: str,
                   columns: Sequence[str]) -> None:
    """Set `columns` of existing rows from `df` (matched on the contract's key); never inserts.
    A later stage annotating an earlier one's rows (the evaluation's seam scores)."""
    from delta.tables import DeltaTable

    contract = spec(name)
    uri = ensure_table(spark, settings, name)
    key = " AND ".join(f"t.{k} = s.{k}" for k in contract.key)
    _with_retries(lambda: DeltaTable.forPath(spark, uri).alias("t").merge(df.alias("s"), key)
                  .whenMatchedUpdate(set={c: f"s.{c}" for c in columns}).execute(), name)
