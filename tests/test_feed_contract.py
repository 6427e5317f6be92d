"""The feed contract as pure functions: no Spark needed."""
from __future__ import annotations

import json

import pytest

from adstage.feed import image_id, normalise_category, parse_record
from adstage.reasons import Reason, Rejected

CATS = ("sofa", "dining_table")


def parse(**row):
    return parse_record(json.dumps(row), feed_dir="/feeds/day1", categories=CATS)


def reason_of(raw: str) -> Reason:
    with pytest.raises(Rejected) as exc:
        parse_record(raw, feed_dir="/feeds", categories=CATS)
    return exc.value.reason


def test_good_row_resolves_relative_uris_and_normalises():
    rec = parse(product_id=" 42 ", title="Sofa", category="Dining Table", image_uri="img/a.png",
                extra_images=json.dumps([{"uri": "/abs/b.png", "role": "Lifestyle"}]),
                feed_date="2026-11-24")
    assert rec.product_id == "42" and rec.category == "dining_table"
    assert [(i.uri, i.role) for i in rec.images] == [("/feeds/day1/img/a.png", "primary"),
                                                     ("/abs/b.png", "lifestyle")]
    assert rec.feed_date == "2026-11-24"


def test_unicode_and_numeric_ids_are_ids():
    assert parse(product_id="sofá-ß-北京", title="t", category="sofa", image_uri="/a").product_id \
        == "sofá-ß-北京"
    assert parse(product_id=1234, title="t", category="sofa", image_uri="/a").product_id == "1234"


@pytest.mark.parametrize("raw, reason", [
    ("not json", Reason.MALFORMED_RECORD),
    ("[1, 2]", Reason.MALFORMED_RECORD),
    ('{"title": "t", "category": "sofa", "image_uri": "/a"}', Reason.MISSING_FIELD),
    ('{"product_id": "1", "title": "  ", "category": "sofa", "image_uri": "/a"}', Reason.MISSING_FIELD),
    ('{"product_id": "1", "title": "t", "category": "boat", "image_uri": "/a"}', Reason.UNKNOWN_CATEGORY),
    ('{"product_id": "a\\u0000b", "title": "t", "category": "sofa", "image_uri": "/a"}', Reason.INVALID_VALUE),
    ('{"product_id": "1", "title": 5, "category": "sofa", "image_uri": "/a"}', Reason.INVALID_VALUE),
    ('{"product_id": "1", "title": "t", "category": "sofa", "image_uri": "/a", "feed_date": "24/11/2026"}', Reason.INVALID_VALUE),
    ('{"product_id": "1", "title": "t", "category": "sofa", "image_uri": "/a", "extra_images": "{bad"}', Reason.INVALID_VALUE),
    ('{"product_id": "1", "title": "t", "category": "sofa", "image_uri": "/a", "extra_images": [{"role": "lifestyle"}]}', Reason.INVALID_VALUE),
    ('{"product_id": "1", "title": "t", "category": "sofa", "image_uri": "/a", "extra_images": [{"uri": "/b", "role": "primary"}]}', Reason.INVALID_VALUE),
])
def test_bad_rows_are_refused_with_their_reason(raw, reason):
    assert reason_of(raw) is reason


def test_too_long_id_is_refused():
    assert reason_of(json.dumps({"product_id": "x" * 300, "title": "t", "category": "sofa",
                                 "image_uri": "/a"})) is Reason.INVALID_VALUE


def test_any_category_when_taxonomy_is_empty():
    rec = parse_record(json.dumps({"product_id": "1", "title": "t", "category": "Boat",
                                   "image_uri": "/a"}), feed_dir="/", categories=())
    assert rec.category == "boat"


def test_content_key_tells_conflicts_apart():
    a = parse(product_id="1", title="Red", category="sofa", image_uri="/a")
    b = parse(product_id="1", title="Red", category="sofa", image_uri="/a")
    c = parse(product_id="1", title="Green", category="sofa", image_uri="/a")
    assert a.content_key() == b.content_key() != c.content_key()


def test_image_id_is_stable_and_distinct():
    assert image_id("1", "primary", "/a") == image_id("1", "primary", "/a")
    assert len({image_id("1", "primary", "/a"), image_id("1", "lifestyle", "/a"),
                image_id("2", "primary", "/a")}) == 3
    assert normalise_category("  Three-Seat  sofa ") == "three_seat_sofa"
