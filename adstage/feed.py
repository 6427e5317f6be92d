"""The catalog feed contract, as pure functions: one raw record in, a validated record out.

Spark hands each feed row over as a JSON string (whatever the file format), so the rules here
are the same for CSV, JSONL and Parquet and are tested without Spark.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
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
        payload = json.dumps([self.title, self.category, [(i.uri, i.role) for i in self.images],
                              self.feed_date], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


def roles() -> tuple[str, ...]:
    return tuple(spec("feed").extra["roles"])


def image_id(product_id: str, role: str, uri: str) -> str:
    return hashlib.sha256("\x00".join((product_id, role, uri)).encode()).hexdigest()[:32]


def normalise_category(value: str) -> str:
    return "_".join(value.strip().lower().replace("-", " ").split())


def parse_record(raw: str, *, feed_dir: str, categories: tuple[str, ...]) -> FeedRecord:
    """Validate one feed row given as a JSON object string; raise `Rejected` with the reason."""
    try:
        row = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise Rejected(Reason.MALFORMED_RECORD, f"not a JSON object: {exc}") from None
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
        value = str(value)  # numeric ids in JSONL/Parquet are fine; their text is the id
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Rejected(Reason.MISSING_FIELD, f"{name} is missing or empty")
    if not isinstance(value, str):
        raise Rejected(Reason.INVALID_VALUE, f"{name} must be text, got {type(value).__name__}")
    value = unicodedata.normalize("NFC", value.strip())
    if len(value) > max_chars:
        raise Rejected(Reason.INVALID_VALUE, f"{name} is longer than {max_chars} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise Rejected(Reason.INVALID_VALUE, f"{name} contains control characters")
    return value


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
        if not isinstance(item, dict) or not isinstance(item.get("uri"), str) or not item["uri"]:
            raise Rejected(Reason.INVALID_VALUE, f"extra_images item {item!r} has no uri")
        role = str(item.get("role") or "additional").strip().lower()
        if role not in allowed:
            raise Rejected(Reason.INVALID_VALUE,
                           f"image role {role!r} is not one of: {', '.join(allowed)}")
        out.append(FeedImage(_resolve(item["uri"], feed_dir), role))
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
