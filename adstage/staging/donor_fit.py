"""Can a product use a donor slot? The geometric checks of copy-paste, in one place.

A donor is refused when the product, placed as ``placement`` places it, would fill the slot
poorly (``fit_iou < staging_min_fit_iou``), leave too large a gap to generate
(``gap_share > staging_max_gap_share``, or ``staging_max_gap_share_behind`` behind a piece in
front), leave a gap too deep to fill without a visible blur (``staging_max_gap_depth``: its
deepest pixel's distance to anything kept, over the placed product's size), or cover more
than ``staging_max_size_ratio`` times the slot's area or less than its inverse (a stool is not
blown up to a bed's size).

The checks need only the product's cutout and the slot's masks, not the room's pixels or any
inpainting, so they run twice: over every (product, slot) pair of the date before the slot
quota assigns donors (``fitting_pairs``: a product never takes a place on a slot it cannot
use, and its fallbacks are slots it can), and again as the worker stages (``copy_paste``).
On the IKEA catalog, before this pass, 63 of the 70 products refused ``no_acceptable_donor``
had tried one donor only: the slots they fitted were full of other products' unused fallbacks.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from adstage import delta, incremental
from adstage.config import Settings
from adstage.errors import one_line
from adstage.staging.gap import gap_depth, gap_mask, gap_share
from adstage.staging.placement import Placed, place_product

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from adstage.staging.copy_paste import CopyPasteParams

# The column ``fitting_pairs`` adds: "" when the donor is acceptable, else why not.
REFUSAL = "fit_refusal"
# Slot masks kept decoded per Python worker (a room photo's masks, ~1 MB each at 1 Mpx).
SLOT_CACHE = 64


@dataclass(frozen=True)
class Fit:
    """``placed``: the product in room coordinates; ``size_ratio``: its mask's area over the
    slot's; ``refusal``: "" when acceptable, else one line saying which check failed;
    ``gap_depth``: the gap's depth over the product's size (``relative_depth``; None when a
    check before it failed)."""

    placed: Placed
    size_ratio: float
    refusal: str
    gap_depth: float | None = None


def relative_depth(gap: np.ndarray, box) -> float:
    """``gap_depth`` over the placed product's size, the square root of the area of its box
    (``(x0, y0, x1, y1)``, as ``staged_images.product_box``): the same blur is as visible
    beside a stool as beside a bed at the stool's scale."""
    x0, y0, x1, y1 = box
    return gap_depth(gap) / max(float(np.sqrt((x1 - x0) * (y1 - y0))), 1.0)


def check(slot: np.ndarray, front: np.ndarray | None, product: np.ndarray, alpha: np.ndarray,
          params: "CopyPasteParams", *, product_box=None, backdrop_bgr=None,
          colour: bool = True) -> Fit:
    """The product placed into ``slot`` (uint8 H x W, the room's size) and judged.

    :param front: uint8 H x W, pieces standing in front of the slot, or None.
    :param colour: False to judge only (``placed.image`` is None; same verdict, half the cost).
    :raises ValueError: empty product or slot, mismatched sizes (``place_product``)."""
    placed = place_product(slot.shape, slot, product, alpha, product_box=product_box,
                           backdrop_bgr=backdrop_bgr, front=front, colour=colour)
    size_ratio = float((placed.mask > 0).sum()) / max(float((slot > 0).sum()), 1.0)
    if placed.fit_iou < params.min_fit_iou:
        return Fit(placed, size_ratio, f"poor fit, IoU {placed.fit_iou:.2f} < {params.min_fit_iou}")
    gap = gap_mask(slot, placed.alpha, params.dilate_px)
    share = gap_share(gap, slot)
    limit = params.max_gap_share if front is None else min(params.max_gap_share,
                                                           params.max_gap_share_behind)
    if share > limit:
        return Fit(placed, size_ratio, f"gap too large, {share:.2f} of the slot > {limit}"
                   + ("" if front is None else " (behind a piece in front)"))
    if front is not None:
        gap[front > 0] = 0  # the pieces in front are kept, never filled (composite)
    depth = relative_depth(gap, placed.placement.box)
    if depth > params.max_gap_depth:
        return Fit(placed, size_ratio, f"gap too deep, {depth:.2f} of the product's size > "
                   f"{params.max_gap_depth:g} (a fill that far from the room is a blur)", depth)
    if not 1.0 / params.max_size_ratio <= size_ratio <= params.max_size_ratio:
        return Fit(placed, size_ratio, f"size mismatch, the product would cover "
                   f"{size_ratio:.2f}x the slot's area (limit {params.max_size_ratio:g}x "
                   "either way)", depth)
    return Fit(placed, size_ratio, "", depth)


def judge_product(store, rec: dict, params: "CopyPasteParams",
                  slots: "OrderedDict[str, tuple]") -> Iterator[tuple[str, str]]:
    """``(slot_id, refusal)`` for each of ``rec``'s donors. A product whose cutout or box
    cannot be read passes every donor: staging refuses it with its own reason.

    :param slots: decoded slot and front masks by slot id, shared across products (LRU)."""
    try:
        product, alpha = store.get_image_and_mask(rec["product_image_uri"],
                                                  rec["product_mask_uri"])
        box = ([int(v) for v in rec["product_box"]] if rec.get("product_box") is not None
               else None)
    except Exception:
        for d in rec["donors"]:
            yield d["slot_id"], ""
        return
    for d in rec["donors"]:
        try:
            if d["slot_id"] in slots:
                slots.move_to_end(d["slot_id"])
            else:
                slots[d["slot_id"]] = (
                    store.get_image(d["slot_mask_uri"], grey=True),
                    store.get_image(d["front_mask_uri"], grey=True)
                    if d.get("front_mask_uri") else None)
                while len(slots) > SLOT_CACHE:
                    slots.popitem(last=False)
            slot, front = slots[d["slot_id"]]
            refusal = check(slot, front, product, alpha, params, product_box=box,
                            colour=False).refusal
        except Exception as exc:
            refusal = f"unusable ({one_line(exc, 300)})"
        yield d["slot_id"], refusal


