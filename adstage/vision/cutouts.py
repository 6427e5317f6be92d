"""Cutouts & slots stage: the labelled images of one date -> `product_cutouts` + `donor_slots`.

Images labelled unstaged get a product cutout (``adstage.vision.backdrop_cutout``, pure OpenCV); images
labelled staged get donor slots. By default (``slot_source=detector``) the slots come from
pretrained detectors and a salient-mask net on each box (``adstage.vision.donors``): one slot
per piece of furniture, its category from the detector's class. ``slot_source=segmenter`` is
the project's own slot segmenter (``adstage.vision.slots``), whose largest usable region takes
the photo's feed category. Both get the shape descriptor of their masks
(``adstage.vision.shape``). Masks go to the image store as PNG. One pass over the images, one
mapInPandas, two tables; a bad image costs its own row only.
"""
from __future__ import annotations

import hashlib
import logging
import traceback
from typing import TYPE_CHECKING, Iterator, Sequence

import cv2
import numpy as np

from adstage import delta, model_catalog
from adstage.config import Settings
from adstage.reasons import Reason
from adstage import registry
from adstage.vision import shape
from adstage.vision.codes import VisionReason
from adstage.vision.backdrop_cutout import cut_out
from adstage.vision.preprocess import decode
from adstage.vision.slots import SlotParams, find_slots

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

# One row schema for both outputs; `kind` says which table a row goes to.
_FIELDS = ("kind string, image_id string, slot_index int, mask_uri string, box array<int>, "
           "area_frac double, background_bgr array<int>, border_sigma double, "
           "quality double, flags array<string>, ok boolean, shape array<float>, "
           "shape_version string, aspect double, fill double, slot_category string, "
           "label string, score double, reason string, detail string, front_mask_uri string")
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
    """One staged photo and its segmenter probability map -> donor_slots fields, one per slot."""
    slots = find_slots(prob, bgr.shape[:2], params, bgr=bgr)
    if not slots:
        return _no_slot(image_id, "the segmenter found no product region above the threshold")
    return [_slot_row(image_id, i, s, store) for i, s in enumerate(slots)]


def _no_slot(image_id: str, detail: str) -> list[dict]:
    return [{"kind": "slot", "image_id": image_id, "slot_index": -1, "ok": False,
             "reason": VisionReason.NO_SLOT_FOUND.value, "detail": detail}]


def _slot_row(image_id: str, index: int, s, store, **extra) -> dict:
    """One slot (``slots.Slot`` or ``donors.DonorSlot``) -> its donor_slots fields."""
    row = {"kind": "slot", "image_id": image_id, "slot_index": index, "box": s.box,
           "area_frac": s.area_frac, "quality": s.quality, "flags": s.flags, "ok": s.usable,
           **extra}
    if s.mask is not None:
        row["mask_uri"] = _store_mask(store, s.mask)
        row.update(_shape_fields(s.mask))
    if getattr(s, "front", None) is not None:
        row["front_mask_uri"] = _store_mask(store, s.front)
    return row


def detection_rows(image_id: str, bgr: np.ndarray, slots: list, store) -> list[dict]:
    """One staged photo's detected pieces (``donors.DonorSlot``) -> donor_slots fields."""
    if not slots:
        return _no_slot(image_id, "the detectors found no piece of furniture")
    return [_slot_row(image_id, i, s, store, slot_category=s.category, label=s.label,
                      score=s.score) for i, s in enumerate(slots)]


class SegmenterSlots:
    """Slots from the project's slot segmenter (one batched call per partition's photos)."""

    def __init__(self, segmenter, params: SlotParams, batch: int):
        self.segmenter, self.params, self.batch = segmenter, params, batch

    def rows(self, staged: Sequence[tuple[str, np.ndarray]], store) -> list[dict]:
        probs = self.segmenter.predict([b for _, b in staged], self.batch)
        out = []
        for (image_id, bgr), prob in zip(staged, probs):
            out.extend(_guarded(image_id, lambda: slot_rows(image_id, bgr, prob, store,
                                                           self.params)))
        return out


class DetectorSlots:
    """Slots from pretrained detectors (their boxes merged) and a salient mask of each box."""

    def __init__(self, detectors: Sequence, masker, params):
        self.detectors, self.masker, self.params = list(detectors), masker, params

    def slots(self, bgr: np.ndarray) -> list:
        """One staged photo's pieces (``donors.DonorSlot``): every detector's boxes, merged."""
        from adstage.vision.donors import donor_slots

        dets = [d for det in self.detectors
                for d in det.detect(bgr, min_score=self.params.min_score)]
        return donor_slots(bgr, dets, self.masker.mask, self.params)

    def rows(self, staged: Sequence[tuple[str, np.ndarray]], store) -> list[dict]:
        out = []
        for image_id, bgr in staged:
            def one(image_id=image_id, bgr=bgr):
                return detection_rows(image_id, bgr, self.slots(bgr), store)
            out.extend(_guarded(image_id, one))
        return out


def _guarded(image_id: str, fn) -> list[dict]:
    try:
        return fn()
    except Exception as exc:
        log.exception("slots failed on %s", image_id)
        return [_failure("slot", image_id, Reason.INTERNAL_ERROR.value,
                         traceback.format_exception_only(type(exc), exc)[-1].strip())]


