"""The catalog feed contract, as pure functions: one raw record in, a validated record out.

Spark hands each feed row over as a JSON string (whatever the file format), so the rules here
are the same for CSV, JSONL and Parquet and are tested without Spark.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlparse

from adstage.reasons import Reason, Rejected
from adstage.tables import spec

MAX_ID_CHARS = 256
MAX_TITLE_CHARS = 1000


@dataclass(frozen=True)
class FeedImage:
    uri: str
    role: str


@dataclass(frozen=True)
class FeedRecord:
    product_id: str
    title: str
    category: str
    images: tuple[FeedImage, ...]   # the primary image first
    feed_date: str | None

    def content_key(self) -> str:
        """Identity of the row's content: two rows with one product_id conflict when it differs."""
        from adstage.redact import uri as shown  # a new signature is the same content

        payload = json.dumps([self.title, self.category,
                              [(shown(i.uri), i.role) for i in self.images], self.feed_date],
                             ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def roles() -> tuple[str, ...]:
    return tuple(spec("feed").extra["roles"])


def image_id(product_id: str, role: str, uri: str) -> str:
    return hashlib.sha256("\x00".join((product_id, role, uri)).encode(
        "utf-8", "surrogatepass")).hexdigest()[:32]


def normalise_category(value: str) -> str:
    return "_".join(value.strip().lower().replace("-", " ").split())


def parse_record(raw: str, *, feed_dir: str, categories: tuple[str, ...]) -> FeedRecord:
    """Validate one feed row given as a JSON object string; raise `Rejected` with the reason."""
    try:
        row = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise Rejected(Reason.MALFORMED_RECORD, f"not a JSON object: {exc}") from None
    except RecursionError:
        raise Rejected(Reason.MALFORMED_RECORD, "not a JSON object: nested too deeply") from None
    if not isinstance(row, dict):
        raise Rejected(Reason.MALFORMED_RECORD, f"expected an object, got {type(row).__name__}")
    if row.get("_corrupt_record"):
        raise Rejected(Reason.MALFORMED_RECORD, "the CSV reader could not split this row")

    product_id = _text(row, "product_id", MAX_ID_CHARS)
    title = _text(row, "title", MAX_TITLE_CHARS)
    category = normalise_category(_text(row, "category", 200))
    if categories and category not in categories:
        raise Rejected(Reason.UNKNOWN_CATEGORY,
                       f"category {category!r} is not one of: {', '.join(categories)}")
    images = [FeedImage(_resolve(_text(row, "image_uri", 4096), feed_dir), "primary")]
    images += _extra_images(row.get("extra_images"), feed_dir)
    return FeedRecord(product_id, title, category, tuple(images), _date(row.get("feed_date")))


def _text(row: dict, name: str, max_chars: int) -> str:
    value = row.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name == "product_id":
        value = _numeric_id(value)  # numeric ids in JSONL/Parquet are fine; their text is the id
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Rejected(Reason.MISSING_FIELD, f"{name} is missing or empty")
    if not isinstance(value, str):
        raise Rejected(Reason.INVALID_VALUE, f"{name} must be text, got {type(value).__name__}")
    return _clean_text(value, name, max_chars)


def _clean_text(value: str, name: str, max_chars: int) -> str:
    """NFC, stripped, bounded, and free of control characters and lone surrogates (a JSON
    "\\ud800" decodes to one; it has no UTF-8 form, so Arrow and every writer refuse it)."""
    if len(value) > 4 * max_chars:  # before normalising: NFC of a huge string is slow
        raise Rejected(Reason.INVALID_VALUE, f"{name} is longer than {max_chars} characters")
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        raise Rejected(Reason.INVALID_VALUE, f"{name} contains a lone surrogate (invalid unicode)")
    value = unicodedata.normalize("NFC", value.strip())
    if len(value) > max_chars:
        raise Rejected(Reason.INVALID_VALUE, f"{name} is longer than {max_chars} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise Rejected(Reason.INVALID_VALUE, f"{name} contains control characters")
    return value


def _numeric_id(value: int | float) -> str:
    """A number used as a product id, as text. NaN, Infinity and 1e400 (which JSON readers
    turn into inf) are no id: they would become products "nan" and "inf"."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Rejected(Reason.INVALID_VALUE, f"product_id {value!r} is not a number an id "
                                                 "can be (NaN or out of range)")
        return str(value)
    if value.bit_length() > 1000:  # > 301 digits: longer than any id may be
        raise Rejected(Reason.INVALID_VALUE, f"product_id is longer than {MAX_ID_CHARS} characters")
    return str(value)


def _extra_images(value, feed_dir: str) -> list[FeedImage]:
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):  # CSV carries the list as JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise Rejected(Reason.INVALID_VALUE, "extra_images is not valid JSON") from None
    if not isinstance(value, list):
        raise Rejected(Reason.INVALID_VALUE, "extra_images must be a list of {uri, role}")
    allowed = [r for r in roles() if r != "primary"]
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("uri"), str) or \
                not item["uri"].strip():
            raise Rejected(Reason.INVALID_VALUE, f"extra_images item {item!r:.200} has no uri")
        role = item.get("role") or "additional"
        if not isinstance(role, str) or role.strip().lower() not in allowed:
            raise Rejected(Reason.INVALID_VALUE,
                           f"image role {role!r:.100} is not one of: {', '.join(allowed)}")
        uri = _clean_text(item["uri"], "extra_images uri", 4096)
        out.append(FeedImage(_resolve(uri, feed_dir), role.strip().lower()))
    return out


def _resolve(uri: str, feed_dir: str) -> str:
    """Relative paths are relative to the feed file; the fetcher decides what may be read."""
    uri = uri.strip()
    scheme = urlparse(uri).scheme
    if scheme or os.path.isabs(uri):
        return uri
    return os.path.normpath(os.path.join(feed_dir, uri))


def _date(value) -> str | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise Rejected(Reason.INVALID_VALUE, f"feed_date {value!r} is not YYYY-MM-DD") from None