def pair_inputs(spark: "SparkSession", settings: Settings,
                ds: str) -> tuple["DataFrame", "DataFrame"]:
    """What a (product, slot) pair is staged from, as of ``ds``: the cutouts by ``image_id``
    (``product_image_uri``, ``product_mask_uri``, ``product_box``, ``background_bgr``) and the
    slots by ``slot_id`` (``donor_image_uri``, ``slot_mask_uri``, ``front_mask_uri``)."""
    from pyspark.sql import functions as F

    cut = delta.read_as_of(spark, settings, "product_cutouts", ds, "image_id").select(
        "image_id", F.col("image_uri").alias("product_image_uri"),
        F.col("mask_uri").alias("product_mask_uri"), F.col("box").alias("product_box"),
        "background_bgr")
    slots = delta.read_as_of(spark, settings, "donor_slots", ds, "image_id").select(
        "slot_id", F.col("image_uri").alias("donor_image_uri"),
        F.col("mask_uri").alias("slot_mask_uri"), "front_mask_uri")
    return cut, slots


# The settings a verdict depends on (``check``): changing another one (the shadow, the crop
# format) re-stages products but keeps their verdicts.
FIT_PARAMS = ("dilate_px", "max_gap_share", "min_fit_iou", "max_size_ratio",
              "max_gap_share_behind", "max_gap_depth")


def fitting_pairs(spark: "SparkSession", settings: Settings, ds: str, pairs: "DataFrame",
                  params: "CopyPasteParams") -> tuple["DataFrame", dict[str, int]]:
    """``pairs`` (the date's ``donor_pairs``) with ``fit_refusal``, and the pass's incremental
    metrics. Each product's verdicts are written to ``donor_fit`` for the date; a product whose
    cutout, box, donors' masks and the fit settings are those of the previous date carries its
    verdicts from there (``adstage.incremental``), so an unchanged night judges nothing."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    from adstage.imagestore import ImageStore

    cut, slots = pair_inputs(spark, settings, ds)
    donor = F.struct("slot_id", "slot_mask_uri", "front_mask_uri")
    recs = (pairs.select("product_id", "image_id", "slot_id").join(cut, "image_id")
            .join(slots, "slot_id")
            .groupBy("product_id", "product_image_uri", "product_mask_uri", "product_box")
            .agg(F.sort_array(F.collect_list(donor)).alias("donors")))
    fit_salt = incremental.salt("donor_fit", params={k: getattr(params, k) for k in FIT_PARAMS})
    plan = incremental.plan(spark, settings, "donor_fit", ds, recs.withColumn(
        incremental.FINGERPRINT, incremental.fingerprint(fit_salt, *recs.columns)),
        "product_id", ("donor_fit",))
    store_root = settings.image_store_uri
    ddl = f"product_id string, slot_id string, {REFUSAL} string"
    schema = pa.schema([("product_id", pa.string()), ("slot_id", pa.string()),
                        (REFUSAL, pa.string())])

    def run(batches):
        store, cache = ImageStore(store_root), OrderedDict()
        for batch in batches:
            out = [{"product_id": rec["product_id"], "slot_id": slot_id, REFUSAL: refusal}
                   for rec in batch.to_pylist()
                   for slot_id, refusal in judge_product(store, rec, params, cache)]
            yield pa.RecordBatch.from_pylist(out, schema=schema)

    judged = plan.complete("donor_fit", plan.compute(lambda todo: todo.mapInArrow(run, ddl),
                                                     ddl))
    delta.replace_date(spark, judged.withColumn("ds", F.lit(ds).cast("date")), settings,
                       "donor_fit", ds)
    # Read back rather than reuse ``judged``: the frame is lazy, and using it twice would
    # judge the date's pairs twice.
    verdicts = delta.read_date(spark, settings, "donor_fit", ds).select(
        "product_id", "slot_id", REFUSAL)
    # A pair without a cutout or slot row is left unjudged (""): staging's own join
    # (``copy_paste.work``) drops it just the same.
    checked = pairs.join(verdicts, ["product_id", "slot_id"], "left").fillna({REFUSAL: ""})
    return checked, {f"fit.{k.split('.')[-1]}": v for k, v in plan.metrics().items()}


def unfit_products(checked: "DataFrame") -> "DataFrame":
    """Products none of whose donors fits: ``product_id``, ``image_id``, ``detail`` (each
    donor's refusal, in pairing rank order, as staging writes them) and ``attempts``."""
    from pyspark.sql import functions as F

    line = F.concat(F.lit("#"), F.col("rank").cast("string"), F.lit(" "), F.col("slot_id"),
                    F.lit(": "), F.col(REFUSAL))
    return (checked.groupBy("product_id", "image_id")
            .agg(F.max(F.col(REFUSAL) == "").alias("_any"),
                 F.sort_array(F.collect_list(F.struct("rank", line.alias("l")))).alias("_ls"))
            .filter(~F.col("_any"))
            .select("product_id", "image_id",
                    F.concat_ws("; ", F.col("_ls.l")).alias("detail"),
                    F.size("_ls").alias("attempts")))
