"""Shape index stage: usable donor slots -> one FAISS index per category, versioned and stored.

Each index key (a category, or ``_unknown`` for slots whose category is not known) gets an
inner-product index over the unit-length shape descriptors (= cosine similarity): exact
``IndexFlatIP`` up to ``shape_index_exact_max`` vectors, ``IndexHNSWFlat`` above (no training
step, good recall, logarithmic search). An index is rebuilt only when its fingerprint - the
descriptor recipe, the index parameters and the sorted (slot_id, ds) of its members - differs
from the previous date's; otherwise the previous version stays current. Files live under
``<warehouse>/shape_index/<key>/v<version>-<fp12>/`` (index bytes + members parquet); each built
version is also logged as an artifact of the job's MLflow run.
"""
from __future__ import annotations

import hashlib
import io
import logging
from typing import TYPE_CHECKING

import numpy as np

from adstage import delta, slot_reviews
from adstage.config import Settings
from adstage.evalsplit import photo_holdout_col
from adstage.vision.donors import PRODUCT_SLOT_CATEGORY

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

UNKNOWN = "_unknown"
HNSW_M, HNSW_EF_SEARCH, HNSW_EF_CONSTRUCTION = 32, 128, 80
MEMBER_COLUMNS = ["slot_id", "image_id", "product_id", "category", "aspect", "fill", "box",
                  "width", "height", "quality"]
_BUILT_SCHEMA = ("index_key string, version int, fingerprint string, n_vectors long, dim int, "
                 "index_type string, shape_version string, index_uri string, "
                 "members_uri string, built boolean")


# ---- pure: build, serialise, load ---------------------------------------------------------
def index_type_for(n: int, exact_max: int) -> str:
    return "flat_ip" if n <= exact_max else "hnsw_ip"


def build(vectors: np.ndarray, index_type: str):
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if index_type == "flat_ip":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw_ip":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        raise ValueError(f"unknown index type {index_type!r}")
    index.add(vectors)
    return index


def to_bytes(index) -> bytes:
    import faiss

    return faiss.serialize_index(index).tobytes()


def from_bytes(data: bytes):
    import faiss

    index = faiss.deserialize_index(np.frombuffer(data, np.uint8))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def fingerprint(members: list[tuple[str, str]], shape_version: str, index_type: str) -> str:
    h = hashlib.sha256(f"{shape_version}|{index_type}|{HNSW_M}".encode())
    for slot_id, ds in sorted(members):
        h.update(f"\n{slot_id}@{ds}".encode())
    return h.hexdigest()


# ---- storage (any pyarrow file system: local path or object store) ------------------------
def _fs(uri: str):
    import pyarrow.fs as pafs

    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), uri


def write_bytes(uri: str, data: bytes) -> None:
    fs, path = _fs(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(data)


def read_bytes(uri: str) -> bytes:
    fs, path = _fs(uri)
    with fs.open_input_stream(path) as f:
        return f.read()


def slot_category_col(category: str) -> "Column":
    """``donors.product_slot_category`` as a Spark column: the slot category (the index key)
    a product or slot of feed category ``category`` belongs to; null outside the taxonomy."""
    from pyspark.sql import functions as F

    mapping = F.create_map(*[F.lit(x) for kv in sorted(PRODUCT_SLOT_CATEGORY.items())
                             for x in kv])
    return mapping[F.lower(F.trim(F.col(category)))]


def current_slots(spark: "SparkSession", settings: Settings, ds: str) -> "DataFrame":
    """Usable slots as of `ds`: each image's rows from its latest date, with a descriptor,
    except the photos held apart for evaluation (``adstage.evalsplit``) and the slots a person
    blocked (``adstage.slot_reviews``); indexed under their slot category
    (``adstage.vision.donors.PRODUCT_SLOT_CATEGORY``: couch -> sofa, ...)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    slots = spark.read.format("delta").load(delta.ensure_table(spark, settings, "donor_slots"))
    slots = slots.filter(F.col("ds") <= F.lit(ds).cast("date"))
    latest = F.max("ds").over(Window.partitionBy("image_id"))
    # A lifestyle photo listed under several products is one photo: its slots are indexed
    # once (keyed by content, the store URI), not once per product that lists it.
    once = F.row_number().over(Window.partitionBy("image_uri", "slot_index").orderBy("image_id"))
    return (slots.withColumn("_latest", latest).filter(F.col("ds") == F.col("_latest"))
            .drop("_latest").filter(F.col("usable") & F.col("shape").isNotNull())
            .filter(~photo_holdout_col("image_uri", settings.eval_holdout_share))
            .withColumn("_once", once).filter("_once = 1").drop("_once")
            .join(slot_reviews.blocked(spark, settings, ds), ["slot_id", "mask_uri"], "left_anti")
            .withColumn("index_key",
                        F.coalesce(slot_category_col("category"), F.lit(UNKNOWN))))


def current_versions(spark: "SparkSession", settings: Settings, ds: str,
                     strictly_before: bool = False) -> list[dict]:
    """The highest version of every index key with ds <= (or <) the given date."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    t = spark.read.format("delta").load(
        delta.ensure_table(spark, settings, "shape_index_versions"))
    d = F.lit(ds).cast("date")
    t = t.filter(F.col("ds") < d if strictly_before else F.col("ds") <= d)
    top = F.row_number().over(Window.partitionBy("index_key").orderBy(F.col("version").desc()))
    return [r.asDict() for r in t.withColumn("_r", top).filter("_r = 1").drop("_r").collect()]


