"""Ingest with real Spark and Delta: exact accepted/rejected counts and reasons, idempotent
re-runs, the same answer from every feed format, and tables readable without Spark."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from adstage import ingest
from adstage.imagestore import ImageStore
from adstage.report import describe, read_table
from adstage.tables import spec
from conftest import make_settings
from feeds import mixed_feed

DS = "2026-11-24"


@pytest.fixture
def mixed(tmp_path):
    feed, expected = mixed_feed(tmp_path)
    settings = make_settings(tmp_path, allowed_roots=str(tmp_path / "catalog"))
    return settings, feed, expected


def snapshot(settings, name):
    df = read_table(settings, name)
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def test_mixed_feed_counts_and_reasons(spark, mixed):
    settings, feed, expected = mixed
    result = ingest.run(spark, settings, DS, str(feed))

    for key in ("feed_rows", "rows_accepted", "rows_rejected", "images_in", "images_accepted",
                "images_rejected"):
        assert getattr(result, key) == expected[key], key
    rejects = read_table(settings, "ingest_rejects")
    got = sorted(((r.level, None if pd.isna(r.product_id) else r.product_id, r.reason)
                  for r in rejects.itertuples()), key=str)
    assert got == expected["rejects"]
    # Every reject keeps its original record and a readable detail.
    assert rejects["raw_record"].str.len().gt(0).all()
    assert rejects["detail"].str.len().gt(0).all()
    assert set(rejects["ds"].astype(str)) == {DS}

    catalog = read_table(settings, "catalog_images")
    assert sorted(zip(catalog.product_id, catalog.image_role)) == expected["catalog"]
    assert catalog["image_id"].is_unique
    store = ImageStore(settings.image_store_uri)
    for r in catalog.itertuples():
        assert store.exists(r.image_uri) and r.image_uri.endswith(f"{r.content_sha256}.png")
        assert (r.width, r.height) == (64, 48)
    assert result.inserted == 5 and result.updated == 0


def test_rerun_same_date_changes_nothing(spark, mixed):
    settings, feed, _ = mixed
    ingest.run(spark, settings, DS, str(feed))
    before = {t: snapshot(settings, t) for t in ("catalog_images", "ingest_rejects")}
    again = ingest.run(spark, settings, DS, str(feed))
    assert again.inserted == 0 and again.updated == 0
    for table, df in before.items():
        pd.testing.assert_frame_equal(snapshot(settings, table), df)


def test_newer_date_updates_changed_rows_only(spark, mixed, tmp_path):
    settings, feed, _ = mixed
    ingest.run(spark, settings, DS, str(feed))
    lines = feed.read_text().splitlines()
    lines[1] = lines[1].replace("Blue sofa", "Blue sofa, velvet")  # p2 retitled
    feed.write_text("\n".join(lines) + "\n")
    result = ingest.run(spark, settings, "2026-11-25", str(feed))
    assert (result.inserted, result.updated) == (0, 1)
    catalog = read_table(settings, "catalog_images").set_index("product_id")
    assert catalog.loc["p2", "title"] == "Blue sofa, velvet"
    assert str(catalog.loc["p2", "ds"]) == "2026-11-25"
    assert str(catalog.loc["p2", "first_seen_ds"]) == DS
    # A late backfill of the older date must not overwrite the newer row.
    feed.write_text("\n".join(l.replace("Blue sofa, velvet", "Blue sofa") for l in lines) + "\n")
    ingest.run(spark, settings, DS, str(feed))
    assert read_table(settings, "catalog_images").set_index("product_id").loc["p2", "title"] \
        == "Blue sofa, velvet"
    # Each date keeps its own rejects partition.
    assert sorted(read_table(settings, "ingest_rejects")["ds"].astype(str).unique()) == \
        [DS, "2026-11-25"]


def test_csv_and_parquet_feeds_give_the_same_catalog(spark, tmp_path):
    feed, _ = mixed_feed(tmp_path)
    rows = [json.loads(l) for l in feed.read_text().splitlines() if l.endswith("}")]
    for r in rows:  # CSV carries the image list as JSON text
        r["extra_images"] = json.dumps(r.get("extra_images") or [])
    csv = feed.with_suffix(".csv")
    pd.DataFrame(rows).to_csv(csv, index=False)
    parquet = feed.with_suffix(".parquet")
    for r in rows:
        r["extra_images"] = json.loads(r["extra_images"])
    extra = pa.list_(pa.struct([("uri", pa.string()), ("role", pa.string())]))
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([
        ("product_id", pa.string()), ("title", pa.string()), ("category", pa.string()),
        ("image_uri", pa.string()), ("feed_date", pa.string()), ("extra_images", extra)])),
        parquet)

    catalogs = []
    for i, path in enumerate((feed, csv, parquet)):
        settings = make_settings(tmp_path / f"wh{i}", allowed_roots=str(tmp_path / "catalog"))
        result = ingest.run(spark, settings, DS, str(path))
        assert result.rows_accepted == 7, path.suffix
        cat = read_table(settings, "catalog_images")
        catalogs.append(sorted(zip(cat.image_id, cat.content_sha256, cat.title)))
    assert catalogs[0] == catalogs[1] == catalogs[2]


def test_tables_follow_contract_and_read_without_spark(spark, mixed):
    settings, feed, _ = mixed
    ingest.run(spark, settings, DS, str(feed))
    for name in ("catalog_images", "ingest_rejects"):
        table = DeltaTable(settings.table_uri(name))
        assert table.schema().to_arrow().names == spec(name).names
        assert table.metadata().partition_columns == list(spec(name).partition_by)
        assert len(table.to_pandas()) > 0   # delta-rs' pandas reader accepts the table features
    listing = {r["table"]: r for r in describe(settings)}
    assert listing["catalog_images"]["rows"] == 5
    assert listing["ingest_rejects"]["latest_ds"] == DS


def test_missing_feed_fails_the_run_clearly(spark, settings, tmp_path):
    with pytest.raises(FileNotFoundError, match="ds=2026-11-24"):
        ingest.run(spark, settings, DS, str(tmp_path / "nope.jsonl"))


def test_feed_format_is_explicit_when_unknown():
    with pytest.raises(ValueError, match="--format"):
        ingest.feed_format("/data/feed.txt")


def test_spark_image_id_is_feed_image_id(spark):
    """The catalog lookup before a fetch keys on the Spark expression; the rows on feed.image_id."""
    from adstage.feed import image_id

    rows = [("p1", "primary", "/c/a.png"), ("ü-ß 椅子", "lifestyle", "https://x/é %20.jpg"),
            ("p|2", "additional", "file:///c/b\tc.png")]
    df = spark.createDataFrame(rows, "product_id string, image_role string, source_uri string")
    got = [r[0] for r in df.select(ingest.spark_image_id(
        "product_id", "image_role", "source_uri")).collect()]
    assert got == [image_id(*r) for r in rows]


def test_a_known_image_is_checked_not_decoded_again(tmp_path, monkeypatch):
    """Same bytes as the catalog's row and its PNG in the store: header and today's limits
    only. Changed bytes, a lost PNG or no catalog row: decoded and stored as before."""
    import cv2
    import numpy as np

    from adstage import imaging

    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), np.full((48, 64, 3), 200, np.uint8))
    settings = make_settings(tmp_path)
    store = ImageStore(settings.image_store_uri)
    first = ingest.process_image(str(photo), settings, store)
    known = (first["content_sha256"], first["image_uri"])
    decoded = []
    real = imaging.decode
    monkeypatch.setattr(imaging, "decode", lambda *a, **k: decoded.append(1) or real(*a, **k))

    assert ingest.process_image(str(photo), settings, store, known) == first and not decoded
    stricter = make_settings(tmp_path, min_side="50")
    assert ingest.process_image(str(photo), stricter, store, known)["reason"] == "too_small"
    assert not decoded
    cv2.imwrite(str(photo), np.full((48, 64, 3), 10, np.uint8))
    changed = ingest.process_image(str(photo), settings, store, known)
    assert decoded == [1] and changed["content_sha256"] != known[0]
    lost = (changed["content_sha256"], changed["image_uri"])
    Path(changed["image_uri"]).unlink()  # a local store: the URI is the path
    assert ingest.process_image(str(photo), settings, store, lost) == changed
    assert decoded == [1, 1] and store.exists(changed["image_uri"])
