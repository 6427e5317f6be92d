"""Ingest stage: a catalog feed of one logical date → `catalog_images` + `ingest_rejects`.

Extract (read the feed as raw JSON records), transform (validate rows, drop duplicates, fetch,
decode and store images — pure functions applied per partition), load (MERGE accepted images,
rewrite the date's rejects). Every feed row ends up accepted or rejected, and every image of an
accepted row likewise: nothing is dropped silently, and re-running a date changes nothing.
"""
from __future__ import annotations

import json
import logging
import os
import traceback
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from adstage import delta, feed, fetch, imaging, redact
from adstage.config import Settings
from adstage.errors import EmptyFeed, FeedFormatError, FeedNotFound
from adstage.imagestore import ImageStore
from adstage.reasons import Reason, Rejected
from adstage.tables import ddl, record_schema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

FEED_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
                ".parquet": "parquet", ".pq": "parquet"}

# Intermediate records between the Spark steps: (name, contract type) pairs, so the Spark DDL and
# the Arrow schema of each step come from one list.
_ROW_COLUMNS = [("record_index", "long"), ("raw", "string"), ("product_id", "string"),
                ("title", "string"), ("category", "string"), ("feed_date", "string"),
                ("images_json", "string"), ("content_key", "string"), ("reason", "string"),
                ("detail", "string")]
_IMAGE_COLUMNS = [("record_index", "long"), ("raw", "string"), ("product_id", "string"),
                  ("title", "string"), ("category", "string"), ("feed_date", "string"),
                  ("image_role", "string"), ("source_uri", "string"), ("image_id", "string"),
                  ("content_sha256", "string"), ("image_uri", "string"), ("width", "int"),
                  ("height", "int"), ("source_format", "string"), ("source_mode", "string"),
                  ("source_orientation", "int"), ("source_bytes", "long"), ("reason", "string"),
                  ("detail", "string")]
_ROW_FIELDS = [name for name, _ in _ROW_COLUMNS]
_IMAGE_RESULT_FIELDS = ["content_sha256", "image_uri", "width", "height", "source_format",
                        "source_mode", "source_orientation", "source_bytes", "reason", "detail"]


class IngestBalanceError(AssertionError):
    """The tables as written do not account for every feed row and image exactly once."""


@dataclass(frozen=True)
class IngestResult:
    ds: str
    feed_rows: int
    rows_accepted: int
    rows_rejected: int
    images_in: int
    images_accepted: int
    images_rejected: int
    reasons: dict[str, int]
    inserted: int
    updated: int
    seen_again: int = 0   # catalog rows whose content was unchanged: only last_seen_ds moved

    def check_balance(self) -> None:
        """rows in = accepted + rejected, for rows and for images; a bug if not. `ingest.run`
        fills the accepted and rejected figures from the tables as written (`written_counts`),
        so a row that landed in both tables, or in neither, fails the run."""
        if self.feed_rows != self.rows_accepted + self.rows_rejected or \
                self.images_in != self.images_accepted + self.images_rejected:
            raise IngestBalanceError(
                f"ingest ds={self.ds}: the written tables do not balance: {self.feed_rows} feed "
                f"rows != {self.rows_accepted} accepted + {self.rows_rejected} rejected, or "
                f"{self.images_in} images != {self.images_accepted} in catalog_images + "
                f"{self.images_rejected} rejected")