def run(spark: "SparkSession", settings: Settings, ds: str) -> dict[str, int]:
    """Rebuild the indexes whose slots changed as of `ds`; idempotent for that date."""
    import pandas as pd
    from pyspark.sql import functions as F

    previous = {r["index_key"]: r
                for r in current_versions(spark, settings, ds, strictly_before=True)}
    root = f"{settings.warehouse_uri}/shape_index"
    exact_max = settings.shape_index_exact_max

    def build_group(pdf: pd.DataFrame) -> pd.DataFrame:
        key = str(pdf["index_key"].iloc[0])
        pdf = pdf.sort_values("slot_id").reset_index(drop=True)
        itype = index_type_for(len(pdf), exact_max)
        shape_version = str(pdf["shape_version"].iloc[0])
        fp = fingerprint(list(zip(pdf["slot_id"], pdf["ds"].astype(str))), shape_version, itype)
        prev = previous.get(key)
        if prev is not None and prev["fingerprint"] == fp:  # unchanged: the old version stays
            return pd.DataFrame([{**{c: prev[c] for c in _cols() if c != "built"},
                                  "built": False}], columns=_cols())
        row = {"index_key": key, "fingerprint": fp, "n_vectors": len(pdf),
               "index_type": itype, "shape_version": shape_version, "built": True}
        version = int(prev["version"]) + 1 if prev is not None else 1
        vectors = np.stack([np.asarray(v, np.float32) for v in pdf["shape"]])
        folder = f"{root}/{key}/v{version}-{fp[:12]}"
        write_bytes(f"{folder}/index.faiss", to_bytes(build(vectors, itype)))
        members = pdf[[c for c in MEMBER_COLUMNS]].copy()
        members["box"] = members["box"].apply(lambda b: [int(v) for v in b])
        buf = io.BytesIO()
        members.to_parquet(buf, index=False)
        write_bytes(f"{folder}/members.parquet", buf.getvalue())
        row.update(version=version, dim=int(vectors.shape[1]), index_uri=f"{folder}/index.faiss",
                   members_uri=f"{folder}/members.parquet")
        return pd.DataFrame([row], columns=_cols())

    slots = current_slots(spark, settings, ds).select("index_key", "ds", *MEMBER_COLUMNS,
                                                      "shape", "shape_version")
    results = slots.groupBy("index_key").applyInPandas(build_group, _BUILT_SCHEMA).collect()
    built = [r.asDict() for r in results if r["built"]]
    df = spark.createDataFrame(built, _BUILT_SCHEMA) if built else \
        spark.createDataFrame([], _BUILT_SCHEMA)
    delta.replace_date(spark, df.withColumn("ds", F.lit(ds).cast("date")), settings,
                       "shape_index_versions", ds)
    _log_artifacts(built)
    metrics = {"index_keys": len(results), "indexes_built": len(built),
               "indexes_unchanged": len(results) - len(built),
               "vectors": int(sum(r["n_vectors"] for r in results))}
    log.info("shape index ds=%s: %s; built %s", ds, metrics,
             [f"{r['index_key']}@v{r['version']}" for r in built])
    return metrics


def _cols() -> list[str]:
    return [c.split()[0] for c in _BUILT_SCHEMA.split(", ")]


def _log_artifacts(built: list[dict]) -> None:
    """Each built index also becomes an artifact of the job's MLflow run (when there is one)."""
    import tempfile
    from pathlib import Path

    import mlflow

    if mlflow.active_run() is None or not built:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for r in built:
            folder = Path(tmp) / r["index_key"] / f"v{r['version']}"
            folder.mkdir(parents=True)
            (folder / "index.faiss").write_bytes(read_bytes(r["index_uri"]))
            (folder / "members.parquet").write_bytes(read_bytes(r["members_uri"]))
        mlflow.log_artifacts(tmp, artifact_path="shape_index")


def main(argv: list[str] | None = None) -> int:
    """CLI of the shape index job (`jobs/shape_index.py`)."""
    from adstage.jobrunner import job_parser, run_spark_job

    args = job_parser("shape_index", __doc__).parse_args(argv)
    return run_spark_job("shape_index", args,
                         lambda spark, settings: run(spark, settings, args.ds))
