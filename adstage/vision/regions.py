"""Cutouts & slots stage: the labelled images of one date -> `product_cutouts` + `donor_slots`.

Images labelled unstaged get a product cutout (``adstage.vision.cutout``, pure OpenCV); images
labelled staged get donor slots from the ONNX segmenter (``adstage.vision.slots``). Both get the
shape descriptor of their masks (``adstage.vision.shape``). Masks go to the image store as PNG.
One pass over the images, one mapInPandas, two tables; a bad image costs its own row only.
"""
from __future__ import annotations

import hashlib
import logging
import traceback
from typing import TYPE_CHECKING, Iterator

import cv2
import numpy as np

from adstage import delta
from adstage.config import Settings
from adstage.reasons import Reason
from adstage import registry
from adstage.vision import shape
from adstage.vision.codes import VisionReason
from adstage.vision.cutout import cut_out
from adstage.vision.preprocess import decode
from adstage.vision.slots import SlotParams, find_slots

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

SHIPPED = ("segmenter", "segmenter.onnx")
# One row schema for both outputs; `kind` says which table a row goes to.
_FIELDS = ("kind string, image_id string, slot_index int, mask_uri string, box array<int>, "
           "area_frac double, background_bgr array<int>, border_sigma double, "
           "quality double, flags array<string>, ok boolean, shape array<float>, "
           "shape_version string, aspect double, fill double, reason string, detail string")
_NAMES = [f.split()[0] for f in _FIELDS.split(", ")]