# ---- pure, per-record transforms (no Spark) ------------------------------------------------
def validate_row(index: int, raw: str, *, feed_dir: str, categories: tuple[str, ...]) -> dict:
    """One feed record → a row dict with either its parsed fields or its reject reason."""
    out = dict.fromkeys(_ROW_FIELDS)
    # What the tables keep of the row: its secrets masked (a signed or credentialed URL).
    out.update(record_index=index, raw=_printable(redact.text(raw), 1_000_000))
    try:
        rec = feed.parse_record(raw, feed_dir=feed_dir, categories=categories)
        out.update(product_id=rec.product_id, title=rec.title, category=rec.category,
                   feed_date=rec.feed_date, content_key=rec.content_key(),
                   # [shown, role, fetched]: the URI as the tables show it (secrets masked,
                   # which also names the image: a signed URL's new signature each night is
                   # the same image) and the URI the fetch uses.
                   images_json=json.dumps([[redact.uri(i.uri), i.role, i.uri]
                                           for i in rec.images]))
    except Rejected as rej:
        out.update(reason=rej.reason.value, detail=rej.detail)
    except Exception as exc:  # a bug must cost one row, never the run; the trace is kept
        log.exception("unexpected error on feed row %d", index)
        out.update(reason=Reason.INTERNAL_ERROR.value,
                   detail=traceback.format_exception_only(type(exc), exc)[-1].strip())
    if out["reason"] is not None:
        for key in ("product_id", "title", "category", "feed_date", "content_key", "images_json"):
            out[key] = None
        out.update(product_id=_readable_id(raw),
                   detail=_printable(redact.text(out["detail"]), 1000))
    return out


def _printable(text: str | None, limit: int) -> str | None:
    """`text` as valid UTF-8 (a lone surrogate written as its escape, never raised on by
    Arrow's encoder) and at most `limit` characters."""
    if text is None:
        return None
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def _readable_id(raw: str) -> str | None:
    """The product id of a refused row when it can be read at all: rejects are searched by it.
    Text or an integer only (not NaN, not a nested value), as valid UTF-8."""
    try:
        value = json.loads(raw).get("product_id")
    except Exception:  # not JSON, not an object, nested too deep...
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value in ("",):
        return None
    if isinstance(value, int) and value.bit_length() > 1000:
        return None
    return _printable(str(value), 256)


def process_image(uri: str, settings: Settings, store: ImageStore,
                  known: tuple[str, str] | None = None) -> dict:
    """Fetch, decode, normalise and store one image; a dict of catalog fields or of the reason.

    `known`: (content_sha256, image_uri) of this image in the catalog. When the bytes still
    hash to it and the normalised PNG is in the store, only the header and today's limits are
    checked: the same bytes decode to the same pixels, so decoding and re-encoding them (most
    of ingest's work on an unchanged catalog) would store the same file again."""
    limits = {"max_pixels": settings.max_pixels, "min_side": settings.min_side,
              "max_side": settings.max_side}
    try:
        data = fetch.read_image_bytes(
            uri, allowed_roots=settings.allowed_roots, http_allowed_hosts=settings.http_allowed_hosts,
            http_allowed_networks=settings.http_allowed_networks,
            timeout_s=settings.fetch_timeout_s, max_bytes=settings.max_image_bytes)
        info = imaging.check(data, **limits) if known else None
        if info is not None and info.sha256 == known[0] and store.exists(known[1]):
            stored = known[1]
        else:
            pixels, info = imaging.decode(data, **limits)
            stored = store.put(info.sha256, imaging.encode_png(pixels))
    except Rejected as rej:
        return {"reason": rej.reason.value, "detail": redact.text(rej.detail)}
    except Exception as exc:  # a bug must cost one image, never the run; the trace is kept
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        log.exception("unexpected error on %s", uri)
        return {"reason": Reason.INTERNAL_ERROR.value, "detail": redact.text(last[:500])}
    return {"content_sha256": info.sha256, "image_uri": stored, "width": info.width,
            "height": info.height, "source_format": info.format, "source_mode": info.mode,
            "source_orientation": info.orientation, "source_bytes": len(data)}


# ---- Spark wiring --------------------------------------------------------------------------
def feed_format(feed_uri: str, declared: str | None = None) -> str:
    """The feed's format: as declared (--format), else from the extension of the URI's path
    (a signed URL's query string does not hide it), else, for a local file, from its first
    bytes (Parquet's magic, a JSON object). Unknown: a FeedFormatError naming --format."""
    formats = sorted(set(FEED_FORMATS.values()))
    if declared:
        if declared not in formats:
            raise FeedFormatError(f"unknown feed format {declared!r}; one of {', '.join(formats)}")
        return declared
    path = urllib.parse.urlsplit(feed_uri).path if "://" in feed_uri else feed_uri
    ext = os.path.splitext(path.lower())[1]
    if ext in FEED_FORMATS:
        return FEED_FORMATS[ext]
    sniffed = _sniff_format(feed_uri)
    if sniffed:
        return sniffed
    raise FeedFormatError(f"cannot tell the format of {redact.text(feed_uri)}; pass --format "
                          f"({', '.join(formats)})")


