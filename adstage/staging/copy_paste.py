"""Copy-paste staging stage: each paired product -> a staged image in the best acceptable donor
slot (``staged_images``), or why it has none (``staging_rejects``).

Per product, donors are tried in pairing rank order. A donor is refused, and the next one
tried, when its photo or slot mask cannot be read, the product would fill the slot poorly
(``fit_iou < staging_min_fit_iou``) or the generated gap would be too large
(``gap_share > staging_max_gap_share``) — checked before any inpainting is paid for. On the
accepted donor every configured paste method is rendered: ``copy_paste`` (EdgeConnect fills
the gap on fixed-size crops, optional contact shadow and harmonisation: the paper's method) and
``hard_paste`` (no inpainting, no blending: the floor of the seam measure). The generators run
in onnxruntime, one session per Python worker, on the provider ``onnx_device`` selects (logged
and stored per row).
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from adstage import delta, tables
from adstage.config import Settings
from adstage.reasons import Reason
from adstage.staging import codes
from adstage.staging.codes import StagingReason
from adstage.staging.composite import hard_paste, rgb_inpainter, stage_copy_paste
from adstage.staging.gap import gap_mask, gap_share
from adstage.staging.harmonize import HarmonizeParams
from adstage.staging.outputs import record_columns, store_outputs
from adstage.staging.placement import place_product
from adstage.staging.shadow import ShadowParams

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CopyPasteParams:
    methods: tuple[str, ...] = (codes.COPY_PASTE,)
    shadow: bool = True
    harmonize: bool = False
    dilate_px: int = 4
    crop_size: int = 256
    max_gap_share: float = 0.6
    min_fit_iou: float = 0.3

    @classmethod
    def from_settings(cls, s: Settings) -> "CopyPasteParams":
        methods = tuple(m for m in s.staging_methods if m in codes.PASTE_METHODS)
        return cls(methods, s.staging_shadow, s.staging_harmonize, s.staging_dilate_px,
                   s.staging_crop_size, s.staging_max_gap_share, s.staging_min_fit_iou)


def _error(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()[:300]


class CopyPasteWorker:
    """Stages one product record (numpy and the image store; no Spark).

    :param store: ``ImageStore``. :param inpaint_fn: BGR ``InpaintFn`` (``composite``).
    :param model_versions: ``name@version`` of the generators, stored per row.
    """

    def __init__(self, store, inpaint_fn: Callable, params: CopyPasteParams,
                 model_versions: list[str], providers: str):
        self.store, self.inpaint_fn, self.params = store, inpaint_fn, params
        self.model_versions, self.providers = model_versions, providers

    def stage(self, rec: dict) -> list[dict]:
        """``rec``: product_id, category, image_id, product_image_uri, product_mask_uri,
        product_box, background_bgr, donors (rank-ordered dicts with rank, slot_id,
        donor_image_id, donor_product_id, donor_image_uri, slot_mask_uri)."""
        base = {"product_id": rec["product_id"], "image_id": rec["image_id"]}
        try:
            product, alpha = self.store.get_image_and_mask(rec["product_image_uri"],
                                                           rec["product_mask_uri"])
        except Exception as exc:
            return self._rejects(base, Reason.CORRUPT_IMAGE.value,
                                 f"product photo or cutout mask unreadable: {_error(exc)}", 0)
        refusals: list[str] = []
        for n, donor in enumerate(sorted(rec["donors"], key=lambda d: d["rank"]), start=1):
            started = time.perf_counter()
            try:
                room = self.store.get_image(donor["donor_image_uri"])
                slot = self.store.get_image(donor["slot_mask_uri"], grey=True)
            except Exception as exc:
                refusals.append(f"#{donor['rank']} {donor['slot_id']}: unreadable ({_error(exc)})")
                continue
            try:
                rows = self._render(rec, donor, room, slot, product, alpha, n, refusals, started)
            except Exception as exc:
                log.exception("staging %s into %s failed", rec["product_id"], donor["slot_id"])
                return self._rejects(base, Reason.INTERNAL_ERROR.value,
                                     f"donor {donor['slot_id']}: {_error(exc)}", n)
            if rows:
                return rows
        detail = "; ".join(refusals) or "no donor"
        return self._rejects(base, StagingReason.NO_ACCEPTABLE_DONOR.value, detail,
                             len(rec["donors"]))

    def _render(self, rec, donor, room, slot, product, alpha, attempt, refusals, started):
        p = self.params
        box = [int(v) for v in rec["product_box"]] if rec.get("product_box") is not None else None
        backdrop = list(rec["background_bgr"]) if rec.get("background_bgr") is not None else None
        if slot.shape != room.shape[:2]:
            refusals.append(f"#{donor['rank']} {donor['slot_id']}: slot mask size {slot.shape} "
                            f"!= photo {room.shape[:2]}")
            return []
        placed = place_product(room.shape[:2], slot, product, alpha, product_box=box,
                               backdrop_bgr=backdrop)
        share = gap_share(gap_mask(slot, placed.alpha, p.dilate_px), slot)
        if placed.fit_iou < p.min_fit_iou:
            refusals.append(f"#{donor['rank']} {donor['slot_id']}: poor fit, IoU "
                            f"{placed.fit_iou:.2f} < {p.min_fit_iou}")
            return []
        if share > p.max_gap_share:
            refusals.append(f"#{donor['rank']} {donor['slot_id']}: gap too large, "
                            f"{share:.2f} of the slot > {p.max_gap_share}")
            return []
        rows = []
        for method in p.methods:
            t0 = time.perf_counter()
            if method == codes.COPY_PASTE:
                res = stage_copy_paste(
                    room, slot, product, alpha, self.inpaint_fn, dilate_px=p.dilate_px,
                    crop_size=p.crop_size, shadow=ShadowParams() if p.shadow else None,
                    harmonize=HarmonizeParams() if p.harmonize else None, product_box=box,
                    backdrop_bgr=backdrop, placed=placed)
                flags = {"shadow": p.shadow, "harmonize": p.harmonize}
                versions = self.model_versions
            else:
                res = hard_paste(room, slot, product, alpha, product_box=box)
                flags = {"shadow": False, "harmonize": False}
                versions = []
            row = {"product_id": rec["product_id"], "method": method,
                   "category": rec["category"], "image_id": rec["image_id"],
                   "product_image_uri": rec["product_image_uri"], "donor_rank": donor["rank"],
                   "slot_id": donor["slot_id"], "donor_image_id": donor["donor_image_id"],
                   "donor_product_id": donor["donor_product_id"],
                   "donor_image_uri": donor["donor_image_uri"], **flags,
                   "fit_iou": res.scores["fit_iou"], "gap_share": res.scores["gap_share"],
                   "preservation_max": res.scores["preservation_max"],
                   "preservation_mean": res.scores["preservation_mean"],
                   "object_expansion": res.scores["object_expansion"],
                   "attempts": attempt, "model_versions": versions,
                   "onnx_providers": self.providers if versions else "none"}
            row.update(store_outputs(self.store, res.image, res.product_alpha, res.gap_mask,
                                     res.box))
            # The donor search is charged to the first method only.
            row["seconds"] = round(time.perf_counter() - (started if not rows else t0), 4)
            rows.append(row)
        return rows

    def _rejects(self, base: dict, reason: str, detail: str, attempts: int) -> list[dict]:
        return [{**base, "method": m, "reason": reason, "detail": detail[:2000],
                 "attempts": attempts} for m in self.params.methods]


# ---- Spark wiring --------------------------------------------------------------------------
def work(spark: "SparkSession", settings: Settings, ds: str) -> "DataFrame":
    """One row per paired product of `ds`: its cutout and its rank-ordered donors."""
    from pyspark.sql import functions as F

    pairs = delta.read_date(spark, settings, "donor_pairs", ds)
    cut = delta.read_as_of(spark, settings, "product_cutouts", ds, "image_id").select(
        "image_id", F.col("image_uri").alias("product_image_uri"),
        F.col("mask_uri").alias("product_mask_uri"), F.col("box").alias("product_box"),
        "background_bgr")
    slots = delta.read_as_of(spark, settings, "donor_slots", ds, "image_id").select(
        "slot_id", F.col("image_uri").alias("donor_image_uri"),
        F.col("mask_uri").alias("slot_mask_uri"))
    donor = F.struct("rank", "slot_id", "donor_image_id", "donor_product_id", "donor_image_uri",
                     "slot_mask_uri")
    return (pairs.join(cut, "image_id").join(slots, "slot_id")
            .groupBy("product_id", "category", "image_id", "product_image_uri",
                     "product_mask_uri", "product_box", "background_bgr")
            .agg(F.sort_array(F.collect_list(donor)).alias("donors")))


def load_generators(settings: Settings):
    """The two EdgeConnect models (bytes + versions) the workers will open."""
    from adstage.generative import registry as gen

    return [gen.resolve(settings, settings.edge_model), gen.resolve(settings, settings.inpaint_model)]


def stage_frame(todo: "DataFrame", settings: Settings, params: CopyPasteParams) -> "DataFrame":
    import pyarrow as pa

    from adstage.imagestore import ImageStore
    from adstage.resources import map_in_arrow

    cols = record_columns(tables.spec("staged_images"), (("reason", "string"),
                                                          ("detail", "string")))
    schema = tables.record_schema(cols)
    edge, inpaint = load_generators(settings)
    blobs, sigma = (edge.data, inpaint.data), canny_sigma(inpaint)
    versions = [f"{edge.name}@{edge.version}", f"{inpaint.name}@{inpaint.version}"]
    store_root, device = settings.image_store_uri, settings.onnx_device

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from adstage.generative.inference import EdgeConnectInpainter
        from adstage.onnx_runtime import session_from_bytes

        e, i = (session_from_bytes(b, device) for b in blobs)
        worker = CopyPasteWorker(ImageStore(store_root),
                                 rgb_inpainter(EdgeConnectInpainter(e, i, sigma=sigma)), params,
                                 versions, ",".join(i.get_providers()))
        for batch in batches:
            rows = [r for rec in batch.to_pylist() for r in worker.stage(rec)]
            yield pa.RecordBatch.from_pylist([{c: r.get(c) for c, _ in cols} for r in rows],
                                             schema=schema)

    return map_in_arrow(todo, run, tables.ddl(cols), settings)  # GPU profile if configured


def canny_sigma(model) -> float:
    """Canny sigma the inpainting model was trained with (its card), EdgeConnect's 2 otherwise."""
    from adstage.generative.edges import DEFAULT_SIGMA

    return float((model.card or {}).get("canny_sigma", DEFAULT_SIGMA))


