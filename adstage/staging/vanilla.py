"""Vanilla staging stage (the paper's baseline): pix2pix paints a whole scene around each product.

Per unstaged product, its best cutout is laid on a white square canvas the way the generator
saw products in training (a square crop of a staged photo around the product: here the product
box fills ``HEIGHT_FRAC`` of the side, centred, standing at ``FLOOR_FRAC``) and the exported
pix2pix paints the scene at its training resolution (no upscaling: the table shows what the
baseline really makes). The generator repaints the product too, so the scores are measured,
not assumed: ``preservation`` against the product as laid on the canvas, and
``object_expansion`` against the region the slot segmenter finds in the output (the connected
regions that touch the intended product) — the outline growth Ku et al.'s follow-up
(arXiv 2404.10157) reports for generative staging.
"""
from __future__ import annotations

import logging
import time
import traceback
from typing import TYPE_CHECKING, Iterator

import cv2
import numpy as np

from adstage import incremental, tables
from adstage.config import Settings
from adstage.reasons import Reason
from adstage.staging import codes, quality
from adstage.staging.outputs import record_columns, store_outputs
from adstage.staging.placement import as_alpha, mask_box

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

HEIGHT_FRAC, MAX_WIDTH_FRAC, FLOOR_FRAC = 0.5, 0.9, 0.85


