"""One typed, frozen configuration for every adstage job.

Precedence (later wins): dataclass defaults < ``ADSTAGE_<FIELD>`` environment variables <
``--conf field=value`` command-line overrides.  Unknown keys are an error, never ``None``
(EdgeConnect's config silently read misspelt keys as ``None``; we refuse them instead).
"""
from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import ipaddress
import logging
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

ENV_PREFIX = "ADSTAGE_"

# Categories of the project's demo catalog and of the IKEA research set; a feed row whose
# category is outside this list is rejected (set ADSTAGE_CATEGORIES="" to accept any).
DEFAULT_CATEGORIES = (
    "sofa", "armchair", "chair", "table", "lamp", "cabinet", "bed",
    "couch", "dining_table", "clock", "plant_pot",
)


def _default_home() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "adstage")


@dataclass(frozen=True)
class Settings:
    """Every knob of the pipeline, with its one default.

    Paths that are empty strings are derived from ``home`` (see the ``*_dir``/``*_uri``
    properties), so that setting ``ADSTAGE_HOME`` alone moves all local state.
    """

    home: str = field(default_factory=_default_home)
    # Root of the Delta tables and the image store: a local path or an object-store URI.
    warehouse: str = ""
    # Spark: master and extra conf come from here (or spark-submit), never from job code.
    spark_master: str = "local[2]"
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    shuffle_partitions: int = 4
    # Delta jars, pre-fetched from Maven Central by `make jars` (adstage.jars).
    jars_dir: str = ""
    # MLflow: a local SQLite store by default, any tracking server by URI.
    mlflow_tracking_uri: str = ""
    mlflow_experiment: str = "adstage"
    # Image fetching: local paths / file URIs only under these roots; http(s) only to these hosts.
    allowed_roots: tuple[str, ...] = ()
    http_allowed_hosts: tuple[str, ...] = ()
    # An allow-listed host name must resolve to a public address; loopback / private / other
    # reserved addresses only inside these networks (CIDR, e.g. 10.20.0.0/16 for an internal
    # CDN). Link-local and cloud-metadata addresses are refused whatever this says; an IP
    # literal in http_allowed_hosts (127.0.0.1) or "localhost" itself allows its own address.
    http_allowed_networks: tuple[str, ...] = ()
    fetch_timeout_s: float = 10.0
    # Image limits: bytes on the wire, decoded pixels (decompression bombs), side lengths.
    max_image_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = 32
    max_side: int = 12_000
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    # Where the nightly run finds the catalog feed; `{ds}` is replaced by the logical date.
    feed_uri: str = ""
    # A feed with no rows (0 bytes, a header only) fails the ingest and changes nothing; true
    # when an empty night is meant (the date's catalog is then written empty).
    allow_empty_feed: bool = False
    log_level: str = "INFO"
    # Carry forward, re-dated, the rows whose input fingerprint matches the latest earlier
    # date's (adstage.incremental, docs/incremental.md); false = every stage recomputes all.
    incremental: bool = True
    # A night whose catalog did not change since the last complete one runs every downstream
    # stage in one Spark application instead of a task each (adstage.night_plan): the same
    # rows, one JVM's fixed cost instead of nine. false = always a task per stage.
    carry_in_one_app: bool = True
    # ---- vision core (adstage.vision): models, thresholds, retrieval --------------------
    # onnxruntime provider: cpu | cuda | auto (CUDA when this onnxruntime build offers it).
    onnx_device: str = "auto"
    inference_batch: int = 32
    # onnxruntime session settings (adstage.onnx_runtime.OrtOptions; measured in
    # docs/benchmarks.md): intra-op threads, 0 = the Spark task's CPUs (spark.task.cpus), so
    # several tasks per executor never oversubscribe its cores; graph optimisation level
    # disable|basic|extended|all; CPU memory arena; memory pattern planning.
    onnx_intra_op_threads: int = 0
    onnx_graph_optimization: str = "all"
    onnx_cpu_arena: bool = True
    onnx_mem_pattern: bool = True
    # Run the EdgeConnect generators in fp16 when the CUDA provider is active (ignored on CPU).
    onnx_cuda_fp16: bool = False
    # Copy-paste gap crops per onnxruntime call, pooled across the products of a Spark
    # partition; 0 = the measured CPU best (copy_paste.CROP_BATCH_CPU), inference_batch on CUDA.
    staging_inpaint_batch: int = 0
    # GPU executors (adstage.resources, docs/gpu.md): GPUs each inference task asks Spark for
    # (a fraction shares one GPU: 0.5 = two tasks each); 0 = no resource profile, as on CPU.
    gpu_per_task: float = 0.0
    # GPUs per executor and the script that finds them, sent with the profile only under
    # dynamic allocation; "" = docker/gpu-discovery.sh (/opt/adstage/gpu-discovery.sh in images).
    gpu_per_executor: int = 1
    gpu_discovery_script: str = ""
    # Registered model names; jobs load models:/<name>@champion, else the file in models/.
    classifier_model: str = "adstage-staged-classifier"
    segmenter_model: str = "adstage-slot-segmenter"
    staged_threshold: float = 0.5
    slot_min_quality: float = 0.6
    # Where donor slots come from: detector (pretrained detectors + a salient mask per box,
    # adstage.vision.donors) or segmenter (the project's own slot segmenter).
    slot_source: str = "detector"
    detector_models: tuple[str, ...] = ("adstage-detector-oid-ssd",
                                        "adstage-detector-coco-centernet")
    salient_model: str = "adstage-salient-u2netp"
    detector_min_score: float = 0.35
    # A detected piece's silhouette: both (GrabCut seeded by the salient map), salient, grabcut.
    slot_mask_method: str = "both"
    # True: a piece partly hidden by pieces in front (a chair behind a table) is a slot all the
    # same, the product goes behind them (adstage.vision.donors). Off by default: more rooms
    # give a slot, but fewer of the images on those slots are shippable (docs/donor-slots.md).
    slot_paste_behind: bool = False
    # True: a piece that hides part of another (a table in front of its chairs, a chair before
    # a sofa) is a slot: it shows whole, but the gap around the product opens onto the piece
    # behind, which the fill must invent. Off by default (docs/donor-slots.md, "In front").
    slot_replace_front: bool = False
    # Slot categories on legs whose silhouette leaves out the floor seen under the top
    # (adstage.vision.donors.DonorParams.open_under; docs/donor-slots.md, "Tables"). Empty:
    # every piece's silhouette is filled.
    slot_open_under: tuple[str, ...] = ("table",)
    # True: a piece in front that hides a little of a usable slot (an ottoman before a sofa)
    # stays on top of the new product instead of being taken into the slot and filled away.
    slot_front_on_top: bool = True
    # Shape index: exact (IndexFlatIP) up to this many slots per category, HNSW above.
    shape_index_exact_max: int = 20_000
    pairing_top_k: int = 5
    # |log(aspect_query / aspect_donor)| above this is a stretch we refuse (0.4 ~ 1.5x).
    pairing_max_aspect_log_ratio: float = 0.4
    pairing_min_similarity: float = 0.5
    # A product cutout may be enlarged at most this much to fill a donor slot.
    pairing_max_upscale: float = 2.5
    # Like for like: a product replaces only a slot of its own slot category (else a reason);
    # false = the old fallback to every category's index by shape alone.
    pairing_like_only: bool = True
    # Jitter (similarity units) that spreads near-equal products over near-equal slots.
    pairing_diversity: float = 0.05
    # Slot quota (adstage.staging.donor_quota): a donor slot stages at most this share of the
    # night's paired products (or an even spread of its category, if more); 0 = no quota.
    # 0.03 of the paired products kept every slot under 5 % of the copy-paste images on the
    # IKEA catalog (about 70 % of paired products get one; docs/donor-slots.md).
    staging_max_slot_share: float = 0.03
    # Share of staged photos held apart from the donors as the evaluation's real set (a stable
    # hash of the image id, adstage.evalsplit): they are never a donor, only a reference.
    eval_holdout_share: float = 0.2

    # ---- staging (adstage.staging): copy-paste, vanilla, parallax ----------------------
    # Methods the nightly staging jobs produce: copy_paste (the paper's method), hard_paste
    # (no inpainting, no blending: the floor the seam measure must beat), vanilla (pix2pix).
    staging_methods: tuple[str, ...] = ("copy_paste", "vanilla")
    staging_shadow: bool = True
    # What fills copy-paste gaps and parallax plates (adstage.staging.gap_fill): telea (OpenCV,
    # measured best on real rooms, docs/gap-fill.md) or edgeconnect (the paper's generators).
    staging_gap_fill: str = "telea"
    staging_harmonize: bool = False
    # What the gap filler sees around a copy-paste gap: room (the new product hidden too: the
    # gap is filled from the room alone) or product (the room with the new product in, whose
    # edges continue into the gap, EdgeConnect's premise). room measured better on IKEA: seam
    # 0.596 vs 0.628 (hard paste 0.611), and no dark product bleeding into a light floor
    # (docs/gap-fill.md).
    staging_fill_context: str = "room"
    staging_dilate_px: int = 4
    staging_crop_size: int = 256
    # The ad crops (1:1, 1.91:1) in the image store: jpg of staging_crop_quality (they go to
    # ad platforms, which take JPEG; as PNG they outweighed the staged image itself), or
    # png (lossless). The staged image and its masks stay PNG whatever this says.
    staging_crop_format: str = "jpg"
    staging_crop_quality: int = 90
    # A photo whose gap crops would hold more pixels than the photo itself is inpainted whole, in
    # one call, when it has at most this many pixels (docs/benchmarks.md); 0 = always crops.
    staging_full_frame_max_px: int = 2 * 1024 * 1024
    # A donor is refused (and the next one tried) when the generated gap would exceed this
    # share of its slot, or the product fills the slot this poorly (IoU).
    staging_max_gap_share: float = 0.6
    # The same limit on a slot behind a piece in front (slot_paste_behind), where a wide gap
    # meets the pieces around it: lower (docs/donor-slots.md, "Behind the piece in front").
    staging_max_gap_share_behind: float = 0.45
    # ... or when the gap is too deep to fill without a blur: its deepest pixel's distance to
    # anything kept, over the placed product's size (docs/donor-slots.md, "How deep a gap").
    staging_max_gap_depth: float = 0.15
    staging_min_fit_iou: float = 0.3
    # A donor is refused when the placed product's area is more than this many times the
    # slot's, or less than its inverse.
    staging_max_size_ratio: float = 2.0
    # Registered generators (models:/<name>@champion, else models/generative/).
    edge_model: str = "adstage-edgeconnect-edge"
    inpaint_model: str = "adstage-edgeconnect-inpaint"
    pix2pix_model: str = "adstage-pix2pix"
    # fp32 | int8: int8 loads models:/<name>@int8 (quantized and passed the quality gate,
    # adstage.generative.quantize_job), else models/generative/<stem>.int8.onnx; when that is
    # missing or was quantized from another fp32 model the job runs fp32 and logs why.
    generator_precision: str = "fp32"
    # Parallax clips: length, frame rate.
    parallax_seconds: float = 2.0
    parallax_fps: int = 12
    # Which clip files a night writes (adstage.staging.parallax): mp4 (mp4v, what the ad
    # platforms ingest), webm (VP9, what the gallery plays), gif (a fallback for places
    # that play neither: opt-in, it was a third of a night's store; docs/reliability.md item 12).
    parallax_formats: tuple[str, ...] = ("mp4", "webm")
    # ---- evaluation ----------------------------------------------------------------------
    # A local TorchScript Inception file makes the Fréchet distance a true FID; empty = the
    # project's own adstage-randfeat-v1 extractor (named in every metrics row).
    fid_inception_path: str = ""
    eval_image_size: int = 128
    seam_scale: int = 256
    seam_patch: int = 32
    seam_points_per_image: int = 24
    # The HTML review pages; empty = <home>/gallery.
    gallery_dir: str = ""
    # What the gallery keeps of the store's objects beside its pages (adstage.staging.gallery):
    # preview = each image once as a JPEG of at most gallery_preview_side px (quality
    # gallery_preview_quality), the WebM / GIF clips as they are, no MP4 (a download the
    # browser cannot play; it stays in the store); copy = every object byte for byte, MP4
    # included (the pages then show full-size, lossless pictures).
    gallery_assets: str = "preview"
    gallery_preview_side: int = 800
    gallery_preview_quality: int = 90
    # ---- quality gate (adstage.quality_gate): the nightly run fails loudly beyond these ----
    # Share of a date's unstaged products without a copy-paste image.
    gate_max_reject_share: float = 0.5
    # Share of a date's feed rows / images refused by ingest.
    gate_max_ingest_reject_share: float = 0.3
    # Regression against the median of the previous `gate_history_days` evaluated dates (same
    # extractor only): Fréchet distance may grow by this fraction, seam accuracy by this much.
    gate_max_fd_regression: float = 0.5
    gate_max_seam_regression: float = 0.1
    gate_history_days: int = 7
    # Fewer generated images than this on the date (or on a past date) and the regression
    # checks report their figures without judging: on a dozen images the seam accuracy swings
    # by more than its tolerance from sampling alone (seen: 0.45 → 0.62 between two dates of
    # 12 demo products, same models).
    gate_min_regression_images: int = 30
    # Donor spread, judged from this many copy-paste images of the date up: the
    # `gate_top_slots` most used slots may hold at most this share more of them than an even
    # spread over each category's usable slots would (the floor like-for-like pairing has),
    # and at most `gate_max_unlike_slot_share` may replace a slot of another category.
    gate_min_spread_images: int = 20
    gate_top_slots: int = 5
    gate_max_top_slots_excess: float = 0.25
    gate_max_unlike_slot_share: float = 0.1

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))

    # ---- derived locations -------------------------------------------------------------
    @property
    def warehouse_uri(self) -> str:
        # Resolved: URIs written into tables must not depend on the working directory.
        return (self.warehouse or str(Path(self.home).resolve() / "warehouse")).rstrip("/")

    @property
    def image_store_uri(self) -> str:
        return f"{self.warehouse_uri}/images"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{Path(self.home).resolve() / 'mlflow.db'}"

    @property
    def mlflow_artifact_uri(self) -> str:
        return str(Path(self.home).resolve() / "mlartifacts")

    @property
    def jars_path(self) -> Path:
        if self.jars_dir:
            return Path(self.jars_dir)
        from adstage.jars import default_jars_dir

        return default_jars_dir()

    def feed_for(self, ds: str) -> str:
        if not self.feed_uri:
            raise ValueError("no feed given: pass --feed or set ADSTAGE_FEED_URI "
                             "(a path or URI; {ds} is replaced by the logical date)")
        return self.feed_uri.replace("{ds}", ds)

    @property
    def gallery_path(self) -> Path:
        return Path(self.gallery_dir or Path(self.home).resolve() / "gallery")

    def table_uri(self, table: str) -> str:
        return f"{self.warehouse_uri}/{table}"

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def load(cls, overrides: Mapping[str, str] | None = None,
             environ: Mapping[str, str] | None = None) -> "Settings":
        """Defaults, then ``ADSTAGE_*`` env vars, then explicit string overrides."""
        environ = os.environ if environ is None else environ
        names = {f.name for f in dataclasses.fields(cls)}
        raw: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith(ENV_PREFIX):
                name = key[len(ENV_PREFIX):].lower()
                if name in names:
                    raw[name] = value
        for key, value in (overrides or {}).items():
            name = key.strip().lower().replace("-", "_")
            if name not in names:
                close = difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.75)
                hint = (f"did you mean {' or '.join(close)}?" if close
                        else "see `python jobs/<job>.py --help` and adstage.config.Settings")
                raise SettingsError(f"unknown setting {key!r}: {hint}")
            raw[name] = value
        hints = typing.get_type_hints(cls)
        return cls(**{k: _parse(hints[k], v, k) for k, v in raw.items()})

    def as_params(self) -> dict[str, str]:
        """Flat string view for MLflow params and logs, secrets masked (adstage.redact): a URI's
        password, a secret-named ``spark_conf`` key's value, a signed URL's token."""
        from adstage import redact

        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = ",".join(f"{k}={v}" for k, v in sorted(redact.mapping(value).items()))
            elif isinstance(value, tuple):
                value = ",".join(value)
            out[f.name] = redact.text(str(value))
        out["warehouse_uri"] = redact.text(self.warehouse_uri)
        return out


