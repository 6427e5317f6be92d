"""The one stable split between donors and the evaluation's real staged photos.

A staged photo whose id hashes below ``share`` is held apart: it never becomes a donor slot
(``shape_index`` leaves it out) and is the "real" side of every Fréchet distance, KID and seam
test (``adstage.evaluation``). The same hash in Python and in Spark SQL, so a driver, an
executor and a notebook agree on every id.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column

_BUCKETS = 1000


def bucket(key: str) -> int:
    """0..999 from the first 32 bits of the key's SHA-256 (as ``adstage.vision.ikea.holdout``)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % _BUCKETS


def is_holdout(key: str, share: float) -> bool:
    return bucket(key) < share * _BUCKETS


def holdout_col(col: str, share: float) -> "Column":
    """Spark expression equal to ``is_holdout`` on column ``col``."""
    from pyspark.sql import functions as F

    h = F.conv(F.substring(F.sha2(F.col(col), 256), 1, 8), 16, 10).cast("long")
    return (h % _BUCKETS) < F.lit(share * _BUCKETS)
