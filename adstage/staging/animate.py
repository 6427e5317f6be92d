"""Parallax animation stage (the paper's third task): each copy-paste staged image of a date ->
a short video ad (``animations``), or why not (``staging_rejects``, method ``parallax``).

The product layer comes from the staged image and its stored alpha
(``staged_images.product_mask_uri``); pieces the donor kept in front of the product
(``staged_images.front_mask_uri``) are a layer of their own, on top of it; the background
plate is the staged image with the product's (and those pieces') support removed and filled
by the same gap filler (``staging_gap_fill``) and crop machinery as the copy-paste gap
(``adstage.staging.parallax``). Clips go to the image store in
``Settings.parallax_formats`` (MP4 and WebM by default, GIF opt-in; a format not written leaves
its ``*_uri`` null); the plate as PNG (creatives reuse it).
"""
from __future__ import annotations

import logging
import tempfile
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from adstage import delta, incremental, tables
from adstage.config import Settings
from adstage.reasons import Reason
from adstage.staging import codes, gap_fill
from adstage.staging.outputs import record_columns
from adstage.staging.parallax import CameraMove, make_layers, render_frames, write_clips

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


class AnimateWorker:
    """Animates staged-image records (numpy and the image store; no Spark)."""

    def __init__(self, store, inpaint_fn: Callable, move: CameraMove, crop_size: int,
                 model_versions: list[str], formats: tuple[str, ...] = ("mp4", "webm")):
        self.store, self.inpaint_fn, self.move = store, inpaint_fn, move
        self.crop_size, self.model_versions, self.formats = crop_size, model_versions, formats

    def animate(self, rec: dict) -> dict:
        base = {"product_id": rec["product_id"], "method": rec["method"]}
        try:
            staged, alpha = self.store.get_image_and_mask(rec["output_uri"], rec["product_mask_uri"])
            front = (self.store.get_image(rec["front_mask_uri"], grey=True)
                     if rec.get("front_mask_uri") else None)
        except Exception as exc:
            return {**base, "reason": Reason.CORRUPT_IMAGE.value,
                    "detail": f"staged image or one of its masks unreadable: {exc}"[:500]}
        try:
            layers = make_layers(staged, alpha, self.inpaint_fn, front=front,
                                 crop_size=self.crop_size)
            frames = render_frames(layers, self.move)
            with tempfile.TemporaryDirectory(prefix="adstage-parallax-") as tmp:
                files = write_clips(frames, tmp, "c", self.move.fps, self.formats)
                uris = {f"{k}_uri": self.store.put_bytes(p.read_bytes(), k) for k, p in files.items()}
                uris.update({f"{k}_uri": None for k in ("mp4", "webm", "gif") if k not in files})
        except Exception as exc:
            log.exception("parallax failed on %s", rec["product_id"])
            return {**base, "reason": Reason.INTERNAL_ERROR.value,
                    "detail": traceback.format_exception_only(type(exc), exc)[-1].strip()[:500]}
        h, w = frames[0].shape[:2]
        return {**base, "staged_uri": rec["output_uri"], **uris,
                "plate_uri": self.store.put_image(layers.plate), "frames": len(frames),
                "fps": self.move.fps, "width": w, "height": h,
                "model_versions": self.model_versions}


def animate_frame(todo: "DataFrame", settings: Settings, fill: gap_fill.GapFill) -> "DataFrame":
    import pyarrow as pa

    from adstage.imagestore import ImageStore
    from adstage.resources import map_in_arrow

    cols = record_columns(tables.spec("animations"))
    schema = tables.record_schema(cols)
    move = CameraMove(seconds=settings.parallax_seconds, fps=settings.parallax_fps)
    store_root, device, crop = settings.image_store_uri, settings.onnx_device, settings.staging_crop_size
    formats = settings.parallax_formats

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        inpaint_fn, _, _ = fill.open(device)
        worker = AnimateWorker(ImageStore(store_root), inpaint_fn, move, crop,
                               list(fill.versions), formats)
        for b in batches:
            rows = [worker.animate(rec) for rec in b.to_pylist()]
            yield pa.RecordBatch.from_pylist([{c: r.get(c) for c, _ in cols} for r in rows],
                                             schema=schema)

    return map_in_arrow(todo, run, tables.ddl(cols), settings)  # GPU profile if configured


def run(spark: "SparkSession", settings: Settings, ds: str) -> dict[str, float]:
    """Animate the copy-paste images staged on `ds`; idempotent for that date."""
    import mlflow
    from pyspark.sql import functions as F

    run_id = mlflow.active_run().info.run_id if mlflow.active_run() else "none"
    staged = delta.read_date(spark, settings, "staged_images", ds)
    cols = ["product_id", "method", "image_id", "output_uri", "product_mask_uri",
            "front_mask_uri"]
    fill = gap_fill.resolve(settings)  # once: the salt and the workers use the same models
    stage_salt = incremental.salt(
        "animate", models=list(fill.versions),
        seconds=settings.parallax_seconds, fps=settings.parallax_fps,
        crop_size=settings.staging_crop_size, formats=sorted(settings.parallax_formats))
    inputs = staged.filter(F.col("method") == codes.COPY_PASTE).select(*cols).withColumn(
        incremental.FINGERPRINT, incremental.fingerprint(stage_salt, *cols))
    # Only clips are carried: a failed clip has a transient reason (always retried), a
    # not_staged row is derived from the date's copy-paste rejects.
    plan = incremental.plan(spark, settings, "animate", ds, inputs, "product_id", ("animations",))
    out = (plan.compute(lambda todo: animate_frame(todo, settings, fill),
                        tables.ddl(record_columns(tables.spec("animations"))))
           .withColumn("ds", F.lit(ds).cast("date"))
           .withColumn("mlflow_run_id", F.lit(run_id)).persist())
    try:
        done = plan.complete("animations", out.filter(F.col("reason").isNull()))
        failed = (plan.complete("staging_rejects", out.filter(F.col("reason").isNotNull()).join(
            plan.todo.select("product_id", "image_id"), "product_id", "left")
            .withColumn("method", F.lit(codes.PARALLAX)).withColumn("attempts", F.lit(1))))
        not_staged = (delta.read_date(spark, settings, "staging_rejects", ds)
                      .filter(F.col("method") == codes.COPY_PASTE)
                      .select("product_id", "image_id", F.lit(codes.PARALLAX).alias("method"),
                              F.lit(codes.StagingReason.NOT_STAGED.value).alias("reason"),
                              F.concat_ws(": ", "reason", "detail").alias("detail"),
                              F.lit(0).alias("attempts"), "ds"))
        delta.replace_date(spark, done, settings, "animations", ds)
        delta.replace_date(spark, failed.unionByName(not_staged, allowMissingColumns=True),
                           settings, "staging_rejects", ds, {"method": [codes.PARALLAX]})
        n_done, n_failed = done.count(), failed.count()
    finally:
        out.unpersist()
    metrics = {"animated": n_done, "failed": n_failed, **plan.metrics()}
    log.info("parallax ds=%s: %s", ds, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """CLI of the parallax animation job (`jobs/animate.py`)."""
    from adstage.jobrunner import job_parser, run_spark_job

    args = job_parser("animate", __doc__).parse_args(argv)
    return run_spark_job("animate", args, lambda spark, settings: run(spark, settings, args.ds))