class SettingsError(ValueError):
    """A setting that is unknown, unparsable or out of its range (one line, for a person)."""


_CHOICES = {
    "onnx_device": ("cpu", "cuda", "auto"),
    "onnx_graph_optimization": ("disable", "basic", "extended", "all"),
    "generator_precision": ("fp32", "int8"),
    "staging_gap_fill": ("telea", "edgeconnect"),
    "staging_fill_context": ("product", "room"),
    "slot_source": ("detector", "segmenter"),
    "slot_mask_method": ("both", "salient", "grabcut"),
    "gallery_assets": ("preview", "copy"),
    "staging_crop_format": ("jpg", "png"),
}
_SHARES = ("eval_holdout_share", "gate_max_reject_share", "gate_max_ingest_reject_share",
           "staging_max_gap_share", "staging_max_gap_share_behind", "staging_min_fit_iou",
           "staging_max_gap_depth",
           "detector_min_score",
           "gate_max_top_slots_excess", "gate_max_unlike_slot_share",
           "staging_max_slot_share")
_POSITIVE = ("fetch_timeout_s", "max_image_bytes", "max_pixels", "min_side", "max_side",
             "shuffle_partitions", "inference_batch", "pairing_top_k", "staging_crop_size",
             "parallax_seconds", "parallax_fps", "gate_history_days", "eval_image_size",
             "seam_scale", "seam_patch", "seam_points_per_image", "shape_index_exact_max",
             "gpu_per_executor", "pairing_max_upscale", "staging_max_size_ratio",
             "gallery_preview_side")