def canvas_input(product: np.ndarray, alpha: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Product (BGR) and soft alpha (uint8 or float) -> ``(canvas BGR uint8 size², alpha float32)``."""
    a = as_alpha(alpha)
    box = mask_box(a >= 0.5)
    if box is None:
        raise ValueError("empty cutout")
    x0, y0, x1, y1 = box
    crop, ca = product[y0:y1, x0:x1].astype(np.float32), a[y0:y1, x0:x1]
    scale = min(HEIGHT_FRAC * size / (y1 - y0), MAX_WIDTH_FRAC * size / (x1 - x0))
    w, h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    ca = cv2.resize(ca, (w, h), interpolation=cv2.INTER_AREA)
    left, top = (size - w) // 2, max(0, round(FLOOR_FRAC * size) - h)
    alpha_c = np.zeros((size, size), np.float32)
    alpha_c[top:top + h, left:left + w] = ca
    canvas = np.full((size, size, 3), 255.0, np.float32)
    region = canvas[top:top + h, left:left + w]
    canvas[top:top + h, left:left + w] = ca[..., None] * crop + (1 - ca[..., None]) * region
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8), alpha_c


def output_region(prob: np.ndarray, intended: np.ndarray) -> np.ndarray:
    """Segmenter probability (any size) -> uint8 mask of the components touching ``intended``."""
    h, w = intended.shape
    fg = (cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.uint8)
    n, labels = cv2.connectedComponents(fg)
    touching = np.unique(labels[(intended > 0) & (fg > 0)])
    return np.isin(labels, touching[touching > 0]).astype(np.uint8) * 255


def _error(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()[:300]


class VanillaWorker:
    """Stages product records with pix2pix (``Pix2PixStager``) and measures them with the
    segmenter (``Segmenter``); numpy and the image store, no Spark."""

    def __init__(self, store, stager, segmenter, model_versions: list[str], providers: str,
                 crop_format: str = "jpg", crop_quality: int = 90):
        self.store, self.stager, self.segmenter = store, stager, segmenter
        self.model_versions, self.providers = model_versions, providers
        self.crop_format, self.crop_quality = crop_format, crop_quality

    def stage(self, recs: list[dict]) -> list[dict]:
        out, ready = [], []
        for rec in recs:
            base = {"product_id": rec["product_id"], "method": codes.VANILLA,
                    "image_id": rec["image_id"]}
            if not rec["ok"]:
                out.append({**base, "reason": "no_usable_cutout", "attempts": 0,
                            "detail": f"best cutout is flagged: {list(rec['flags'] or [])}"})
                continue
            try:
                product, alpha = self.store.get_image_and_mask(rec["image_uri"], rec["mask_uri"])
                canvas, a = canvas_input(product, alpha, self.stager.size)
            except Exception as exc:
                out.append({**base, "reason": Reason.CORRUPT_IMAGE.value, "attempts": 0,
                            "detail": f"product photo or cutout mask unusable: {_error(exc)}"})
                continue
            ready.append((rec, base, canvas, a))
        if not ready:
            return out
        started = time.perf_counter()
        try:
            scenes = self.stager([np.ascontiguousarray(c[..., ::-1]) for _, _, c, _ in ready])
            scenes = [np.ascontiguousarray(s[..., ::-1]) for s in scenes]
            probs = self.segmenter.predict(scenes)
        except Exception as exc:
            log.exception("pix2pix failed on a batch of %d", len(ready))
            return out + [{**b, "reason": Reason.INTERNAL_ERROR.value, "attempts": 1,
                           "detail": _error(exc)} for _, b, _, _ in ready]
        per_image = (time.perf_counter() - started) / len(ready)
        for (rec, base, canvas, a), scene, prob in zip(ready, scenes, probs):
            intended = ((a >= 0.5) * 255).astype(np.uint8)
            pmax, pmean = quality.preservation(canvas, a, scene)
            row = {**base, "category": rec["category"], "product_image_uri": rec["image_uri"],
                   "shadow": False, "harmonize": False, "preservation_max": pmax,
                   "preservation_mean": pmean,
                   "object_expansion": quality.object_expansion(intended, output_region(prob, intended)),
                   "attempts": 1, "model_versions": self.model_versions,
                   "onnx_providers": self.providers, "seconds": round(per_image, 4)}
            generated = np.full(scene.shape[:2], 255, np.uint8)  # every pixel is painted
            row.update(store_outputs(self.store, scene, a, generated, mask_box(intended),
                                     self.crop_format, self.crop_quality))
            out.append(row)
        return out


# ---- Spark wiring --------------------------------------------------------------------------
def load_models(settings: Settings):
    """pix2pix and the slot segmenter (bytes + versions) the workers will open."""
    from adstage import model_catalog
    from adstage.generative import registry as gen

    return (gen.resolve_generators(settings, [settings.pix2pix_model])[0],
            model_catalog.resolve(settings, settings.segmenter_model))


def stage_frame(todo: "DataFrame", settings: Settings) -> "DataFrame":
    import pyarrow as pa

    from adstage.imagestore import ImageStore
    from adstage.resources import map_in_arrow

    cols = record_columns(tables.spec("staged_images"))
    schema = tables.record_schema(cols)
    p2p, seg = load_models(settings)
    size = int((p2p.card or {}).get("preprocessing", {}).get("train_resolution", 128))
    versions = [f"{p2p.name}@{p2p.version}", f"{seg.name}@{seg.version}"]
    blobs, store_root, device = (p2p.data, seg.data), settings.image_store_uri, settings.onnx_device
    crops_as = (settings.staging_crop_format, settings.staging_crop_quality)
    batch = settings.inference_batch

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from adstage.generative.inference import Pix2PixStager
        from adstage.onnx_runtime import session_from_bytes
        from adstage.vision.slots import Segmenter

        p, s = (session_from_bytes(b, device) for b in blobs)
        worker = VanillaWorker(ImageStore(store_root), Pix2PixStager(p, size), Segmenter(s),
                               versions, ",".join(p.get_providers()), *crops_as)
        for b in batches:
            recs = b.to_pylist()
            for i in range(0, len(recs), batch):
                rows = worker.stage(recs[i:i + batch])
                yield pa.RecordBatch.from_pylist([{c: r.get(c) for c, _ in cols} for r in rows],
                                                 schema=schema)

    return map_in_arrow(todo, run, tables.ddl(cols), settings)  # GPU profile if configured


def run(spark: "SparkSession", settings: Settings, ds: str) -> dict[str, float]:
    """Vanilla-stage every unstaged product as of `ds`; idempotent for that date."""
    import mlflow
    from pyspark.sql import functions as F

    from adstage.vision.pair_donors import queries

    codes.check_methods(settings.staging_methods)
    if codes.VANILLA not in settings.staging_methods:
        log.info("vanilla staging ds=%s: not in staging_methods; nothing to do", ds)
        return {"products": 0}
    run_id = mlflow.active_run().info.run_id if mlflow.active_run() else "none"
    cols = ["product_id", "category", "image_id", "image_uri", "mask_uri", "ok", "flags"]
    stage_salt = incremental.salt("stage_vanilla",
                                  models=[f"{m.name}@{m.version}" for m in load_models(settings)],
                                  crops=[settings.staging_crop_format, settings.staging_crop_quality])
    inputs = queries(spark, settings, ds).select(*cols).withColumn(
        incremental.FINGERPRINT, incremental.fingerprint(stage_salt, *cols))
    only = {"method": [codes.VANILLA]}
    plan = incremental.plan(spark, settings, "stage_vanilla", ds, inputs, "product_id",
                            ("staged_images", "staging_rejects"), only)
    out = (plan.compute(lambda todo: stage_frame(todo, settings),
                        tables.ddl(record_columns(tables.spec("staged_images"))))
           .withColumn("ds", F.lit(ds).cast("date"))
           .withColumn("mlflow_run_id", F.lit(run_id)).persist())
    try:
        staged, rejects = plan.write(settings, out, "staged_images", "staging_rejects", only)
        agg = staged.agg(F.count("*").alias("n"), F.avg("object_expansion").alias("oe"),
                         F.avg("preservation_mean").alias("pm"), F.avg("seconds").alias("s")).first()
        reasons = {r["reason"]: r["count"] for r in rejects.groupBy("reason").count().collect()}
    finally:
        out.unpersist()
    metrics = {"staged": agg["n"] or 0, "rejected": sum(reasons.values()), **plan.metrics(),
               "mean_object_expansion": round(agg["oe"] or 0.0, 4),
               "mean_preservation": round(agg["pm"] or 0.0, 3),
               "seconds_per_image": round(agg["s"] or 0.0, 4)}
    metrics.update({f"rejects.{k}": v for k, v in reasons.items()})
    log.info("vanilla staging ds=%s: %s", ds, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """CLI of the vanilla staging job (`jobs/stage_vanilla.py`)."""
    from adstage.jobrunner import job_parser, run_spark_job

    args = job_parser("stage_vanilla", __doc__).parse_args(argv)
    return run_spark_job("stage_vanilla", args, lambda spark, settings: run(spark, settings, args.ds))
