"""The donor / evaluation split: the same answer in Python and in Spark, keyed by the photo."""
from __future__ import annotations

import hashlib

from adstage.evalsplit import photo_holdout_col, photo_is_holdout
from adstage.imagestore import ImageStore, object_sha256


def _uris(root: str, n: int = 200) -> list[str]:
    store = ImageStore(root)
    return [store.uri_for(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(n)]


def test_a_photo_is_keyed_by_its_content_not_its_folder(tmp_path):
    here, there = _uris(str(tmp_path / "a" / "images")), _uris(str(tmp_path / "moved.to"))
    assert [object_sha256(u) for u in here] == [object_sha256(u) for u in there]
    assert object_sha256(here[0]) == hashlib.sha256(b"0").hexdigest()
    held = [photo_is_holdout(u, 0.3) for u in here]
    assert held == [photo_is_holdout(u, 0.3) for u in there]
    assert 0.2 < sum(held) / len(held) < 0.4


def test_spark_and_python_hold_apart_the_same_photos(spark, tmp_path):
    uris = _uris(str(tmp_path / "some.folder" / "images"))
    df = spark.createDataFrame([(u,) for u in uris], "image_uri string")
    got = {r["image_uri"]: r["held"] for r in
           df.select("image_uri", photo_holdout_col("image_uri", 0.3).alias("held")).collect()}
    assert got == {u: photo_is_holdout(u, 0.3) for u in uris}
    assert any(got.values()) and not all(got.values())
