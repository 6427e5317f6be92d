"""A person's verdict on a donor slot: ``adstage block-slot SLOT_ID --reason ...``.

Detectors and masks make mistakes no automatic check catches (a glass coffee table merged into
a sofa's silhouette, a children's bed called a couch), and pairing sends every product of a
like shape to such a slot. One look at the gallery (or ``adstage why``) finds it; blocking it
takes it out of the shape index from the given night on (``shape_index.current_slots``), so
that night's pairing sends those products to other slots (their index version changed, so
``adstage.incremental`` recomputes them and nothing else).

A review names the slot's silhouette (its content-addressed ``mask_uri``): a slot recomputed
into another silhouette (a new detector or mask model) is judged afresh. Reviews are dated and
only appended, so a backfill of an earlier night stages what that night staged. Written with
delta-rs (no Spark: a command, not a job); ``--allow`` lifts a block.
"""
from __future__ import annotations

import datetime as dt
import getpass
from typing import TYPE_CHECKING

from adstage.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TABLE = "slot_reviews"
BLOCKED, ALLOWED = "blocked", "allowed"


class UnknownSlot(ValueError):
    """The slot id is in no ``donor_slots`` row on or before the night."""


def record(settings: Settings, slot_id: str, verdict: str, reason: str, ds: str,
           reviewer: str | None = None) -> dict:
    """Append one review; returns the row. The slot must exist (any night on or before ``ds``):
    its latest silhouette there is the one the verdict is about."""
    import pyarrow as pa
    from deltalake import write_deltalake
    from deltalake.exceptions import TableNotFoundError

    from adstage.report import read_table
    from adstage.tables import spec

    if verdict not in (BLOCKED, ALLOWED):
        raise ValueError(f"verdict must be {BLOCKED!r} or {ALLOWED!r}, got {verdict!r}")
    if not reason.strip():
        raise ValueError("a review needs a reason (what is wrong with the slot)")
    night = dt.date.fromisoformat(ds)
    try:
        slots = read_table(settings, "donor_slots", ["ds", "slot_id", "mask_uri"],
                           filters=[("slot_id", "=", slot_id)])
    except TableNotFoundError:
        slots = None
    if slots is not None:
        slots = slots[slots["ds"] <= night]
    if slots is None or slots.empty or slots["mask_uri"].isna().all():
        raise UnknownSlot(f"no donor slot {slot_id!r} with a silhouette on or before {ds} "
                          "(see `adstage why PRODUCT_ID` or the gallery for slot ids)")
    mask_uri = slots.dropna(subset=["mask_uri"]).sort_values("ds")["mask_uri"].iloc[-1]
    row = {"ds": night, "slot_id": slot_id, "mask_uri": mask_uri, "verdict": verdict,
           "reason": reason.strip(), "reviewer": reviewer or _login(),
           "reviewed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    contract = spec(TABLE)
    # Creates the table on the first review; later appends must name the same partitioning.
    write_deltalake(settings.table_uri(TABLE),
                    pa.Table.from_pylist([row], schema=contract.arrow_schema()),
                    mode="append", partition_by=list(contract.partition_by))
    return row


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no name: still a review, unsigned
        return "unknown"


def blocked(spark: "SparkSession", settings: Settings, ds: str) -> "DataFrame":
    """``slot_id``, ``mask_uri`` of the slots whose latest review on or before ``ds`` blocks
    them."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from adstage import delta

    reviews = (spark.read.format("delta").load(delta.ensure_table(spark, settings, TABLE))
               .filter(F.col("ds") <= F.lit(ds).cast("date")))
    latest = F.row_number().over(Window.partitionBy("slot_id", "mask_uri").orderBy(
        F.col("ds").desc(), F.col("reviewed_at").desc()))
    return (reviews.withColumn("_n", latest).filter("_n = 1")
            .filter(F.col("verdict") == BLOCKED).select("slot_id", "mask_uri"))
