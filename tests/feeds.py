"""Hand-made feeds for the ingest tests: good rows and every kind of bad one, with known answers."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def png(path: Path, colour=(40, 90, 200), size=(64, 48)) -> Path:
    img = np.full((size[1], size[0], 3), 255, np.uint8)
    cv2.rectangle(img, (8, 8), (size[0] - 8, size[1] - 8), colour, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def mixed_feed(root: Path) -> tuple[Path, dict]:
    """A JSONL feed under root/catalog mixing good rows and bad ones.

    Returns the feed path and the expected outcome: rows and images accepted, and the
    reject reasons with their levels.
    """
    cat = root / "catalog"
    img = cat / "images"
    good = [png(img / f"g{i}.png", colour=(30 * i, 80, 160)) for i in range(6)]
    truncated = img / "truncated.png"
    truncated.write_bytes(good[0].read_bytes()[:120])
    (img / "notes.jpg").write_text("this is not a picture")
    png(root / "outside.png")  # exists, but outside the allowed root

    def row(pid, title="Blue sofa", category="sofa", image=None, extra=None):
        r = {"product_id": pid, "title": title, "category": category,
             "image_uri": str(image) if image else None, "feed_date": "2026-11-24"}
        if extra is not None:
            r["extra_images"] = extra
        return json.dumps(r)

    lines = [
        row("p1", image=good[0], extra=[{"uri": str(good[1]), "role": "lifestyle"}]),
        row("p2", image=good[2]),
        row("p3", image=truncated),                                   # image: corrupt_image
        row("p4", image=img / "missing.png"),                         # image: not_found
        row("p5", category="spaceship", image=good[3]),               # row: unknown_category
        row("p6", image=good[4]),
        row("p6", image=good[4]),                                     # row: duplicate_row
        row("p7", title="Red chair", category="chair", image=good[5]),  # row: conflicting x2
        row("p7", title="Green chair", category="chair", image=good[5]),
        row("p8", image="../outside.png"),                            # image: outside_allowed_root
        row("p9", title="", image=good[0]),                           # row: missing_field
        '{"product_id": "p10", "title": ',                            # row: malformed_record
        row("p11", image=good[1], extra=[{"uri": str(good[2]), "role": "hero"}]),  # invalid_value
        row("p12", image=good[3], extra=[{"uri": "images/notes.jpg", "role": "additional"}]),
    ]
    feed = cat / "feed.jsonl"
    feed.write_text("\n".join(lines) + "\n")
    expected = {
        "feed_rows": 14, "rows_accepted": 7, "rows_rejected": 7,
        "images_in": 9, "images_accepted": 5, "images_rejected": 4,
        "rejects": sorted([
            ("row", "p5", "unknown_category"), ("row", "p6", "duplicate_row"),
            ("row", "p7", "conflicting_duplicate"), ("row", "p7", "conflicting_duplicate"),
            ("row", "p9", "missing_field"), ("row", None, "malformed_record"),
            ("row", "p11", "invalid_value"),
            ("image", "p3", "corrupt_image"), ("image", "p4", "not_found"),
            ("image", "p8", "outside_allowed_root"), ("image", "p12", "not_an_image"),
        ], key=str),
        "catalog": sorted([("p1", "primary"), ("p1", "lifestyle"), ("p2", "primary"),
                           ("p6", "primary"), ("p12", "primary")]),
    }
    return feed, expected
