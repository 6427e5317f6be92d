"""Evaluation stage: how real each staging method's outputs look, per logical date.

For every method in ``staged_images`` on the date, against the real staged photos held apart
from the donors (``adstage.evalsplit``):

* whole-image Fréchet distance and KID on the FID extractor's features: by default the
  FID Inception-v3 (``adstage-fid-inception``, built at set-up; each photo resized to 299² by
  its input function) — FIDs as the field computes them (docs/fid.md);
* the seam measure (``adstage.evaluation.seam``): outline patches of the outputs against
  patches on strong edges of the real photos — cross-validated two-sample balanced accuracy
  (0.5 = indistinguishable) and patch KID — plus each image's seam score, written back to
  ``staged_images.seam_score``;
* the method's mean object expansion and worst product-pixel change, from its rows.

A control row (``real_vs_real``: one half of the real photos against the other) gives the floor
both measures reach with this many images. Every row names the FID extractor (``extractor``):
``adstage-fid-inception`` when its ONNX file is there, else ``adstage-randfeat-v1`` with a
warning saying so (numbers comparable within this project only); ``fid_inception_path=off``
picks the random features, a path another ONNX Inception (``features.fid_model_path``). The
seam figures always use ``adstage-randfeat-v1`` patch features (``seam_extractor``): 24
patches of 32² per image would cost 24 Inception passes each at 299², and the seam test was
validated on those features. Pixels are read and embedded on the executors (onnxruntime, no
torch); only feature vectors reach the driver.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from adstage import delta, incremental
from adstage.config import Settings
from adstage.evaluation import features
from adstage.evaluation.frechet import frechet_distance
from adstage.evaluation.kid import kid
from adstage.evaluation.seam import MissingMasks, SeamPatches, split_halves, two_sample

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

CONTROL = "real_vs_real"
SEAM_EXTRACTOR = features.RANDFEAT_NAME
_FEATURE_DDL = ("kind string, method string, key string, whole array<double>, "
                "patches array<double>, n_patches int, error string")


@dataclass
class FeatureSet:
    """Whole-image features (one row per image) and seam patch features with their image ids."""

    ids: list[str] = field(default_factory=list)
    whole: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    patches: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    patch_groups: list[str] = field(default_factory=list)

    def subset(self, keep: set[str]) -> "FeatureSet":
        rows = [i for i, k in enumerate(self.ids) if k in keep]
        prow = [i for i, g in enumerate(self.patch_groups) if g in keep]
        return FeatureSet([self.ids[i] for i in rows], self.whole[rows], self.patches[prow],
                          [self.patch_groups[i] for i in prow])


def compare(gen: FeatureSet, real: FeatureSet, folds: int = 5,
            seed: int = 0) -> tuple[dict, dict[str, float]]:
    """Whole-image FD/KID and the seam test of one generated set against the real set.

    Returns the figures (None where too few samples, with the reason in ``detail``) and the
    per-image seam scores of the generated side.
    """
    row: dict = {"n_images": len(gen.ids), "n_real": len(real.ids),
                 "n_patches": len(gen.patch_groups), "n_real_patches": len(real.patch_groups)}
    missing: list[str] = []
    if len(gen.ids) >= 2 and len(real.ids) >= 2:
        row["fd"] = frechet_distance(gen.whole, real.whole)
        row["kid"], row["kid_std"] = kid(gen.whole, real.whole, seed=seed)
    else:
        missing.append(f"FD/KID need 2 images a side ({len(gen.ids)} vs {len(real.ids)})")
    per_image: dict[str, float] = {}
    try:
        acc, std, groups = two_sample(gen.patches, gen.patch_groups, real.patches,
                                      real.patch_groups, folds, seed)
        row["seam_accuracy"], row["seam_accuracy_std"] = acc, std
        row["seam_kid"] = kid(gen.patches, real.patches, seed=seed)[0]
        gen_ids = set(gen.patch_groups)
        per_image = {g: p for g, p in groups.items() if g in gen_ids}
    except ValueError as exc:
        missing.append(f"seam test: {exc}")
    row["detail"] = "; ".join(missing) or None
    return row, per_image


def control_sets(real: FeatureSet) -> tuple[FeatureSet, FeatureSet]:
    """The two halves of the real photos (``seam.split_halves``' deterministic split)."""
    first, second = split_halves(SeamPatches(np.zeros((len(real.ids), 0)), list(real.ids)))
    return real.subset(set(first.groups)), real.subset(set(second.groups))


# ---- Spark wiring --------------------------------------------------------------------------
def items(spark: "SparkSession", settings: Settings, ds: str) -> "DataFrame":
    """Every image to embed: the date's staged outputs (kind gen) and the held-apart real
    staged photos as of the date (kind real), each photo once whatever products list it."""
    from pyspark.sql import functions as F

    from adstage.evalsplit import photo_holdout_col

    staged = delta.read_date(spark, settings, "staged_images", ds)
    no_mask = [r["product_id"] + "/" + r["method"] for r in
               staged.filter(F.col("product_mask_uri").isNull()).select("product_id", "method")
               .limit(50).collect()]
    if no_mask:
        raise MissingMasks(no_mask)
    gen = staged.select(F.lit("gen").alias("kind"), "method", F.col("product_id").alias("key"),
                        F.col("output_uri").alias("uri"), F.col("product_mask_uri").alias("mask_uri"))
    labels = delta.read_as_of(spark, settings, "image_labels", ds, "image_id")
    # One real photo is one row, keyed by its content (the store URI): a room listed under
    # five products would otherwise count five times, and sit on both halves of the control.
    real = (labels.filter((F.col("label") == "staged")
                          & photo_holdout_col("image_uri", settings.eval_holdout_share))
            .select("image_uri").distinct()
            .select(F.lit("real").alias("kind"), F.lit(None).cast("string").alias("method"),
                    F.col("image_uri").alias("key"), F.col("image_uri").alias("uri"),
                    F.lit(None).cast("string").alias("mask_uri")))
    return gen.unionByName(real)


def embed_frame(todo: "DataFrame", settings: Settings, fid_path: str = "") -> "DataFrame":
    """Whole-image features on the FID extractor (the ONNX at ``fid_path``, else the random
    features) and seam patch features on ``adstage-randfeat-v1``, one row per image. The
    model bytes travel in the task closure (PySpark broadcasts a large one)."""
    import pyarrow as pa

    from adstage import tables
    from adstage.imagestore import ImageStore
    from adstage.onnx_runtime import OrtOptions

    store_root = settings.image_store_uri
    fid_model = Path(fid_path).read_bytes() if fid_path else None
    fid_name = features.extractor_name(fid_path)
    device, options = settings.onnx_device, OrtOptions.from_settings(settings)
    size, scale = settings.eval_image_size, settings.seam_scale
    patch, points = settings.seam_patch, settings.seam_points_per_image
    cols = [(f.split()[0], f.split()[1]) for f in _FEATURE_DDL.split(", ")]
    schema = tables.record_schema(cols)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from adstage.evaluation.features import (inception_embedder, randfeat_embedder,
                                                 whole_image_features)
        from adstage.evaluation.seam import edge_patches, outline_patches

        embed = randfeat_embedder(device, options)
        whole = (inception_embedder(fid_model, fid_name, device, options)
                 if fid_model is not None else embed)
        store = ImageStore(store_root)
        for b in batches:
            out = []
            for rec in b.to_pylist():
                row = {k: rec[k] for k in ("kind", "method", "key")}
                try:
                    img = store.get_image(rec["uri"])
                    if rec["kind"] == "gen":
                        mask = store.get_image(rec["mask_uri"], grey=True)
                        sp = outline_patches([(rec["key"], img, mask)], scale, patch, points)
                    else:
                        sp = edge_patches([(rec["key"], img)], scale, patch, points)
                    feats = embed(sp.patches)
                    row.update(whole=whole_image_features(whole, [img], size)[0].tolist(),
                               patches=feats.ravel().tolist(), n_patches=len(feats))
                except Exception as exc:  # one bad image is recorded, never fatal
                    row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                out.append(row)
            yield pa.RecordBatch.from_pylist(out, schema=schema)

    return todo.mapInArrow(run, tables.ddl(cols))


def _collect(rows: list) -> dict[str | None, FeatureSet]:
    """Feature sets by method (None: the real photos), each in key order. Rows arrive in
    whatever order the shuffle delivered them, and the statistics (covariances, KID's seeded
    subsets, the seam classifier's folds) depend on it: sorted, a re-run of the date
    reproduces its figures exactly."""
    by: dict[str | None, list] = {}
    for r in sorted(rows, key=lambda r: (r["method"] or "", r["key"])):
        by.setdefault(r["method"], []).append(r)
    # The patch width is the seam extractor's, not the whole-image one's (Inception: 2048).
    pdim = next((len(r["patches"]) // r["n_patches"] for r in rows if r["n_patches"]), 0)
    sets = {}
    for method, rs in by.items():
        ids = [r["key"] for r in rs]
        whole = np.asarray([r["whole"] for r in rs], np.float64)
        patches = [np.asarray(r["patches"], np.float64).reshape(-1, pdim) for r in rs]
        groups = [r["key"] for r, p in zip(rs, patches) for _ in range(len(p))]
        sets[method] = FeatureSet(ids, whole, np.concatenate(patches) if patches else
                                  np.zeros((0, pdim)), groups)
    return sets


def run(spark: "SparkSession", settings: Settings, ds: str) -> dict[str, float]:
    """Evaluate every method staged on `ds`; idempotent for that date."""
    import mlflow
    from pyspark.sql import functions as F

    fid_path = features.fid_model_path(settings.fid_inception_path)
    extractor = features.extractor_name(fid_path)
    log.info("evaluation ds=%s: FD/KID on %s%s, seam measure on %s", ds, extractor,
             f" ({fid_path})" if fid_path else "", SEAM_EXTRACTOR)
    run_id = mlflow.active_run().info.run_id if mlflow.active_run() else "none"
    todo = items(spark, settings, ds)
    fingerprint = input_digest(todo, settings, extractor)
    carried = incremental.carry_date(spark, settings, "staging_metrics", ds, fingerprint)
    if carried is not None:
        _tag(extractor)
        return _carry(spark, settings, ds, *carried)
    todo = todo.repartition(max(spark.sparkContext.defaultParallelism, 1), "key")
    rows = embed_frame(todo, settings, fid_path).collect()
    failed = [r for r in rows if r["error"]]
    bad_masks = [f"{r['key']}/{r['method']}" for r in failed if r["kind"] == "gen"]
    if bad_masks:
        raise MissingMasks(bad_masks)  # a staged image whose mask cannot be used: refuse
    for r in failed:
        log.warning("real image %s left out of the evaluation: %s", r["key"], r["error"])
    sets = _collect([r for r in rows if not r["error"]])
    real = sets.pop(None, FeatureSet())
    if not real.ids:
        log.warning("evaluation ds=%s: no held-apart real staged photo; figures will be empty", ds)
    stats = {r["method"]: r for r in delta.read_date(spark, settings, "staged_images", ds)
             # Decimal sums are exact, so the mean does not depend on the order of the rows.
             .groupBy("method").agg(F.avg(F.col("object_expansion").cast("decimal(38,18)"))
                                    .cast("double").alias("object_expansion"),
                                    F.max("preservation_max").alias("preservation_max")).collect()}
    side = features.INCEPTION_SIZE if fid_path else settings.eval_image_size
    common = {"extractor": extractor, "image_size": side,
              "patch_size": settings.seam_patch, "seam_scale": settings.seam_scale,
              "mlflow_run_id": run_id}
    out_rows, scores, metrics = [], [], {"real_images": len(real.ids),
                                         "real_left_out": len(failed)}
    for method in sorted(sets):
        row, per_image = compare(sets[method], real)
        row.update(method=method, object_expansion=stats[method]["object_expansion"],
                   preservation_max=stats[method]["preservation_max"], **common)
        out_rows.append(row)
        scores += [(pid, method, float(p)) for pid, p in per_image.items()]
    if real.ids:
        first, second = control_sets(real)
        row, _ = compare(first, second)
        row.update(method=CONTROL, **common)
        out_rows.append(row)
    for row in out_rows:
        for k in ("fd", "kid", "seam_accuracy", "seam_kid"):
            if row.get(k) is not None:
                metrics[f"{row['method']}.{k}"] = round(float(row[k]), 6)
        log.info("evaluation ds=%s %s [%s]: %s", ds, row["method"], extractor,
                 {k: row.get(k) for k in ("n_images", "n_real", "fd", "kid", "seam_accuracy",
                                          "seam_kid", "object_expansion", "detail")})
    _write(spark, settings, ds, [{**r, incremental.FINGERPRINT: fingerprint} for r in out_rows],
           scores, SEAM_EXTRACTOR)
    _tag(extractor)
    return {**metrics, "incremental.computed": len(out_rows), "incremental.carried": 0}


def _tag(extractor: str) -> None:
    import mlflow

    if mlflow.active_run():
        mlflow.set_tags({"adstage.extractor": extractor,
                         "adstage.seam_extractor": SEAM_EXTRACTOR})


def input_digest(todo: "DataFrame", settings: Settings, extractor: str) -> str:
    """One fingerprint of the date's whole evaluation input: every image (content-addressed
    URIs), the extractor and the settings the figures depend on. The figures are statistics over
    the whole set, so they are carried only when all of it is unchanged."""
    stage_salt = incremental.salt(
        "evaluate", extractor=extractor, seam_extractor=SEAM_EXTRACTOR,
        fid_inception_path=settings.fid_inception_path,
        image_size=settings.eval_image_size, seam_scale=settings.seam_scale,
        seam_patch=settings.seam_patch, seam_points=settings.seam_points_per_image)
    return incremental.digest(stage_salt, [tuple(r) for r in todo.select(
        "kind", "method", "key", "uri", "mask_uri").collect()])


def _carry(spark: "SparkSession", settings: Settings, ds: str, source: str,
           rows: "DataFrame") -> dict[str, float]:
    """`source`'s figures and per-image seam scores, re-dated: same images, same numbers, no
    image read, no feature computed."""
    from pyspark.sql import functions as F

    data = rows.collect()
    delta.replace_date(spark, rows, settings, "staging_metrics", ds)
    scores = (delta.read_date(spark, settings, "staged_images", source)
              .filter(F.col("seam_score").isNotNull())
              .select("product_id", "method", "seam_score", "seam_extractor")
              .withColumn("ds", F.lit(ds).cast("date")))
    delta.update_columns(spark, scores, settings, "staged_images", ("seam_score", "seam_extractor"))
    metrics: dict[str, float] = {"incremental.computed": 0, "incremental.carried": len(data)}
    for r in data:
        for k in ("fd", "kid", "seam_accuracy", "seam_kid"):
            if r[k] is not None:
                metrics[f"{r['method']}.{k}"] = round(float(r[k]), 6)
    log.info("evaluation ds=%s: %d staging_metrics rows and the seam scores carried from %s",
             ds, len(data), source)
    return metrics


def _write(spark: "SparkSession", settings: Settings, ds: str, rows: list[dict],
           scores: list[tuple[str, str, float]], seam_extractor: str) -> None:
    from pyspark.sql import functions as F

    from adstage import tables

    contract = tables.spec("staging_metrics")
    data = [{c: r.get(c) for c in contract.names if c != "ds"} for r in rows]
    schema = tables.ddl([(c.name, c.type) for c in contract.columns if c.name != "ds"])
    df = spark.createDataFrame(data, schema).withColumn("ds", F.lit(ds).cast("date"))
    delta.replace_date(spark, df, settings, "staging_metrics", ds)
    if scores:
        s = (spark.createDataFrame(scores, "product_id string, method string, seam_score double")
             .withColumn("ds", F.lit(ds).cast("date"))
             .withColumn("seam_extractor", F.lit(seam_extractor)))
        delta.update_columns(spark, s, settings, "staged_images", ("seam_score", "seam_extractor"))


def main(argv: list[str] | None = None) -> int:
    """CLI of the evaluation job (`jobs/evaluate.py`)."""
    from adstage.jobrunner import job_parser, run_spark_job

    args = job_parser("evaluate", __doc__).parse_args(argv)
    return run_spark_job("evaluate", args, lambda spark, settings: run(spark, settings, args.ds))