def _sniff_format(feed_uri: str) -> str | None:
    path = feed_uri[len("file://"):] if feed_uri.startswith("file://") else feed_uri
    if "://" in path or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if text.startswith(b"{") else None


def read_feed(spark: "SparkSession", feed_uri: str, fmt: str) -> "DataFrame":
    """Extract: (record_index, raw JSON) in file order, whatever the format."""
    from pyspark.sql import functions as F

    if fmt == "jsonl":
        df = spark.read.text(feed_uri).select(F.col("value").alias("raw"))
    elif fmt == "csv":
        df = spark.read.csv(feed_uri, header=True, multiLine=True, escape='"', mode="PERMISSIVE")
        df = df.select(F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])).alias("raw"))
    elif fmt == "parquet":
        df = spark.read.parquet(feed_uri)
        df = df.select(F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])).alias("raw"))
    else:
        raise FeedFormatError(f"unknown feed format {fmt!r}")
    # zipWithIndex keeps file order, so record_index is the row's position (1-based) in the feed.
    indexed = df.rdd.zipWithIndex().map(lambda p: (p[1] + 1, p[0]["raw"]))
    out = spark.createDataFrame(indexed, "record_index long, raw string")
    return out.filter(F.length(F.trim("raw")) > 0)  # blank lines are not rows


def validate_rows(df: "DataFrame", settings: Settings, feed_dir: str) -> "DataFrame":
    """Transform: parse every row, then reject duplicate product ids with a window."""
    import pyarrow as pa
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    categories = settings.categories
    schema = record_schema(_ROW_COLUMNS)

    def parse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            rows = [validate_row(r["record_index"], r["raw"], feed_dir=feed_dir,
                                 categories=categories) for r in batch.to_pylist()]
            yield pa.RecordBatch.from_pylist(rows, schema=schema)

    parsed = df.mapInArrow(parse, ddl(_ROW_COLUMNS))
    by_id = Window.partitionBy("product_id")
    first = Window.partitionBy("product_id").orderBy("record_index")
    valid = F.col("reason").isNull()
    n_versions = F.size(F.collect_set("content_key").over(by_id))
    return (parsed
            .withColumn("_versions", F.when(valid, n_versions))
            .withColumn("_rank", F.when(valid, F.row_number().over(first)))
            .withColumn("reason", F.when(valid & (F.col("_versions") > 1),
                                         F.lit(Reason.CONFLICTING_DUPLICATE.value))
                        .when(valid & (F.col("_rank") > 1), F.lit(Reason.DUPLICATE_ROW.value))
                        .otherwise(F.col("reason")))
            .withColumn("detail", F.when(F.col("reason") == Reason.CONFLICTING_DUPLICATE.value,
                                         F.lit("product_id appears in rows with different content; "
                                               "all of them are held back"))
                        .when(F.col("reason") == Reason.DUPLICATE_ROW.value,
                              F.lit("identical to an earlier row of the feed"))
                        .otherwise(F.col("detail")))
            .drop("_versions", "_rank"))


def spark_image_id(product_id: str, role: str, uri: str) -> "Column":
    """`feed.image_id` as a Spark expression, to look an image up in the catalog before its
    task runs (the id written stays feed.image_id's: a mismatch would cost a decode, never a
    wrong row; tests/test_ingest.py holds the two equal)."""
    from pyspark.sql import functions as F

    return F.substring(F.sha2(F.concat_ws("\x00", product_id, role, uri), 256), 1, 32)