def _png(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", mask)
    if not ok:
        raise ValueError("could not encode mask")
    return buf.tobytes()


def _store_mask(store, mask: np.ndarray) -> str:
    data = _png(mask)
    return store.put(hashlib.sha256(data).hexdigest(), data)


def _shape_fields(mask: np.ndarray) -> dict:
    s = shape.describe(mask)
    return {"shape": s.vector.tolist(), "shape_version": shape.DESCRIPTOR_VERSION,
            "aspect": s.aspect, "fill": s.fill}


def cutout_row(image_id: str, bgr: np.ndarray, store) -> dict:
    """One unstaged photo -> its product_cutouts fields (mask stored)."""
    c = cut_out(bgr)
    row = {"kind": "cutout", "image_id": image_id, "box": c.box, "area_frac": c.area_frac,
           "background_bgr": c.background_bgr, "border_sigma": c.border_sigma,
           "quality": c.quality, "flags": c.flags, "ok": c.ok}
    if c.area_frac > 0:
        row["mask_uri"] = _store_mask(store, c.alpha)
        row.update(_shape_fields(c.mask))
    return row


def slot_rows(image_id: str, bgr: np.ndarray, prob: np.ndarray, store,
              params: SlotParams) -> list[dict]:
    """One staged photo and its probability map -> donor_slots fields, one per slot."""
    slots = find_slots(prob, bgr.shape[:2], params, bgr=bgr)
    if not slots:
        return [{"kind": "slot", "image_id": image_id, "slot_index": -1, "ok": False,
                 "reason": VisionReason.NO_SLOT_FOUND.value,
                 "detail": "the segmenter found no product region above the threshold"}]
    rows = []
    for i, s in enumerate(slots):
        row = {"kind": "slot", "image_id": image_id, "slot_index": i, "box": s.box,
               "area_frac": s.area_frac, "quality": s.quality, "flags": s.flags, "ok": s.usable,
               "mask_uri": _store_mask(store, s.mask)}
        row.update(_shape_fields(s.mask))
        rows.append(row)
    return rows


def _failure(kind: str, image_id: str, reason: str, detail: str) -> dict:
    return {"kind": kind, "image_id": image_id, "slot_index": -1 if kind == "slot" else None,
            "ok": False, "reason": reason, "detail": detail[:500]}


def process_batch(records: list[dict], segmenter, store, params: SlotParams,
                  batch: int) -> list[dict]:
    """Records (image_id, label, data) -> output rows; exceptions stay with their image."""
    out, staged = [], []
    for rec in records:
        kind = "slot" if rec["label"] == "staged" else "cutout"
        try:
            if rec["data"] is None:
                raise ValueError("image missing from the store")
            bgr = decode(rec["data"])
        except Exception as exc:
            out.append(_failure(kind, rec["image_id"], Reason.CORRUPT_IMAGE.value, str(exc)))
            continue
        if kind == "slot":
            staged.append((rec["image_id"], bgr))
            continue
        try:
            out.append(cutout_row(rec["image_id"], bgr, store))
        except Exception as exc:
            log.exception("cutout failed on %s", rec["image_id"])
            out.append(_failure(kind, rec["image_id"], Reason.INTERNAL_ERROR.value,
                                traceback.format_exception_only(type(exc), exc)[-1].strip()))
    if staged:
        try:
            probs = segmenter.predict([b for _, b in staged], batch)
        except Exception as exc:
            log.exception("segmenter failed on a batch")
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            return out + [_failure("slot", i, Reason.INTERNAL_ERROR.value, detail)
                          for i, _ in staged]
        for (image_id, bgr), prob in zip(staged, probs):
            try:
                out.extend(slot_rows(image_id, bgr, prob, store, params))
            except Exception as exc:
                log.exception("slots failed on %s", image_id)
                out.append(_failure("slot", image_id, Reason.INTERNAL_ERROR.value,
                                    traceback.format_exception_only(type(exc), exc)[-1].strip()))
    return out


def extract_frame(images: "DataFrame", settings: Settings, model: registry.ResolvedModel
                  ) -> "DataFrame":
    import pandas as pd

    from adstage.imagestore import ImageStore
    from adstage.onnx_runtime import session_from_bytes
    from adstage.resources import map_in_pandas
    from adstage.vision.slots import Segmenter

    model_bytes, device, batch = model.data, settings.onnx_device, settings.inference_batch
    params = SlotParams(min_quality=settings.slot_min_quality)
    store_root = settings.image_store_uri

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        store = ImageStore(store_root)
        segmenter = Segmenter(session_from_bytes(model_bytes, device))
        for b in batches:
            records = []
            for rec in b.to_dict("records"):
                try:
                    rec["data"] = store.get(rec["image_uri"])
                except Exception:
                    rec["data"] = None
                records.append(rec)
            rows = process_batch(records, segmenter, store, params, batch)
            yield pd.DataFrame([{k: r.get(k) for k in _NAMES} for r in rows], columns=_NAMES)

    return map_in_pandas(images.select("image_id", "image_uri", "label"), run, _FIELDS,
                         settings)  # GPU profile if configured


def run(spark: "SparkSession", settings: Settings, ds: str) -> dict[str, int]:
    """Cutouts and slots of the images labelled on `ds`; idempotent for that date."""
    from pyspark.sql import functions as F

    model = registry.resolve(settings, settings.segmenter_model, *SHIPPED)
    labels = spark.read.format("delta").load(delta.ensure_table(spark, settings, "image_labels"))
    todo = labels.filter((F.col("ds") == F.lit(ds).cast("date")) & F.col("label").isNotNull())
    todo = todo.repartition(max(spark.sparkContext.defaultParallelism, 1), "image_id")
    rows = extract_frame(todo, settings, model)
    meta = todo.select("image_id", "product_id", "category", "image_role", "image_uri", "width",
                       "height", "ds")
    out = rows.join(meta, "image_id").persist()
    try:
        cutouts = out.filter(F.col("kind") == "cutout")
        slots = (out.filter(F.col("kind") == "slot")
                 .withColumn("slot_id", F.concat_ws("-", "image_id", F.col("slot_index")))
                 .withColumn("usable", F.coalesce(F.col("ok"), F.lit(False)))
                 .withColumn("model_name", F.lit(model.name))
                 .withColumn("model_version", F.lit(model.version)))
        slots = _assign_categories(slots)
        delta.replace_date(spark, cutouts, settings, "product_cutouts", ds)
        delta.replace_date(spark, slots, settings, "donor_slots", ds)
        c = cutouts.agg(F.count("*").alias("n"), F.sum(F.col("ok").cast("int")).alias("ok"),
                        F.sum(F.col("reason").isNotNull().cast("int")).alias("failed")).first()
        s = slots.agg(F.count("*").alias("n"), F.sum(F.col("usable").cast("int")).alias("ok"),
                      F.countDistinct("image_id").alias("images"),
                      F.countDistinct(F.when(F.col("usable"), F.col("image_id"))).alias("with"),
                      F.sum(F.col("reason").isNotNull().cast("int")).alias("failed")).first()
    finally:
        out.unpersist()
    metrics = {"cutouts": c["n"] or 0, "cutouts_ok": c["ok"] or 0,
               "cutouts_failed": c["failed"] or 0, "slot_rows": s["n"] or 0,
               "slots_usable": s["ok"] or 0, "staged_images": s["images"] or 0,
               "staged_images_with_usable_slot": s["with"] or 0, "slot_rows_failed": s["failed"] or 0,
               "segmenter_from_registry": int(model.source == "registry")}
    log.info("cutouts & slots ds=%s: %s (segmenter %s %s)", ds, metrics, model.source,
             model.version)
    return metrics


def _assign_categories(slots: "DataFrame") -> "DataFrame":
    """The photo's product category goes to its largest usable slot; other slots stay unknown.

    The feed says which product a lifestyle photo shows, not where it is; the largest usable
    region is the best guess, and the other regions (a plant, a second chair) are left unnamed
    rather than mislabelled.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first_usable = F.row_number().over(
        Window.partitionBy("image_id").orderBy(F.col("usable").desc(), F.col("area_frac").desc_nulls_last()))
    return (slots.withColumn("_r", first_usable)
            .withColumn("category", F.when(F.col("usable") & (F.col("_r") == 1), F.col("category")))
            .drop("_r"))


def main(argv: list[str] | None = None) -> int:
    """CLI of the cutouts & slots job (`jobs/cutouts.py`)."""
    from adstage.jobrunner import job_parser, run_spark_job

    args = job_parser("cutouts", __doc__).parse_args(argv)
    return run_spark_job("cutouts", args, lambda spark, settings: run(spark, settings, args.ds))
