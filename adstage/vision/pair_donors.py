"""Donor pairing stage: each unstaged product -> its top-k donor slots (`donor_pairs`), or the
reason it has none (`pairing_rejects`).

Like for like: a product replaces only a slot of its own slot category (a chair replaces a
chair; ``adstage.vision.donors.PRODUCT_SLOT_CATEGORY``), found in that category's FAISS shape
index. A product whose category has no detector class, or no usable slot in the catalog, gets
the reason ``no_like_slot`` rather than an unlike donor (``pairing_like_only=false`` restores
the old fallback: every index, by shape alone). Per product, one query: its best usable cutout
(primary photo first). A candidate must pass, in order: not the product's own photo,
|log aspect ratio| within ``pairing_max_aspect_log_ratio``, the cutout needs no more than
``pairing_max_upscale`` enlargement to fill the slot's box, and cosine similarity of at least
``pairing_min_similarity``. Survivors are ranked by similarity minus a small aspect penalty,
plus a deterministic jitter of at most ``pairing_diversity`` per (product, slot): products of
nearly the same shape spread over the slots that suit them about equally well instead of all
landing on the one best slot. The pairing of a date is the full pairing as of that date (all
current cutouts against the current indexes), so it is reproducible from the tables alone.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from adstage import delta, incremental
from adstage.config import Settings
from adstage.vision.codes import VisionReason
from adstage.vision.donors import product_slot_category

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

SAME_CATEGORY, SHAPE_ONLY = "same_category", "shape_only"
ASPECT_PENALTY = 0.25
_PAIR_COLS = ["product_id", "category", "image_id", "rank", "slot_id", "donor_image_id",
              "donor_product_id", "donor_category", "match", "similarity", "aspect_log_ratio",
              "upscale", "score", "index_version", "reason", "detail"]
_PAIR_SCHEMA = ("product_id string, category string, image_id string, rank int, slot_id string, "
                "donor_image_id string, donor_product_id string, donor_category string, "
                "match string, similarity double, aspect_log_ratio double, upscale double, "
                "score double, index_version string, reason string, detail string")


@dataclass(frozen=True)
class PairingParams:
    top_k: int = 5
    max_aspect_log_ratio: float = 0.4
    min_similarity: float = 0.5
    max_upscale: float = 2.5
    like_only: bool = True
    diversity: float = 0.05


@dataclass
class LoadedIndex:
    key: str
    label: str                 # "<key>@v<version>"
    index: object              # faiss index
    members: "pd.DataFrame"    # row i = vector i


@dataclass(frozen=True)
class Query:
    product_id: str
    category: str
    image_id: str
    vector: np.ndarray
    aspect: float
    box: list[int]


def _candidates(q: Query, idx: LoadedIndex, params: PairingParams, match: str,
                counts: dict[str, int]) -> list[dict]:
    n = idx.index.ntotal
    if n == 0:
        return []
    k = min(n, max(params.top_k * 20, 100))
    sims, ids = idx.index.search(q.vector[None].astype(np.float32), k)
    qw, qh = q.box[2] - q.box[0], q.box[3] - q.box[1]
    out = []
    for sim, i in zip(sims[0], ids[0]):
        if i < 0:
            continue
        m = idx.members.iloc[int(i)]
        counts["candidates"] += 1
        if m["product_id"] == q.product_id:
            counts["own_product"] += 1
            continue
        alr = float(np.log(q.aspect / m["aspect"]))
        if abs(alr) > params.max_aspect_log_ratio:
            counts["aspect"] += 1
            continue
        box = list(m["box"])
        upscale = max((box[2] - box[0]) / max(qw, 1), (box[3] - box[1]) / max(qh, 1))
        if upscale > params.max_upscale:
            counts["scale"] += 1
            continue
        if sim < params.min_similarity:
            counts["similarity"] += 1
            continue
        score = float(sim) - ASPECT_PENALTY * abs(alr) \
            + params.diversity * jitter(q.product_id, m["slot_id"])
        out.append({"slot_id": m["slot_id"], "donor_image_id": m["image_id"],
                    "donor_product_id": m["product_id"],
                    "donor_category": m["category"],
                    "match": match, "similarity": float(sim), "aspect_log_ratio": alr,
                    "upscale": float(upscale), "score": score, "index_version": idx.label})
    return out


def jitter(product_id: str, slot_id: str) -> float:
    """A stable number in [0, 1) per (product, slot): the same on every worker and re-run."""
    import hashlib

    h = hashlib.blake2b(f"{product_id}\x00{slot_id}".encode("utf-8", "surrogatepass"),
                        digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0 ** 64


def pair(q: Query, indexes: dict[str, LoadedIndex], params: PairingParams) -> list[dict]:
    """Top-k donors of one query, or one row with a reason (rank 0)."""
    base = {"product_id": q.product_id, "category": q.category, "image_id": q.image_id}
    if not indexes:
        return [{**base, "reason": VisionReason.NO_DONOR_IN_CATALOG.value,
                 "detail": "the shape index has no usable donor slot at all"}]
    key = product_slot_category(q.category) or q.category
    if params.like_only and key not in indexes:
        what = (f"no usable {key} slot in the catalog's staged photos"
                if product_slot_category(q.category) else
                f"category {q.category!r} has no detector class: nothing like it to replace")
        return [{**base, "reason": VisionReason.NO_LIKE_SLOT.value, "detail": what}]
    counts = dict.fromkeys(("candidates", "own_product", "aspect", "scale", "similarity"), 0)
    found = []
    if key in indexes:
        found = _candidates(q, indexes[key], params, SAME_CATEGORY, counts)
    if not found and not params.like_only:  # shape alone decides
        for other in sorted(indexes):
            if other != key:
                found += _candidates(q, indexes[other], params, SHAPE_ONLY, counts)
    if not found:
        detail = (f"no acceptable {key} donor: {counts['candidates']} candidates; rejected as "
                  f"own product {counts['own_product']}, aspect {counts['aspect']}, scale "
                  f"{counts['scale']}, similarity {counts['similarity']}")
        return [{**base, "reason": VisionReason.NO_COMPATIBLE_DONOR.value, "detail": detail}]
    # One slot can only appear once even if two indexes held it; best score wins.
    best: dict[str, dict] = {}
    for c in found:
        if c["slot_id"] not in best or c["score"] > best[c["slot_id"]]["score"]:
            best[c["slot_id"]] = c
    ranked = sorted(best.values(), key=lambda c: (-c["score"], c["slot_id"]))[: params.top_k]
    return [{**base, **c, "rank": r + 1} for r, c in enumerate(ranked)]


# ---- Spark wiring --------------------------------------------------------------------------
_CACHE: dict[str, LoadedIndex] = {}


def load_index(key: str, version: int, index_uri: str, members_uri: str) -> LoadedIndex:
    """One load per index version per Python worker."""
    import io

    import pandas as pd

    from adstage.vision.shape_index import from_bytes, read_bytes

    cached = _CACHE.get(index_uri)
    if cached is None:
        members = pd.read_parquet(io.BytesIO(read_bytes(members_uri)))
        members["category"] = members["category"].astype(object).where(
            members["category"].notna(), None)
        cached = LoadedIndex(key, f"{key}@v{version}", from_bytes(read_bytes(index_uri)), members)
        _CACHE[index_uri] = cached
    return cached


def queries(spark: "SparkSession", settings: Settings, ds: str) -> "DataFrame":
    """One row per unstaged product as of `ds`: its best cutout (usable first, primary first)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cut = spark.read.format("delta").load(delta.ensure_table(spark, settings, "product_cutouts"))
    cut = cut.filter(F.col("ds") <= F.lit(ds).cast("date"))
    cut = (cut.withColumn("_latest", F.max("ds").over(Window.partitionBy("image_id")))
           .filter(F.col("ds") == F.col("_latest")).drop("_latest"))
    best = F.row_number().over(Window.partitionBy("product_id").orderBy(
        F.col("ok").desc(), (F.col("image_role") == "primary").desc(),
        F.col("quality").desc_nulls_last(), "image_id"))
    return cut.withColumn("_r", best).filter("_r = 1").drop("_r")