def _with_known(images: "DataFrame", settings: Settings) -> "DataFrame":
    """`_known_sha256` / `_known_uri`: the catalog's content hash and stored PNG of each
    image, when it has the image (null on a first sight, or with incremental=false)."""
    from pyspark.sql import functions as F

    spark = images.sparkSession
    if not settings.incremental:
        return images.withColumn("_known_sha256", F.lit(None).cast("string")).withColumn(
            "_known_uri", F.lit(None).cast("string"))
    known = (spark.read.format("delta").load(delta.ensure_table(spark, settings, "catalog_images"))
             .select(F.col("image_id").alias("_id"),
                     F.col("content_sha256").alias("_known_sha256"),
                     F.col("image_uri").alias("_known_uri")))
    key = spark_image_id("product_id", "image_role", "source_uri")
    return images.withColumn("_id", key).join(known, "_id", "left").drop("_id")


def process_images(rows: "DataFrame", settings: Settings) -> "DataFrame":
    """Transform: one row per image of every accepted feed row, fetched and stored."""
    import pyarrow as pa
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    images = (rows.filter(F.col("reason").isNull())
              .select("record_index", "raw", "product_id", "title", "category", "feed_date",
                      F.posexplode(F.from_json("images_json", "array<array<string>>"))
                      .alias("pos", "img"))
              .select("*", F.col("img")[0].alias("source_uri"), F.col("img")[1].alias("image_role"),
                      F.col("img")[2].alias("_fetch_uri"))
              .drop("img"))
    # The same image listed twice for one product is one image; the repeats are reported.
    repeat = F.row_number().over(Window.partitionBy("product_id", "image_role", "source_uri")
                                 .orderBy("pos")) > 1
    images = images.withColumn("_repeat", repeat).drop("pos")
    images = _with_known(images, settings)
    # Spread the I/O-bound fetches evenly over tasks instead of following the feed's layout.
    parallelism = max(rows.sparkSession.sparkContext.defaultParallelism, 1)
    images = images.repartition(parallelism * 2, "source_uri")
    store_root = settings.image_store_uri
    schema = record_schema(_IMAGE_COLUMNS)

    def fetch_all(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        store = ImageStore(store_root)
        for batch in batches:
            out = []
            for rec in batch.to_pylist():
                rec["image_id"] = feed.image_id(rec["product_id"], rec["image_role"],
                                                rec["source_uri"])
                known = rec.pop("_known_sha256"), rec.pop("_known_uri")
                fetch_uri = rec.pop("_fetch_uri") or rec["source_uri"]
                if rec.pop("_repeat"):
                    result = {"reason": Reason.DUPLICATE_ROW.value,
                              "detail": "image listed more than once for this product and role"}
                else:
                    result = process_image(fetch_uri, settings, store,
                                           known if known[0] else None)
                rec.update({k: result.get(k) for k in _IMAGE_RESULT_FIELDS})
                out.append(rec)
            yield pa.RecordBatch.from_pylist(out, schema=schema)

    return images.mapInArrow(fetch_all, ddl(_IMAGE_COLUMNS))


def check_feed(settings: Settings, ds: str, feed_uri: str,
               fmt: str | None) -> tuple[str, str, bool]:
    """Before Spark: the feed's format, the folder its relative image paths are resolved
    against, and whether it is a local file of 0 bytes. A missing feed, an unknown format
    and (unless `allow_empty_feed`) an empty feed are the run's failure, with one line."""
    fmt = feed_format(feed_uri, fmt)
    feed_path = feed_uri[len("file://"):] if feed_uri.startswith("file://") else feed_uri
    feed_dir = os.path.dirname(os.path.abspath(feed_path))
    zero_bytes = False
    if "://" not in feed_path:
        if not os.path.isfile(feed_path):
            # A missing feed is the run's failure, not a row to reject: say so before Spark.
            raise FeedNotFound(f"feed for ds={ds} not found: {redact.text(feed_uri)}")
        zero_bytes = os.path.getsize(feed_path) == 0
        if zero_bytes:
            _refuse_empty(settings, ds, feed_uri, "0 bytes")
    return fmt, feed_dir, zero_bytes


def _refuse_empty(settings: Settings, ds: str, feed_uri: str, what: str) -> None:
    """An empty feed would replace the date's rejects with nothing and report success: a
    truncated upload looks exactly like that. Refused unless an empty night is meant."""
    if settings.allow_empty_feed:
        log.warning("ingest ds=%s: the feed has %s; allow_empty_feed=true, so the date is "
                    "written empty", ds, what)
        return
    raise EmptyFeed(f"feed for ds={ds} has {what}: {redact.text(feed_uri)}; nothing was "
                    "changed (if an empty night is meant: --conf allow_empty_feed=true)")


class _Staging:
    """Parquet copies of one run's intermediate results, under the warehouse.

    The image fetch is the one step of ingest that is not a pure function of the feed (a
    server may answer differently the second time), so its results are written once and every
    later step (the counts, the MERGE, the rejects) reads those files. A cached DataFrame is
    not enough: the MERGE into catalog_images invalidates every cached plan that read that
    table, and the fetch would run again for the rejects. Removed when the run ends; a killed
    driver's leftovers are removed by the next run of the same date."""

    def __init__(self, spark: "SparkSession", settings: Settings, ds: str):
        import uuid

        self.spark = spark
        self.date_root = f"{settings.warehouse_uri}/_staging/ingest/ds={ds}"
        self._delete(self.date_root)  # what a killed run of this date left behind
        self.root = f"{self.date_root}/{uuid.uuid4().hex}"

    def keep(self, df: "DataFrame", name: str) -> "DataFrame":
        """Compute `df` once, write it, and return a DataFrame that reads the written files."""
        uri = f"{self.root}/{name}"
        df.write.mode("overwrite").parquet(uri)
        return self.spark.read.parquet(uri)

    def drop(self) -> None:
        self._delete(self.date_root)

    def _delete(self, uri: str) -> None:
        jvm = self.spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(uri)
        try:
            path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)
        except Exception as exc:  # never worth failing a run over
            log.warning("could not remove ingest staging %s: %s", uri, str(exc).splitlines()[0])