def unpaired(spark: "SparkSession", settings: Settings, ds: str,
             methods: tuple[str, ...]) -> "DataFrame":
    """The date's pairing rejects, as staging rejects of every paste method."""
    from pyspark.sql import functions as F

    rej = delta.read_date(spark, settings, "pairing_rejects", ds)
    return (rej.withColumn("method", F.explode(F.array(*[F.lit(m) for m in methods])))
            .select("product_id", "method", "image_id",
                    F.lit(StagingReason.NOT_PAIRED.value).alias("reason"),
                    F.concat_ws(": ", "reason", "detail").alias("detail"),
                    F.lit(0).alias("attempts")))


def run(spark: "SparkSession", settings: Settings, ds: str) -> dict[str, float]:
    """Stage every product paired on `ds`; idempotent for that date and these methods."""
    import mlflow
    from pyspark.sql import functions as F

    codes.check_methods(settings.staging_methods)
    params = CopyPasteParams.from_settings(settings)
    if not params.methods:
        log.info("copy-paste staging ds=%s: no paste method configured (%s); nothing to do",
                 ds, settings.staging_methods)
        return {"products": 0}
    run_id = mlflow.active_run().info.run_id if mlflow.active_run() else "none"
    todo = work(spark, settings, ds)
    todo = todo.repartition(max(spark.sparkContext.defaultParallelism, 1), "product_id")
    out = (stage_frame(todo, settings, params).withColumn("ds", F.lit(ds).cast("date"))
           .withColumn("mlflow_run_id", F.lit(run_id)).persist())
    only = {"method": list(params.methods)}
    try:
        staged = out.filter(F.col("reason").isNull())
        rejects = out.filter(F.col("reason").isNotNull()).unionByName(
            unpaired(spark, settings, ds, params.methods).withColumn("ds", F.lit(ds).cast("date")),
            allowMissingColumns=True)
        delta.replace_date(spark, staged, settings, "staged_images", ds, only)
        delta.replace_date(spark, rejects, settings, "staging_rejects", ds, only)
        per_method = {r["method"]: r for r in staged.groupBy("method").agg(
            F.count("*").alias("n"), F.max("preservation_max").alias("pmax"),
            F.avg("seconds").alias("sec"), F.avg("attempts").alias("attempts"),
            F.avg("gap_share").alias("gap")).collect()}
        reasons = {r["reason"]: r["count"] for r in rejects.filter(
            F.col("method") == params.methods[0]).groupBy("reason").count().collect()}
        providers = [r[0] for r in staged.select("onnx_providers").distinct().collect()]
    finally:
        out.unpersist()
    first = per_method.get(params.methods[0])
    metrics: dict[str, float] = {"staged": first["n"] if first else 0,
                                 "rejected": sum(reasons.values())}
    for m, r in per_method.items():
        metrics.update({f"{m}.staged": r["n"], f"{m}.preservation_max": r["pmax"] or 0.0,
                        f"{m}.seconds_per_image": round(r["sec"] or 0.0, 4),
                        f"{m}.mean_attempts": round(r["attempts"] or 0.0, 3),
                        f"{m}.mean_gap_share": round(r["gap"] or 0.0, 4)})
    metrics.update({f"rejects.{k}": v for k, v in reasons.items()})
    log.info("copy-paste staging ds=%s methods=%s on %s: %s", ds, ",".join(params.methods),
             providers, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """CLI of the copy-paste staging job (`jobs/stage_copy_paste.py`)."""
    from adstage.jobrunner import job_parser, run_spark_job

    args = job_parser("stage_copy_paste", __doc__).parse_args(argv)
    return run_spark_job("stage_copy_paste", args,
                         lambda spark, settings: run(spark, settings, args.ds))
