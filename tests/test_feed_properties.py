"""Property-based: any one feed row, however hostile, becomes a row or a reject; never a crash.

Random JSON values (nested lists and objects, NaN, +-inf, huge ints, floats) and random
unicode (lone surrogates, control characters, astral planes, RTL marks) go through the row
validator (`ingest.validate_row`, which the Spark job runs per row) and into the Arrow batch
the job hands back to Spark; the Spark readers get random lines in the ingest tests
(tests/test_ingest_reliability.py).
"""
from __future__ import annotations

import json

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adstage import ingest
from adstage.reasons import Reason
from adstage.tables import record_schema

REASONS = {r.value for r in Reason}
SCHEMA = record_schema(ingest._ROW_COLUMNS)
CATS = ("lamp", "sofa")

# Every code point, lone surrogates included (JSON's "\ud800" escape decodes to one).
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)
json_scalar = (st.none() | st.booleans() | st.integers() | st.integers(-2**2000, 2**2000)
               | st.floats(allow_nan=True, allow_infinity=True) | any_text)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(any_text, inner, max_size=4), max_leaves=12)
plausible = {
    "product_id": st.one_of(any_text, st.integers(), st.floats(allow_nan=True), json_value,
                            st.just("bad\ud800id")),
    "title": any_text | json_value, "category": st.sampled_from(CATS) | any_text | json_value,
    "image_uri": st.just("/catalog/a.png") | any_text | json_value,
    "extra_images": json_value | st.lists(st.fixed_dictionaries(
        {"uri": any_text | st.just("/catalog/x\udc00y.png"), "role": any_text | json_value}),
        max_size=3),
    "feed_date": st.just("2026-11-24") | any_text | json_value,
}
record = st.fixed_dictionaries({}, optional=plausible) | st.dictionaries(any_text, json_value)


def check(raw: str) -> dict:
    out = ingest.validate_row(7, raw, feed_dir="/catalog", categories=CATS)
    assert set(out) == set(ingest._ROW_FIELDS) and out["record_index"] == 7
    # Everything the job writes must have a UTF-8 form (pyarrow's encoder raised on one).
    for key, value in out.items():
        if isinstance(value, str):
            value.encode("utf-8")
    pa.RecordBatch.from_pylist([out], schema=SCHEMA)
    if out["reason"] is None:
        assert out["product_id"] and out["content_key"] and out["images_json"]
        assert out["product_id"] not in ("nan", "inf", "-inf")
    else:
        assert out["reason"] in REASONS and out["detail"]
    return out


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record)
def test_any_json_record_is_a_row_or_a_reject(rec):
    check(json.dumps(rec))                       # surrogates escaped, as a JSONL line has them
    check(json.dumps(rec, ensure_ascii=False).encode("utf-8", "surrogatepass")
          .decode("utf-8", "replace"))          # or as raw (replaced) bytes


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(any_text | json_value.map(json.dumps))
def test_any_line_is_a_row_or_a_reject(line):
    check(line)


def test_the_rows_that_killed_the_job_are_rejects():
    base = {"title": "t", "category": "lamp", "image_uri": "/catalog/a.png"}
    for rec, reason in (
            (dict(base, product_id="bad\ud800id"), "invalid_value"),
            (dict(base, product_id="p", extra_images=[{"uri": "/catalog/x\ud800.png"}]),
             "invalid_value"),
            (dict(base, product_id=float("nan")), "invalid_value"),
            (dict(base, product_id=float("inf")), "invalid_value")):
        out = check(json.dumps(rec))
        assert out["reason"] == reason, rec
    assert check('{"product_id": 1e400, "title": "t", "category": "lamp", '
                 '"image_uri": "/a"}')["reason"] == "invalid_value"
    assert check("[" * 100_000)["reason"] == "malformed_record"
    ok = check(json.dumps(dict(base, product_id=1234)))
    assert ok["reason"] is None and ok["product_id"] == "1234"