def written_counts(spark: "SparkSession", settings: Settings, ds: str,
                   images: "DataFrame") -> dict[str, object]:
    """What the tables hold for this run, read back after the writes: the date's rejects by
    level and reason, and how many of the run's accepted images (`images`, the staged fetch
    results) have their row in catalog_images."""
    from pyspark.sql import functions as F

    rejects = (spark.read.format("delta").load(settings.table_uri("ingest_rejects"))
               .filter(F.col("ds") == F.lit(ds).cast("date"))
               .groupBy("level", "reason").count().collect())
    accepted_ids = images.filter(F.col("reason").isNull()).select("image_id")
    in_catalog = (spark.read.format("delta").load(settings.table_uri("catalog_images"))
                  .select("image_id").join(accepted_ids, "image_id", "left_semi").count())
    by_level = {"row": 0, "image": 0}
    reasons: dict[str, int] = {}
    for r in rejects:
        by_level[r["level"]] = by_level.get(r["level"], 0) + r["count"]
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + r["count"]
    return {"rows_rejected": by_level["row"], "images_rejected": by_level["image"],
            "images_accepted": in_catalog, "reasons": reasons}


def run(spark: "SparkSession", settings: Settings, ds: str, feed_uri: str,
        fmt: str | None = None) -> IngestResult:
    """Ingest one feed for logical date `ds`; idempotent for that date.

    Every image is fetched exactly once (`_Staging`), and the balance is checked on what the
    tables hold afterwards: feed rows = rows accepted + the date's row rejects, images of
    accepted rows = their rows in catalog_images + the date's image rejects."""
    from pyspark.sql import functions as F

    fmt, feed_dir, zero_bytes = check_feed(settings, ds, feed_uri, fmt)
    log.info("ingest ds=%s feed=%s (%s)", ds, feed_uri, fmt)

    staging = _Staging(spark, settings, ds)
    try:
        raw = (spark.createDataFrame([], "record_index long, raw string") if zero_bytes
               else read_feed(spark, feed_uri, fmt))
        rows = staging.keep(validate_rows(raw, settings, feed_dir), "rows")
        if not zero_bytes and rows.isEmpty():
            _refuse_empty(settings, ds, feed_uri, "no rows")
        # The one fetch of every image: written before anything reads or changes the tables.
        images = staging.keep(process_images(rows, settings), "images")
        row_counts = {r["reason"]: r["count"] for r in rows.groupBy("reason").count().collect()}
        images_in = images.count()
        log.info("validated %d feed rows, fetched %d images", sum(row_counts.values()), images_in)

        lit_ds = F.lit(ds).cast("date")
        accepted = (images.filter(F.col("reason").isNull())
                    .withColumn("feed_date", F.to_date("feed_date"))
                    .withColumn("ds", lit_ds).withColumn("first_seen_ds", lit_ds)
                    .withColumn("last_seen_ds", lit_ds))
        # last_seen_ds moves forward on every accepted image, changed or not: a row whose
        # product left the feed (or whose URI changed) keeps an older one, not current.
        merged = delta.merge_upsert(spark, accepted, settings, "catalog_images",
                                    keep_on_insert=("first_seen_ds",), seen=("last_seen_ds",))
        row_rejects = (rows.filter(F.col("reason").isNotNull())
                       .select("record_index", "raw", "product_id", "reason", "detail",
                               F.lit(None).cast("string").alias("image_uri"),
                               F.lit(None).cast("string").alias("image_role"),
                               F.lit("row").alias("level")))
        image_rejects = (images.filter(F.col("reason").isNotNull())
                         .select("record_index", "raw", "product_id", "reason", "detail",
                                 F.col("source_uri").alias("image_uri"), "image_role",
                                 F.lit("image").alias("level")))
        rejects = (row_rejects.unionByName(image_rejects)
                   .withColumn("ds", lit_ds).withColumn("feed_uri", F.lit(redact.text(feed_uri)))
                   .withColumnRenamed("raw", "raw_record"))
        delta.replace_date(spark, rejects, settings, "ingest_rejects", ds)
        written = written_counts(spark, settings, ds, images)
    finally:
        staging.drop()

    result = IngestResult(
        ds=ds, feed_rows=sum(row_counts.values()), rows_accepted=row_counts.get(None, 0),
        rows_rejected=written["rows_rejected"], images_in=images_in,
        images_accepted=written["images_accepted"], images_rejected=written["images_rejected"],
        reasons=written["reasons"], inserted=merged["inserted"], updated=merged["updated"],
        seen_again=merged["seen"])
    result.check_balance()
    log.info("ingest ds=%s: %d/%d rows accepted, %d/%d images accepted, %d inserted, "
             "%d updated, %d seen again unchanged, rejects by reason %s (counted in the "
             "written tables)", ds, result.rows_accepted, result.feed_rows,
             result.images_accepted, result.images_in, result.inserted, result.updated,
             result.seen_again, result.reasons or "{}")
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI of the ingest job (`jobs/ingest.py` and `adstage ingest` both land here)."""
    from dataclasses import asdict

    from adstage.jobrunner import job_parser, run_spark_job

    parser = job_parser("ingest", __doc__)
    parser.add_argument("--feed", default=None,
                        help="feed file: CSV, JSONL or Parquet (default: Settings.feed_uri)")
    parser.add_argument("--format", choices=sorted(set(FEED_FORMATS.values())), default=None,
                        help="feed format (default: from the extension of the path, also in a "
                             "signed URL; else from the first bytes of a local file)")
    args = parser.parse_args(argv)

    def feed_uri(settings: Settings) -> str:
        if args.feed:
            return args.feed
        try:
            return settings.feed_for(args.ds)
        except ValueError as exc:
            raise FeedNotFound(str(exc)) from None

    def body(spark, settings):
        result = run(spark, settings, args.ds, feed_uri(settings), args.format)
        metrics = {k: v for k, v in asdict(result).items() if isinstance(v, int)}
        metrics.update({f"rejects.{reason}": n for reason, n in result.reasons.items()})
        return metrics

    # The feed is looked at before Spark and MLflow start: missing, unknown format or 0 bytes
    # fail the job in a second, with one line.
    return run_spark_job("ingest", args, body, params={"feed": args.feed, "format": args.format},
                         precheck=lambda s: check_feed(s, args.ds, feed_uri(s), args.format))