def fingerprinted(q: "DataFrame", params: PairingParams, specs: list[tuple]) -> "DataFrame":
    """``q`` (one query row per product) with its incremental fingerprint. Like for like, a
    product searches its own slot category's index only (``pair``): that index's version is
    its input, so a changed category (a slot blocked, a photo added) re-pairs that category's
    products and carries the others. Otherwise a product finding no donor in its category
    searches every index, and every version is in the salt."""
    from pyspark.sql import functions as F

    cols = list(q.columns)
    if not params.like_only:
        salt = incremental.salt("pair_donors", params=asdict(params), indexes=specs)
        return q.withColumn(incremental.FINGERPRINT, incremental.fingerprint(salt, *cols))
    from adstage.vision.shape_index import slot_category_col

    salt = incremental.salt("pair_donors", params=asdict(params), any_index=bool(specs))
    # The index ``pair`` searches: the product's slot category, else its own category.
    key = F.coalesce(slot_category_col("category"), F.col("category"))
    index = (F.when(F.col("category").isNotNull(), F.coalesce(F.create_map(
        *[F.lit(x) for s in specs for x in (s[0], json.dumps(s))])[key], F.lit("none")))
        if specs else F.lit(None).cast("string"))
    return (q.withColumn("_index", index)
            .withColumn(incremental.FINGERPRINT, incremental.fingerprint(salt, *cols, "_index"))
            .drop("_index"))


