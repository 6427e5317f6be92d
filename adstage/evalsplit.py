"""The one stable split between donors and the evaluation's real staged photos.

A staged photo whose key hashes below ``share`` is held apart: it never becomes a donor slot
(``shape_index`` leaves it out), nor a training photo (``adstage.training``), and is the "real"
side of every Fréchet distance, KID and seam test (``adstage.evaluation``). The same hash in
Python and in Spark SQL, so a driver, an executor and a notebook agree on every photo.

In the nightly tables the key is the photo's content (``imagestore.object_sha256``): the
sha256 of its source bytes, which names it in the image store. An image id would do less well:
it hashes the photo's absolute source path, so a catalog moved to another folder (or a test's
temporary one) would draw a new split, and a photo listed under two products could land on
both sides.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from adstage.imagestore import object_sha256

if TYPE_CHECKING:
    from pyspark.sql import Column

_BUCKETS = 1000


def bucket(key: str) -> int:
    """0..999 from the first 32 bits of the key's SHA-256 (as ``adstage.vision.ikea.holdout``)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % _BUCKETS


def is_holdout(key: str, share: float) -> bool:
    return bucket(key) < share * _BUCKETS


def photo_is_holdout(image_uri: str, share: float) -> bool:
    return is_holdout(object_sha256(image_uri), share)


def photo_holdout_col(uri_col: str, share: float) -> "Column":
    """Spark expression equal to ``photo_is_holdout`` on column ``uri_col`` (the
    file name's stem, as ``imagestore.object_sha256``)."""
    from pyspark.sql import functions as F

    return holdout_col(F.regexp_extract(F.col(uri_col), r"([^/.]+)(\.[^/]*)?$", 1), share)


def holdout_col(col: "str | Column", share: float) -> "Column":
    """Spark expression equal to ``is_holdout`` on column ``col``."""
    from pyspark.sql import functions as F

    key = F.col(col) if isinstance(col, str) else col
    h = F.conv(F.substring(F.sha2(key, 256), 1, 8), 16, 10).cast("long")
    return (h % _BUCKETS) < F.lit(share * _BUCKETS)
