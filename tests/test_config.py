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


def test_a_mistyped_setting_names_the_one_meant():
    with pytest.raises(ValueError, match=r"unknown setting 'fetch_timout_s': did you mean "
                                         r"fetch_timeout_s\?"):
        Settings.load({"fetch_timout_s": "3"}, environ={})


@pytest.mark.parametrize("overrides, message", [
    ({"fetch_timeout_s": "-1"}, "fetch_timeout_s=-1.0 must be > 0"),
    ({"fetch_timeout_s": "nan"}, "fetch_timeout_s=nan must be a finite number"),
    ({"min_side": "500", "max_side": "100"}, "min_side=500 is above max_side=100"),
    ({"onnx_device": "tpu"}, "onnx_device='tpu' must be one of cpu, cuda, auto"),
    ({"generator_precision": "fp8"}, "generator_precision='fp8' must be one of fp32, int8"),
    ({"eval_holdout_share": "1.5"}, "eval_holdout_share=1.5 must be within 0..1"),
    ({"max_image_bytes": "0"}, "max_image_bytes=0 must be > 0"),
    ({"staging_methods": "copy_paste,magic"}, "staging_methods ['magic']"),
    ({"slot_open_under": "table,tables"}, "slot_open_under ['tables'] not among the slot"),
    ({"log_level": "LOUD"}, "log_level='LOUD' is not a logging level"),
    ({"http_allowed_networks": "10.0.0.0/33"}, "'10.0.0.0/33' is not a network"),
])
def test_values_that_make_no_sense_are_refused_at_start(overrides, message):
    """Refused when the settings are read (the job's start), one line, not by the first
    image or model that trips on them."""
    with pytest.raises(ValueError) as err:
        Settings.load(overrides, environ={})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_every_default_is_valid():
    assert Settings.load(environ={}).min_side <= Settings.load(environ={}).max_side