def run(spark: "SparkSession", settings: Settings, ds: str) -> dict[str, int]:
    import pandas as pd
    from pyspark.sql import functions as F

    from adstage.vision.shape_index import current_versions

    versions = current_versions(spark, settings, ds)
    specs = [(v["index_key"], int(v["version"]), v["index_uri"], v["members_uri"])
             for v in versions]
    params = PairingParams(settings.pairing_top_k, settings.pairing_max_aspect_log_ratio,
                           settings.pairing_min_similarity, settings.pairing_max_upscale,
                           settings.pairing_like_only, settings.pairing_diversity)

    def run_part(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        indexes = {s[0]: load_index(*s) for s in specs}
        for b in batches:
            rows: list[dict] = []
            for rec in b.to_dict("records"):
                base = {"product_id": rec["product_id"], "category": rec["category"],
                        "image_id": rec["image_id"]}
                if not rec["ok"]:
                    flags = list(rec["flags"]) if rec["flags"] is not None else []
                    rows.append({**base, "reason": VisionReason.NO_USABLE_CUTOUT.value,
                                 "detail": "best cutout is flagged: " + json.dumps(
                                     {"flags": flags, "reason": rec["reason"]})})
                    continue
                q = Query(rec["product_id"], rec["category"], rec["image_id"],
                          np.asarray(rec["shape"], np.float32), float(rec["aspect"]),
                          [int(v) for v in rec["box"]])
                rows.extend(pair(q, indexes, params))
            yield pd.DataFrame([{c: r.get(c) for c in _PAIR_COLS} for r in rows],
                               columns=_PAIR_COLS)

    cols = ["product_id", "category", "image_id", "ok", "flags", "reason", "shape", "aspect", "box"]
    q = fingerprinted(queries(spark, settings, ds).select(*cols), params, specs)
    plan = incremental.plan(spark, settings, "pair_donors", ds, q, "product_id",
                            ("donor_pairs", "pairing_rejects"))
    out = (plan.compute(lambda todo: todo.mapInPandas(run_part, _PAIR_SCHEMA), _PAIR_SCHEMA)
           .withColumn("ds", F.lit(ds).cast("date")).persist())
    try:
        pairs, rejects = plan.write(settings, out, "donor_pairs", "pairing_rejects")
        n_products = pairs.select("product_id").union(rejects.select("product_id")).distinct().count()
        n_paired = pairs.select("product_id").distinct().count()
        reasons = {r["reason"]: r["count"] for r in rejects.groupBy("reason").count().collect()}
        matches = {r["match"]: r["count"] for r in pairs.filter("rank = 1")
                   .groupBy("match").count().collect()}
    finally:
        out.unpersist()
    metrics = {"products": n_products, "paired": n_paired, "rejected": n_products - n_paired,
               "indexes": len(specs), **plan.metrics()}
    metrics.update({f"rejects.{k}": v for k, v in reasons.items()})
    metrics.update({f"top1.{k}": v for k, v in matches.items()})
    log.info("pairing ds=%s: %s", ds, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """CLI of the donor pairing job (`jobs/pair_donors.py`)."""
    from adstage.jobrunner import job_parser, run_spark_job

    args = job_parser("pair_donors", __doc__).parse_args(argv)
    return run_spark_job("pair_donors", args,
                         lambda spark, settings: run(spark, settings, args.ds))
