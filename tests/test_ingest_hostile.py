"""Hostile inputs through the real Spark ingest: each ends in a table with its reason, the run
completes, rows in = accepted + rejected, and what is accepted is normalised."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
from PIL import Image

from adstage import ingest
from adstage.imagestore import ImageStore
from adstage.report import read_table
from conftest import make_settings
from test_imaging import (cv_bytes, exif_with_orientation, gradient_rgb, marker_image,
                          pil_bytes, png_with_declared_size)


def test_hostile_images_end_in_rejects_with_their_reason(spark, tmp_path):
    cat = tmp_path / "catalog"
    img = cat / "images"
    img.mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(cv_bytes(gradient_rgb(), ".png"))
    rgba = np.dstack([gradient_rgb(), np.full((64, 96), 128, np.uint8)])
    files = {
        "zero.png": b"",
        "bomb.png": png_with_declared_size(30000, 30000),
        "strip.png": png_with_declared_size(20000, 40),
        "deep.png": cv_bytes((gradient_rgb().astype(np.uint16) * 257), ".png"),
        "cmyk.jpg": pil_bytes(Image.new("CMYK", (48, 48), (0, 255, 255, 0)), "JPEG"),
        "grey.png": cv_bytes(gradient_rgb()[..., 0], ".png"),
        "alpha.png": cv_bytes(rgba, ".png"),
        "rotated.jpg": pil_bytes(marker_image(60, 40), "JPEG", exif=exif_with_orientation(6)),
        "tiny.png": cv_bytes(np.zeros((1, 1, 3), np.uint8), ".png"),
        "words.png": b"just some text pretending to be a picture",
        "cut.jpg": cv_bytes(gradient_rgb(), ".jpg")[:300],
        "ok.png": cv_bytes(gradient_rgb(), ".png"),
    }
    for name, data in files.items():
        (img / name).write_bytes(data)
    os.symlink(tmp_path / "secret.png", img / "link.png")

    cases = [  # (product_id, image_uri, expected reason or None for accepted)
        ("h01", "images/zero.png", "empty_file"),
        ("h02", "images/bomb.png", "decompression_bomb"),
        ("h03", "images/strip.png", "too_large"),
        ("h04", "images/deep.png", None),
        ("h05", "images/cmyk.jpg", None),
        ("h06", "images/grey.png", None),
        ("h07", "images/alpha.png", None),
        ("h08", "images/rotated.jpg", None),
        ("h09", "images/tiny.png", "too_small"),
        ("h10", "images/words.png", "not_an_image"),
        ("h11", "images/cut.jpg", "corrupt_image"),
        ("sofá-北京 #12", "images/ok.png", None),
        ("h13", "images/../../secret.png", "outside_allowed_root"),
        ("h14", "images/link.png", "outside_allowed_root"),
        ("h15", "http://cdn.example.invalid/x.png", "host_not_allowed"),
        ("h16", "ftp://files.example.invalid/x.png", "unsupported_scheme"),
    ]
    lines = [json.dumps({"product_id": pid, "title": "Thing", "category": "lamp",
                         "image_uri": uri}, ensure_ascii=False) for pid, uri, _ in cases]
    lines.append(json.dumps({"product_id": "h17", "title": "No picture", "category": "lamp"}))
    feed = cat / "feed.jsonl"
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")

    settings = make_settings(tmp_path, allowed_roots=str(cat))
    result = ingest.run(spark, settings, "2026-11-24", str(feed))

    accepted = {pid for pid, _, reason in cases if reason is None}
    assert (result.feed_rows, result.rows_rejected) == (17, 1)
    assert (result.images_in, result.images_accepted) == (16, len(accepted))
    rejects = read_table(settings, "ingest_rejects")
    got = {(r.product_id, r.reason) for r in rejects.itertuples()}
    assert got == {(pid, reason) for pid, _, reason in cases if reason} | {("h17", "missing_field")}

    catalog = read_table(settings, "catalog_images").set_index("product_id")
    assert set(catalog.index) == accepted
    store = ImageStore(settings.image_store_uri)
    for pid, row in catalog.iterrows():
        pixels = cv2.imdecode(np.frombuffer(store.get(row.image_uri), np.uint8), cv2.IMREAD_UNCHANGED)
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3, pid
        assert pixels.shape[:2] == (row.height, row.width), pid
    assert (catalog.loc["h08", "width"], catalog.loc["h08", "height"]) == (40, 60)  # EXIF 6
    assert catalog.loc["h08", "source_orientation"] == 6
    assert catalog.loc["h05", "source_mode"] == "CMYK"
