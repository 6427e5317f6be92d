"""Copy-paste staging stage: each paired product -> a staged image in the best acceptable donor
slot (``staged_images``), or why it has none (``staging_rejects``).

Per product, donors are tried in pairing rank order, the slot quota's assigned donor first
(``donor_quota``: no slot stages more than ``staging_max_slot_share`` of the night's paired
products; a product whose every donor is full gets ``no_free_slot``). Only donors the product
fits are offered to the quota (``donor_fit``: fit IoU, gap share and size ratio, judged on
the masks before any inpainting is paid for; the verdicts are written to ``donor_fit`` and
carried to the next date for a product whose cutout and donors did not change); a product
that fits none gets ``no_acceptable_donor`` with each donor's refusal. A donor is still
refused, and the next one tried, when its photo or slot mask cannot be read or its checks
fail as it is staged. On the accepted donor every configured paste method is rendered:
``copy_paste`` (the gap filled on fixed-size crops, optional contact shadow and
harmonisation: the paper's method) and ``hard_paste`` (no inpainting, no blending: the floor
of the seam measure). What fills the gap is ``staging_gap_fill`` (``gap_fill``: OpenCV Telea
by default, or the EdgeConnect generators in onnxruntime, one session per Python worker, on
the provider ``onnx_device`` selects, with the session settings ``onnx_*`` give,
``onnx_runtime.OrtOptions``); it is stored per row.

Gap crops are pooled across products: a worker prepares product after product (donor checks,
placement, gap, crops, hard paste), sends their crops to the inpainter ``crop_batch`` at a time
(a call may hold crops of several products; ``staging_inpaint_batch``), and finishes a product
(paste back, shadow, composite, store) once all its crops are filled.  A photo whose gap would
need more crop pixels than the photo has (a gap spread over it, tiled with overlaps) is
inpainted whole in one call of its own (``staging_full_frame_max_px``, ``composite.gap_crops``).
The rows are the same as staging each product alone.  A row's ``seconds`` is the wall time
spent on that image: its own donor loading and checks (first method only), preparation,
compositing and storing, plus its crops' share, by crop count, of the pooled inpainter calls
they were in.
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np

from adstage import delta, incremental, tables
from adstage.config import Settings
from adstage.reasons import Reason
from adstage.staging import codes, donor_fit, donor_quota, gap_fill
from adstage.staging.codes import StagingReason
from adstage.staging.composite import (PendingCopyPaste, finish_copy_paste, hard_paste,
                                       prepare_copy_paste)
from adstage.staging.harmonize import HarmonizeParams
from adstage.staging.outputs import record_columns, store_outputs
from adstage.staging.shadow import ShadowParams

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

# Gap crops (256²) per inpainter call when staging_inpaint_batch = 0 (docs/benchmarks.md): on
# the CPU batching gains nothing and from 8 crops up loses to cache misses; on CUDA the batch is
# what fills the GPU (not measured here: the vision stages' inference_batch).
CROP_BATCH_CPU = 2
# Output rows per Arrow batch handed back to Spark (rows hold URIs and scores, no pixels).
ROWS_PER_BATCH = 256


@dataclass(frozen=True)
class CopyPasteParams:
    methods: tuple[str, ...] = (codes.COPY_PASTE,)
    shadow: bool = True
    harmonize: bool = False
    dilate_px: int = 4
    crop_size: int = 256
    max_gap_share: float = 0.6
    min_fit_iou: float = 0.3
    full_frame_max_px: int = 2 * 1024 * 1024
    max_size_ratio: float = 2.0
    crop_format: str = "jpg"
    crop_quality: int = 90
    max_gap_share_behind: float = 0.45
    fill_sees_product: bool = False
    max_gap_depth: float = 0.15

    @classmethod
    def from_settings(cls, s: Settings) -> "CopyPasteParams":
        methods = tuple(m for m in s.staging_methods if m in codes.PASTE_METHODS)
        return cls(methods, s.staging_shadow, s.staging_harmonize, s.staging_dilate_px,
                   s.staging_crop_size, s.staging_max_gap_share, s.staging_min_fit_iou,
                   s.staging_full_frame_max_px, s.staging_max_size_ratio,
                   s.staging_crop_format, s.staging_crop_quality,
                   s.staging_max_gap_share_behind, s.staging_fill_context == "product",
                   s.staging_max_gap_depth)


def _try_order(donor: dict) -> int:
    """Donors are tried in the slot quota's order (``donor_quota``), else in pairing rank."""
    order = donor.get(donor_quota.ORDER)
    return int(order) if order is not None else int(donor["rank"])


