"""Classify stage: the catalog images of one logical date -> `image_labels` (staged / unstaged).

The classifier is an ONNX model (``models:/<classifier_model>@champion``, else the file shipped
in ``models/classifier/``), run with onnxruntime on the executors: one session per Python worker,
batched. No torch on this path. An image that cannot be read keeps a row with a reason.
"""
from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Iterator

import numpy as np

from adstage import delta, model_catalog
from adstage.config import Settings
from adstage.reasons import Reason
from adstage import registry
from adstage.vision.preprocess import classifier_input, decode

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

STAGED, UNSTAGED = "staged", "unstaged"
_OUT = ["image_id", "score", "label", "reason", "detail"]
_OUT_SCHEMA = "image_id string, score double, label string, reason string, detail string"


def label_images(images: list[tuple[str, bytes | None]], sess, threshold: float,
                 batch: int = 32) -> list[dict]:
    """(image_id, PNG bytes) pairs -> one dict per image: score and label, or a reason."""
    rows, inputs, ok_rows = [], [], []
    for image_id, data in images:
        row = dict.fromkeys(_OUT)
        row["image_id"] = image_id
        try:
            if data is None:
                raise ValueError("image missing from the store")
            inputs.append(classifier_input(decode(data)))
            ok_rows.append(row)
        except Exception as exc:  # one bad image costs one row, never the run
            row.update(reason=Reason.CORRUPT_IMAGE.value, detail=str(exc)[:500])
        rows.append(row)
    if inputs:
        name = sess.get_inputs()[0].name
        scores = np.concatenate([sess.run(None, {name: np.stack(inputs[i:i + batch])})[0]
                                 for i in range(0, len(inputs), batch)]).reshape(-1)
        for row, s in zip(ok_rows, scores):
            row.update(score=float(s), label=STAGED if s >= threshold else UNSTAGED)
    return rows


def _read(store, uri: str) -> bytes | None:
    try:
        return store.get(uri)
    except Exception:
        log.exception("cannot read %s", uri)
        return None


def label_frame(images: "DataFrame", settings: Settings, model: registry.ResolvedModel
                ) -> "DataFrame":
    """Transform: (image_id, image_uri) rows -> score/label/reason rows, on the executors."""
    import pandas as pd

    from adstage.imagestore import ImageStore
    from adstage.onnx_runtime import session_from_bytes
    from adstage.resources import map_in_pandas

    model_bytes, device = model.data, settings.onnx_device
    threshold, batch, store_root = settings.staged_threshold, settings.inference_batch, \
        settings.image_store_uri

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        sess = session_from_bytes(model_bytes, device)
        store = ImageStore(store_root)
        for b in batches:
            pairs = [(i, _read(store, u)) for i, u in zip(b["image_id"], b["image_uri"])]
            try:
                rows = label_images(pairs, sess, threshold, batch)
            except Exception as exc:  # the model itself failed on this batch
                last = traceback.format_exception_only(type(exc), exc)[-1].strip()
                log.exception("classifier failed on a batch")
                rows = [{"image_id": i, "score": None, "label": None,
                         "reason": Reason.INTERNAL_ERROR.value, "detail": last[:500]}
                        for i, _ in pairs]
            yield pd.DataFrame(rows, columns=_OUT)

    return map_in_pandas(images.select("image_id", "image_uri"), run, _OUT_SCHEMA,
                         settings)  # GPU profile if configured


def run(spark: "SparkSession", settings: Settings, ds: str) -> dict[str, int]:
    """Label the images of `ds` (catalog_images.ds = ds); idempotent for that date."""
    from pyspark.sql import functions as F


    model = model_catalog.resolve(settings, settings.classifier_model)
    catalog = spark.read.format("delta").load(delta.ensure_table(spark, settings,
                                                                 "catalog_images"))
    todo = catalog.filter(F.col("ds") == F.lit(ds).cast("date"))
    parallelism = max(spark.sparkContext.defaultParallelism, 1)
    todo = todo.repartition(parallelism, "image_id")
    labels = label_frame(todo, settings, model)
    out = (todo.join(labels, "image_id")
           .withColumn("ds", F.lit(ds).cast("date"))
           .withColumn("threshold", F.lit(settings.staged_threshold))
           .withColumn("model_name", F.lit(model.name))
           .withColumn("model_version", F.lit(model.version))
           .withColumn("model_source", F.lit(model.source)))
    out = delta.conform(out, "image_labels").persist()
    try:
        delta.replace_date(spark, out, settings, "image_labels", ds)
        counts = {(r["label"], r["reason"]): r["count"]
                  for r in out.groupBy("label", "reason").count().collect()}
    finally:
        out.unpersist()
    metrics = {"images": sum(counts.values()),
               "staged": sum(n for (l, _), n in counts.items() if l == STAGED),
               "unstaged": sum(n for (l, _), n in counts.items() if l == UNSTAGED),
               "model_from_registry": int(model.source == "registry")}
    metrics.update({f"reasons.{r}": n for (_, r), n in counts.items() if r})
    log.info("classify ds=%s: %s (model %s %s)", ds, metrics, model.source, model.version)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """CLI of the classify job (`jobs/classify.py`)."""
    from adstage.jobrunner import job_parser, run_spark_job

    args = job_parser("classify", __doc__).parse_args(argv)
    return run_spark_job("classify", args, lambda spark, settings: run(spark, settings, args.ds))
