"""Machine-readable reasons for every row or image the pipeline refuses.

A rejected unit is never dropped: it lands in a rejects table with one of these codes, a
human-readable detail and the original record.
"""
from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    # feed rows
    MALFORMED_RECORD = "malformed_record"          # unparsable line / row
    MISSING_FIELD = "missing_field"                # a required column is absent or empty
    INVALID_VALUE = "invalid_value"                # a value outside its domain (id charset, role...)
    UNKNOWN_CATEGORY = "unknown_category"          # category not in the configured taxonomy
    DUPLICATE_ROW = "duplicate_row"                # exact repeat of an earlier row
    CONFLICTING_DUPLICATE = "conflicting_duplicate"  # same product_id, different content
    # fetching
    UNSUPPORTED_SCHEME = "unsupported_scheme"
    OUTSIDE_ALLOWED_ROOT = "outside_allowed_root"  # path traversal or a path we may not read
    HOST_NOT_ALLOWED = "host_not_allowed"          # not allow-listed, or resolves to a refused address
    CREDENTIALS_IN_URL = "credentials_in_url"      # user:password@ in an image URL
    NOT_FOUND = "not_found"
    FETCH_TIMEOUT = "fetch_timeout"
    FETCH_ERROR = "fetch_error"
    # bytes and pixels
    EMPTY_FILE = "empty_file"
    TOO_MANY_BYTES = "too_many_bytes"
    NOT_AN_IMAGE = "not_an_image"                  # unknown or unsupported format
    CORRUPT_IMAGE = "corrupt_image"                # known format, undecodable / truncated
    DECOMPRESSION_BOMB = "decompression_bomb"      # declared pixel count over the limit
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    INTERNAL_ERROR = "internal_error"              # a bug: still recorded, never fatal


class Rejected(Exception):
    """Raised by pure validation code; callers turn it into a rejects-table row."""

    def __init__(self, reason: Reason, detail: str):
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