def _error(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()[:300]


@dataclass(eq=False)  # identity: a job is one product's staging, never equal to another
class _Job:
    """A product whose copy-paste crops wait for the inpainter (``CopyPasteWorker``)."""

    product_id: str
    pending: PendingCopyPaste
    head: dict                    # the copy-paste row's columns, outputs and seconds to come
    rows: dict[str, dict]         # the other methods' rows, done
    seconds: float                # wall time charged to the copy-paste row so far
    attempt: int
    filled: list = field(default_factory=list)
    left: int = 0
    error: str = ""


class CopyPasteWorker:
    """Stages product records (numpy and the image store; no Spark).

    :param store: ``ImageStore``. :param inpaint_fn: BGR ``InpaintFn`` (``composite``).
    :param model_versions: ``name@version`` of what fills the gaps (``gap_fill``), stored per row.
    :param crop_batch: gap crops per ``inpaint_fn`` call, pooled across products.
    """

    def __init__(self, store, inpaint_fn: Callable, params: CopyPasteParams,
                 model_versions: list[str], providers: str, crop_batch: int = CROP_BATCH_CPU):
        self.store, self.inpaint_fn, self.params = store, inpaint_fn, params
        self.model_versions, self.providers = model_versions, providers
        self.crop_batch = max(1, int(crop_batch))

    def stage(self, rec: dict) -> list[dict]:
        """One product alone (see ``stage_many`` for ``rec``)."""
        return [row for rows in self.stage_many([rec]) for row in rows]

    def stage_many(self, recs: Iterable[dict]) -> Iterator[list[dict]]:
        """Each record's rows (one per method, staged or rejected), as soon as they are done.

        ``rec``: product_id, category, image_id, product_image_uri, product_mask_uri,
        product_box, background_bgr, donors (dicts with order (optional), rank, slot_id,
        donor_image_id, donor_product_id, donor_image_uri, slot_mask_uri).
        """
        jobs: list[_Job] = []
        queue: list[tuple[_Job, int]] = []
        for rec in recs:
            job = self._prepare(rec)
            if isinstance(job, list):
                yield job
                continue
            jobs.append(job)
            if job.pending.crops.shape[1:3] != (self.params.crop_size,) * 2:
                self._fill([(job, 0)])  # its whole frame as one crop: a call of its own
            else:
                queue.extend((job, i) for i in range(len(job.pending.boxes)))
            while len(queue) >= self.crop_batch:
                self._fill(queue[:self.crop_batch])
                queue = [(j, i) for j, i in queue[self.crop_batch:] if not j.error]
            yield from self._finished(jobs)
        while queue:
            self._fill(queue[:self.crop_batch])
            queue = [(j, i) for j, i in queue[self.crop_batch:] if not j.error]
        yield from self._finished(jobs)

    def _fill(self, chunk: list[tuple[_Job, int]]) -> None:
        """One inpainter call for ``chunk``'s crops; on failure, product by product, so that
        one bad product fails alone."""
        t0 = time.perf_counter()
        try:
            crops = np.stack([j.pending.crops[i] for j, i in chunk])
            filled = np.asarray(self.inpaint_fn(crops, np.stack([j.pending.holes[i]
                                                                 for j, i in chunk])))
            if filled.shape != crops.shape or filled.dtype != np.uint8:
                raise ValueError(f"inpaint_fn returned {filled.dtype} {filled.shape}, "
                                 f"expected uint8 {crops.shape}")
        except Exception as exc:
            owners = list(dict.fromkeys(j for j, _ in chunk))
            if len(owners) == 1:
                log.exception("inpainting %s failed", owners[0].product_id)
                owners[0].error = f"donor {owners[0].head['slot_id']}: {_error(exc)}"
                return
            log.warning("inpainting %d crops of %d products together failed (%s); "
                        "retrying product by product", len(chunk), len(owners), _error(exc))
            for job in owners:
                self._fill([(j, i) for j, i in chunk if j is job])
            return
        share = (time.perf_counter() - t0) / len(chunk)
        for (job, i), out in zip(chunk, filled):
            job.filled[i] = out
            job.left -= 1
            job.seconds += share

    def _finished(self, jobs: list[_Job]) -> Iterator[list[dict]]:
        for job in [j for j in jobs if j.error or j.left == 0]:
            jobs.remove(job)
            yield self._finish(job)

    def _finish(self, job: _Job) -> list[dict]:
        base = {"product_id": job.head["product_id"], "image_id": job.head["image_id"]}
        if job.error:
            return self._rejects(base, Reason.INTERNAL_ERROR.value, job.error, job.attempt)
        t0 = time.perf_counter()
        try:
            filled = np.stack(job.filled) if job.filled else job.pending.crops
            res = finish_copy_paste(job.pending, filled)
            row = {**job.head, **self._scores(res)}
            row.update(store_outputs(self.store, res.image, res.product_alpha, res.gap_mask,
                                     res.box, self.params.crop_format, self.params.crop_quality))
        except Exception as exc:
            log.exception("staging %s into %s failed", job.product_id, job.head["slot_id"])
            return self._rejects(base, Reason.INTERNAL_ERROR.value,
                                 f"donor {job.head['slot_id']}: {_error(exc)}", job.attempt)
        row["seconds"] = round(job.seconds + time.perf_counter() - t0, 4)
        job.rows[codes.COPY_PASTE] = row
        return [job.rows[m] for m in self.params.methods]

    def _prepare(self, rec: dict) -> "_Job | list[dict]":
        """Donors in rank order up to the first acceptable one; its rows, or a ``_Job`` when
        copy-paste still needs its crops filled."""
        base = {"product_id": rec["product_id"], "image_id": rec["image_id"]}
        try:
            product, alpha = self.store.get_image_and_mask(rec["product_image_uri"],
                                                           rec["product_mask_uri"])
        except Exception as exc:
            return self._rejects(base, Reason.CORRUPT_IMAGE.value,
                                 f"product photo or cutout mask unreadable: {_error(exc)}", 0)
        refusals: list[str] = []
        for n, donor in enumerate(sorted(rec["donors"], key=_try_order), start=1):
            started = time.perf_counter()
            try:
                room = self.store.get_image(donor["donor_image_uri"])
                slot = self.store.get_image(donor["slot_mask_uri"], grey=True)
                front = (self.store.get_image(donor["front_mask_uri"], grey=True)
                         if donor.get("front_mask_uri") else None)
            except Exception as exc:
                refusals.append(f"#{donor['rank']} {donor['slot_id']}: unreadable ({_error(exc)})")
                continue
            try:
                out = self._render(rec, donor, room, slot, front, product, alpha, n, refusals,
                                   started)
            except Exception as exc:
                log.exception("staging %s into %s failed", rec["product_id"], donor["slot_id"])
                return self._rejects(base, Reason.INTERNAL_ERROR.value,
                                     f"donor {donor['slot_id']}: {_error(exc)}", n)
            if out:
                return out
        detail = "; ".join(refusals) or "no donor"
        return self._rejects(base, StagingReason.NO_ACCEPTABLE_DONOR.value, detail,
                             len(rec["donors"]))

    def _render(self, rec, donor, room, slot, front, product, alpha, attempt, refusals, started):
        p = self.params
        box = [int(v) for v in rec["product_box"]] if rec.get("product_box") is not None else None
        backdrop = list(rec["background_bgr"]) if rec.get("background_bgr") is not None else None
        if slot.shape != room.shape[:2] or (front is not None and front.shape != slot.shape):
            refusals.append(f"#{donor['rank']} {donor['slot_id']}: slot mask size {slot.shape} "
                            f"or front mask size != photo {room.shape[:2]}")
            return []
        fit = donor_fit.check(slot, front, product, alpha, p, product_box=box,
                              backdrop_bgr=backdrop)
        if fit.refusal:
            refusals.append(f"#{donor['rank']} {donor['slot_id']}: {fit.refusal}")
            return []
        placed, size_ratio = fit.placed, fit.size_ratio
        rows: dict[str, dict] = {}
        job = None
        for method in p.methods:
            # The donor search is charged to the first method only.
            t0 = started if method == p.methods[0] else time.perf_counter()
            row = {"product_id": rec["product_id"], "method": method,
                   "category": rec["category"], "image_id": rec["image_id"],
                   "product_image_uri": rec["product_image_uri"], "donor_rank": donor["rank"],
                   "slot_id": donor["slot_id"], "donor_image_id": donor["donor_image_id"],
                   "donor_product_id": donor["donor_product_id"],
                   "donor_image_uri": donor["donor_image_uri"],
                   "front_mask_uri": donor.get("front_mask_uri"), "attempts": attempt,
                   "size_ratio": round(size_ratio, 4), "gap_depth": round(fit.gap_depth, 4)}
            if method == codes.COPY_PASTE:
                pending = prepare_copy_paste(
                    room, slot, product, alpha, dilate_px=p.dilate_px, crop_size=p.crop_size,
                    shadow=ShadowParams() if p.shadow else None,
                    harmonize=HarmonizeParams() if p.harmonize else None, product_box=box,
                    backdrop_bgr=backdrop, placed=placed, max_frame_px=p.full_frame_max_px,
                    front=front, fill_sees_product=p.fill_sees_product)
                row.update({"shadow": p.shadow, "harmonize": p.harmonize,
                            "model_versions": self.model_versions,
                            "onnx_providers": self.providers})
                n = len(pending.boxes)
                job = _Job(rec["product_id"], pending, row, rows, time.perf_counter() - t0,
                           attempt, [None] * n, n)
                continue
            res = hard_paste(room, slot, product, alpha, product_box=box, front=front)
            row.update({"shadow": False, "harmonize": False, "model_versions": [],
                        "onnx_providers": "none", **self._scores(res)})
            row.update(store_outputs(self.store, res.image, res.product_alpha, res.gap_mask,
                                     res.box, self.params.crop_format, self.params.crop_quality))
            row["seconds"] = round(time.perf_counter() - t0, 4)
            rows[method] = row
        if job is None:
            return [rows[m] for m in p.methods]
        if job.left == 0:  # nothing to inpaint: finish now, not after the next product
            return self._finish(job)
        return job

    @staticmethod
    def _scores(res) -> dict:
        return {k: res.scores[k] for k in ("fit_iou", "gap_share", "preservation_max",
                                           "preservation_mean", "object_expansion")}

    def _rejects(self, base: dict, reason: str, detail: str, attempts: int) -> list[dict]:
        return [{**base, "method": m, "reason": reason, "detail": detail[:2000],
                 "attempts": attempts} for m in self.params.methods]


# ---- Spark wiring --------------------------------------------------------------------------
def work(spark: "SparkSession", settings: Settings, ds: str, quota: "DataFrame") -> "DataFrame":
    """One row per paired product of `ds` with room on a slot: its cutout and its donors in
    the order to try them (``quota``: ``quota_pairs``)."""
    from pyspark.sql import functions as F

    pairs = quota.filter(F.col("slot_id").isNotNull())
    cut, slots = donor_fit.pair_inputs(spark, settings, ds)
    donor = F.struct(donor_quota.ORDER, "rank", "slot_id", "donor_image_id", "donor_product_id",
                     "donor_image_uri", "slot_mask_uri", "front_mask_uri")
    return (pairs.join(cut, "image_id").join(slots, "slot_id")
            .groupBy("product_id", "category", "image_id", "product_image_uri",
                     "product_mask_uri", "product_box", "background_bgr")
            .agg(F.sort_array(F.collect_list(donor)).alias("donors")))


def quota_pairs(spark: "SparkSession", settings: Settings, ds: str,
                params: CopyPasteParams) -> tuple["DataFrame", "DataFrame", dict[str, int]]:
    """The date's pairs that pass the fit checks (``donor_fit``), ordered under the slot quota
    (``donor_quota``; ``order`` 1 = the assigned donor; a product refused by the quota keeps
    one row with a null ``slot_id``), the products none of whose donors fits
    (``donor_fit.unfit_products``), and the fit pass's incremental metrics. Persisted: the
    caller unpersists both frames."""
    from pyspark.sql import functions as F

    pairs = delta.read_date(spark, settings, "donor_pairs", ds).drop("ds")
    checked, fit_metrics = donor_fit.fitting_pairs(spark, settings, ds, pairs, params)
    checked = checked.persist()
    fitting = checked.filter(F.col(donor_fit.REFUSAL) == "").drop(donor_fit.REFUSAL)
    # Like for like: a product's candidates are all of one slot category, so categories never
    # compete for a slot; the shape-only fallback mixes them, so it is assigned as one group.
    group = "donor_category" if settings.pairing_like_only else "_all"
    if group == "_all":
        fitting = fitting.withColumn("_all", F.lit("all"))
    n_paired = pairs.select("product_id").distinct().count()
    quota = donor_quota.apply(fitting, settings.staging_max_slot_share, group,
                              n_paired).drop("_all").persist()
    unfit = donor_fit.unfit_products(checked).persist()
    for frame in (quota, unfit):  # computed while ``checked`` is cached: one fit pass
        frame.count()
    checked.unpersist()
    return quota, unfit, fit_metrics


def fingerprinted_work(spark: "SparkSession", settings: Settings, ds: str,
                       params: CopyPasteParams, quota: "DataFrame",
                       fill: "gap_fill.GapFill") -> "DataFrame":
    """``work`` with each product's input fingerprint: its photo, mask, box and backdrop, its
    donors (photos and slot masks are content-addressed URIs), the params and what fills the
    gaps (``gap_fill``: the generators' versions, or Telea's) (``adstage.incremental``)."""
    stage_salt = salt(settings, params, list(fill.versions))
    todo = work(spark, settings, ds, quota)
    return todo.withColumn(incremental.FINGERPRINT,
                           incremental.fingerprint(stage_salt, *todo.columns))


def salt(settings: Settings, params: CopyPasteParams, models: list[str]) -> str:
    """The stage's incremental salt. fp16 generators change outputs by more than rounding:
    named only when they may run (CUDA, EdgeConnect), so fp32 nights keep their fingerprints."""
    fp16 = ({"cuda_fp16": True} if settings.onnx_cuda_fp16 and settings.onnx_device != "cpu"
            and settings.staging_gap_fill == gap_fill.EDGECONNECT else {})
    return incremental.salt("stage_copy_paste", params=asdict(params), models=models, **fp16)


def stage_frame(todo: "DataFrame", settings: Settings, params: CopyPasteParams,
                fill: "gap_fill.GapFill") -> "DataFrame":
    import pyarrow as pa

    from adstage.imagestore import ImageStore
    from adstage.onnx_runtime import OrtOptions
    from adstage.resources import map_in_arrow

    cols = record_columns(tables.spec("staged_images"), (("reason", "string"),
                                                          ("detail", "string")))
    schema = tables.record_schema(cols)
    store_root, device = settings.image_store_uri, settings.onnx_device
    options, fp16 = OrtOptions.from_settings(settings), settings.onnx_cuda_fp16
    crop_batches = {cuda: crop_batch_for(settings, cuda) for cuda in (False, True)}

    def to_batch(rows: list[dict]) -> pa.RecordBatch:
        return pa.RecordBatch.from_pylist([{c: r.get(c) for c, _ in cols} for r in rows],
                                          schema=schema)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        inpaint_fn, providers, crop_batch = fill.open(device, options, fp16,
                                                      crop_batches.__getitem__)
        worker = CopyPasteWorker(ImageStore(store_root), inpaint_fn, params,
                                 list(fill.versions), providers, crop_batch=crop_batch)
        out: list[dict] = []
        for rows in worker.stage_many(rec for b in batches for rec in b.to_pylist()):
            out.extend(rows)
            if len(out) >= ROWS_PER_BATCH:
                yield to_batch(out)
                out = []
        if out:
            yield to_batch(out)

    return map_in_arrow(todo, run, tables.ddl(cols), settings)  # GPU profile if configured


def crop_batch_for(settings: Settings, cuda: bool) -> int:
    """Gap crops per inpainter call: ``staging_inpaint_batch``, else the measured CPU best or,
    on CUDA, the vision stages' ``inference_batch``."""
    if settings.staging_inpaint_batch > 0:
        return settings.staging_inpaint_batch
    return settings.inference_batch if cuda else CROP_BATCH_CPU


def unpaired(spark: "SparkSession", settings: Settings, ds: str, methods: tuple[str, ...],
             quota: "DataFrame", unfit: "DataFrame") -> "DataFrame":
    """The date's pairing rejects, the products none of whose donors fits and those the slot
    quota left without a donor, as staging rejects of every paste method."""
    from pyspark.sql import functions as F

    rej = delta.read_date(spark, settings, "pairing_rejects", ds).select(
        "product_id", "image_id", F.lit(StagingReason.NOT_PAIRED.value).alias("reason"),
        F.concat_ws(": ", "reason", "detail").alias("detail"), F.lit(0).alias("attempts"))
    unfit = unfit.select("product_id", "image_id",
                         F.lit(StagingReason.NO_ACCEPTABLE_DONOR.value).alias("reason"),
                         "detail", "attempts")
    full = quota.filter(F.col("slot_id").isNull()).select(
        "product_id", "image_id", F.lit(StagingReason.NO_FREE_SLOT.value).alias("reason"),
        F.lit("every like donor slot it fits already holds its quota of the "
              f"night's products (staging_max_slot_share={settings.staging_max_slot_share:g})"
              ).alias("detail"), F.lit(0).alias("attempts"))
    return (rej.unionByName(unfit).unionByName(full)
            .withColumn("method", F.explode(F.array(*[F.lit(m) for m in methods])))
            .select("product_id", "method", "image_id", "reason", "detail",
                    F.col("attempts").cast("int").alias("attempts")))


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
    only = {"method": list(params.methods)}
    fill = gap_fill.resolve(settings)  # once: the salt and the workers use the same models
    quota, unfit, fit_metrics = quota_pairs(spark, settings, ds, params)
    plan = incremental.plan(spark, settings, "stage_copy_paste", ds,
                            fingerprinted_work(spark, settings, ds, params, quota, fill),
                            "product_id", ("staged_images", "staging_rejects"), only)
    out = (plan.compute(lambda todo: stage_frame(todo, settings, params, fill),
                        tables.ddl(record_columns(tables.spec("staged_images"))))
           .withColumn("ds", F.lit(ds).cast("date"))
           .withColumn("mlflow_run_id", F.lit(run_id)).persist())
    try:
        staged, rejects = plan.write(
            settings, out, "staged_images", "staging_rejects", only,
            extra_rejects=unpaired(spark, settings, ds, params.methods, quota, unfit).withColumn(
                "ds", F.lit(ds).cast("date")))
        per_method = {r["method"]: r for r in staged.groupBy("method").agg(
            F.count("*").alias("n"), F.max("preservation_max").alias("pmax"),
            F.avg("seconds").alias("sec"), F.avg("attempts").alias("attempts"),
            F.avg("gap_share").alias("gap")).collect()}
        reasons = {r["reason"]: r["count"] for r in rejects.filter(
            F.col("method") == params.methods[0]).groupBy("reason").count().collect()}
        providers = [r[0] for r in staged.select("onnx_providers").distinct().collect()]
    finally:
        out.unpersist()
        quota.unpersist()
        unfit.unpersist()
    first = per_method.get(params.methods[0])
    metrics: dict[str, float] = {"staged": first["n"] if first else 0,
                                 "rejected": sum(reasons.values()), **plan.metrics(),
                                 **fit_metrics}
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