_NOT_NEGATIVE = ("onnx_intra_op_threads", "staging_inpaint_batch", "gpu_per_task",
                 "staging_full_frame_max_px", "staging_dilate_px", "gate_min_regression_images",
                 "pairing_max_aspect_log_ratio", "gate_max_fd_regression",
                 "gate_max_seam_regression", "pairing_diversity", "gate_min_spread_images")
_METHODS = ("copy_paste", "hard_paste", "vanilla")
_CLIP_FORMATS = ("mp4", "webm", "gif")


def _problems(s: "Settings") -> list[str]:
    """Values of the right type that make no sense: refused when the job starts, not found
    by the first image (a timeout of -1 s, min_side above max_side, onnx_device=tpu)."""
    out = []
    for name in _POSITIVE + _NOT_NEGATIVE + _SHARES:
        value = getattr(s, name)
        if isinstance(value, float) and not math.isfinite(value):
            out.append(f"{name}={value} must be a finite number")
    for name in _POSITIVE:
        if getattr(s, name) <= 0:
            out.append(f"{name}={getattr(s, name)} must be > 0")
    for name in _NOT_NEGATIVE:
        if getattr(s, name) < 0:
            out.append(f"{name}={getattr(s, name)} must be >= 0")
    for name in _SHARES:
        if not 0.0 <= getattr(s, name) <= 1.0:
            out.append(f"{name}={getattr(s, name)} must be within 0..1")
    if s.min_side > s.max_side:
        out.append(f"min_side={s.min_side} is above max_side={s.max_side}")
    for name, choices in _CHOICES.items():
        if getattr(s, name) not in choices:
            out.append(f"{name}={getattr(s, name)!r} must be one of {', '.join(choices)}")
    for name in ("gallery_preview_quality", "staging_crop_quality"):
        if not 1 <= getattr(s, name) <= 100:
            out.append(f"{name}={getattr(s, name)} must be within 1..100")
    bad = [f for f in s.parallax_formats if f not in _CLIP_FORMATS]
    if bad or not s.parallax_formats:
        out.append(f"parallax_formats {list(s.parallax_formats)} must be one or more of "
                   f"{', '.join(_CLIP_FORMATS)}")
    unknown = [m for m in s.staging_methods if m not in _METHODS]
    if unknown:
        out.append(f"staging_methods {unknown} not among {', '.join(_METHODS)}")
    from adstage.vision.donors import DETECTOR_CATEGORIES  # numpy/OpenCV: only when checked

    slot_categories = sorted(set(DETECTOR_CATEGORIES.values()))
    unknown = [c for c in s.slot_open_under if c not in slot_categories]
    if unknown:
        out.append(f"slot_open_under {unknown} not among the slot categories "
                   f"{', '.join(slot_categories)}")
    if not isinstance(logging.getLevelName(str(s.log_level).upper()), int):
        out.append(f"log_level={s.log_level!r} is not a logging level")
    for net in s.http_allowed_networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            out.append(f"http_allowed_networks: {net!r} is not a network (CIDR, e.g. 10.0.0.0/8)")
    return out


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    """``["a=1", "b=x"]`` from repeated ``--conf`` flags into a dict, with a clear error."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SettingsError(f"--conf expects field=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key] = value
    return out


def _parse(hint: Any, value: str, name: str) -> Any:
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            lowered = value.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(value)
            return lowered in {"1", "true", "yes"}
        if hint in (int, float, str):
            return hint(value)
        if origin is tuple:
            return tuple(p.strip() for p in value.split(",") if p.strip())
        if origin in (collections.abc.Mapping, dict):
            pairs = [p for p in value.split(",") if p.strip()]
            return dict(p.split("=", 1) for p in pairs)
    except ValueError as exc:
        kind = getattr(hint, "__name__", str(hint))
        raise SettingsError(f"setting {name}: cannot parse {value!r} as {kind}") from exc
    raise TypeError(f"setting {name}: unsupported type {hint}")