def _failure(kind: str, image_id: str, reason: str, detail: str) -> dict:
    return {"kind": kind, "image_id": image_id, "slot_index": -1 if kind == "slot" else None,
            "ok": False, "reason": reason, "detail": detail[:500]}


def process_batch(records: list[dict], finder, store) -> list[dict]:
    """Records (image_id, label, data) -> output rows; exceptions stay with their image.
    ``finder``: ``SegmenterSlots`` or ``DetectorSlots``."""
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
            out.extend(finder.rows(staged, store))
        except Exception as exc:
            log.exception("slot finder failed on a batch")
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            out.extend(_failure("slot", i, Reason.INTERNAL_ERROR.value, detail)
                       for i, _ in staged)
    return out


def slot_models(settings: Settings) -> list[registry.ResolvedModel]:
    """The models the slot finder of ``settings.slot_source`` runs, resolved once per job:
    the detectors then the salient-mask net, or the slot segmenter."""
    if settings.slot_source == "segmenter":
        return [model_catalog.resolve(settings, settings.segmenter_model)]
    return [model_catalog.resolve(settings, n)
            for n in (*settings.detector_models, settings.salient_model)]


def slot_finder(settings: Settings, models: Sequence[registry.ResolvedModel]):
    """A worker's slot finder from the resolved models (sessions opened here, once)."""
    from adstage.onnx_runtime import session_from_bytes

    device = settings.onnx_device
    if settings.slot_source == "segmenter":
        from adstage.vision.slots import Segmenter

        return SegmenterSlots(Segmenter(session_from_bytes(models[0].data, device)),
                              SlotParams(min_quality=settings.slot_min_quality),
                              settings.inference_batch)
    from adstage.vision.detectors import Detector
    from adstage.vision.donors import DonorParams
    from adstage.vision.salient import SalientMasker

    *dets, salient = models
    detectors = [Detector(m.data, model_catalog.get(m.name), device) for m in dets]
    masker = SalientMasker(salient.data, model_catalog.get(salient.name), device)
    params = DonorParams(min_score=settings.detector_min_score, refine=settings.slot_mask_method,
                         behind=settings.slot_paste_behind,
                         replace_front=settings.slot_replace_front,
                         open_under=settings.slot_open_under,
                         front_on_top=settings.slot_front_on_top)
    return DetectorSlots(detectors, masker, params)


def extract_frame(images: "DataFrame", settings: Settings,
                  models: Sequence[registry.ResolvedModel]) -> "DataFrame":
    import pandas as pd

    from adstage.imagestore import ImageStore
    from adstage.resources import map_in_pandas

    store_root = settings.image_store_uri

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        store = ImageStore(store_root)
        finder = slot_finder(settings, models)
        for b in batches:
            records = []
            for rec in b.to_dict("records"):
                try:
                    rec["data"] = store.get(rec["image_uri"])
                except Exception:
                    rec["data"] = None
                records.append(rec)
            rows = process_batch(records, finder, store)
            yield pd.DataFrame([{k: r.get(k) for k in _NAMES} for r in rows], columns=_NAMES)

    return map_in_pandas(images.select("image_id", "image_uri", "label"), run, _FIELDS,
                         settings)  # GPU profile if configured


def run(spark: "SparkSession", settings: Settings, ds: str) -> dict[str, int]:
    """Cutouts and slots of the images labelled on `ds`; idempotent for that date."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    models = slot_models(settings)
    labels = spark.read.format("delta").load(delta.ensure_table(spark, settings, "image_labels"))
    todo = labels.filter((F.col("ds") == F.lit(ds).cast("date")) & F.col("label").isNotNull())
    # A photo listed under several products (a room with five catalog pieces in it) is one
    # photo: its slots or cutout are computed once, by content (the store URI), and every
    # image row of it gets the same answer.
    once = (todo.select("image_id", "image_uri", "label")
            .withColumn("_n", F.row_number().over(
                Window.partitionBy("image_uri", "label").orderBy("image_id")))
            .filter("_n = 1").drop("_n"))
    once = once.repartition(max(spark.sparkContext.defaultParallelism, 1), "image_uri")
    rows = (extract_frame(once, settings, models).withColumnRenamed("image_id", "_computed_for")
            .join(once.select(F.col("image_id").alias("_computed_for"), "image_uri",
                              F.col("label").alias("_image_label")), "_computed_for")
            .drop("_computed_for"))
    meta = todo.select("image_id", "product_id", "category", "image_role", "image_uri",
                       F.col("label").alias("_image_label"), "width", "height", "ds")
    out = rows.join(meta, ["image_uri", "_image_label"]).drop("_image_label").persist()
    try:
        cutouts = out.filter(F.col("kind") == "cutout")
        slots = (out.filter(F.col("kind") == "slot")
                 .withColumn("slot_id", F.concat_ws("-", "image_id", F.col("slot_index")))
                 .withColumn("usable", F.coalesce(F.col("ok"), F.lit(False)))
                 .withColumn("model_name", F.lit("+".join(m.name for m in models)))
                 .withColumn("model_version", F.lit("+".join(m.version for m in models))))
        slots = (_assign_categories(slots) if settings.slot_source == "segmenter"
                 else slots.withColumn("category", F.col("slot_category")))
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
               "slot_models_from_registry": sum(m.source == "registry" for m in models)}
    log.info("cutouts & slots ds=%s: %s (slots from %s: %s)", ds, metrics, settings.slot_source,
             ", ".join(f"{m.name} {m.source} {m.version}" for m in models))
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
