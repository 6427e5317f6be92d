"""One typed config: defaults < ADSTAGE_* env < --conf overrides; unknown keys refused."""
from __future__ import annotations

import pytest

from adstage.config import Settings, parse_overrides


def test_precedence_and_types():
    s = Settings.load({"shuffle_partitions": "3"},
                      environ={"ADSTAGE_SHUFFLE_PARTITIONS": "9", "ADSTAGE_HOME": "/h",
                               "ADSTAGE_ALLOWED_ROOTS": "/a, /b", "ADSTAGE_FETCH_TIMEOUT_S": "2.5",
                               "ADSTAGE_SPARK_CONF": "spark.x=1,spark.y=2", "OTHER": "ignored"})
    assert s.shuffle_partitions == 3 and s.home == "/h" and s.fetch_timeout_s == 2.5
    assert s.allowed_roots == ("/a", "/b")
    assert s.spark_conf == {"spark.x": "1", "spark.y": "2"}
    assert s.warehouse_uri == "/h/warehouse" and s.table_uri("t") == "/h/warehouse/t"
    assert s.tracking_uri == "sqlite:////h/mlflow.db"


def test_object_store_warehouse():
    s = Settings.load({"warehouse": "s3a://bucket/adstage/"}, environ={})
    assert s.table_uri("catalog_images") == "s3a://bucket/adstage/catalog_images"
    assert s.image_store_uri == "s3a://bucket/adstage/images"


def test_unknown_and_malformed_settings_are_errors():
    with pytest.raises(ValueError, match="unknown setting"):
        Settings.load({"shufle_partitions": "3"}, environ={})
    with pytest.raises(ValueError, match="cannot parse"):
        Settings.load({"max_pixels": "lots"}, environ={})
    with pytest.raises(ValueError, match="field=value"):
        parse_overrides(["nonsense"])


def test_feed_uri_template():
    s = Settings.load({"feed_uri": "/feeds/{ds}/feed.jsonl"}, environ={})
    assert s.feed_for("2026-11-24") == "/feeds/2026-11-24/feed.jsonl"
    with pytest.raises(ValueError, match="ADSTAGE_FEED_URI"):
        Settings.load(environ={}).feed_for("2026-11-24")


def test_params_are_flat_strings():
    params = Settings.load(environ={}).as_params()
    assert all(isinstance(v, str) for v in params.values())
    assert "categories" in params and "warehouse_uri" in params
