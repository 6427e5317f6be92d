"""What every staging method stores per image: the picture, its three masks and its ad crops.

Masks are 8-bit PNGs of the output's size, white (255) = in: the product's alpha as placed, the
generated pixels, and the placement box. Crops lie inside the photo; one that cannot is null,
with the reason in ``crop_refused``. Creatives re-crop and build parallax layers from them;
the seam measure samples the product outline from the alpha.
"""
from __future__ import annotations

import numpy as np

from adstage.staging.crops import ad_crops
from adstage.staging.placement import Box, as_alpha


def box_mask(hw: tuple[int, int], box: Box) -> np.ndarray:
    m = np.zeros(hw, np.uint8)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = 255
    return m


def alpha_png(alpha: np.ndarray) -> np.ndarray:
    """Soft alpha as uint8 0..255 (1.0 -> 255 exactly)."""
    return np.round(as_alpha(alpha) * 255.0).astype(np.uint8)


def store_outputs(store, image: np.ndarray, product_alpha: np.ndarray, generated: np.ndarray,
                  box: Box, crop_format: str = "jpg", crop_quality: int = 90) -> dict:
    """Write image, masks and crops to the image store; the staged_images columns they fill.

    The image and its masks are lossless PNG (the evaluation, the parallax layers and the
    seam measure read their pixels); the ad crops, which only go to ad platforms, are JPEG of
    ``crop_quality`` by default (``Settings.staging_crop_format``; as PNG the two crops weighed
    more than the staged image itself: docs/reliability.md, item 12)."""
    h, w = image.shape[:2]
    # A crop that does not fit inside the photo is refused, not padded: its URI stays null and
    # crop_refused says why.
    crops, refused = ad_crops(image, box)

    def crop(name: str) -> str | None:
        return store.put_image(crops[name], crop_format, crop_quality) if name in crops else None
    return {"output_uri": store.put_image(image), "width": w, "height": h,
            "product_mask_uri": store.put_image(alpha_png(product_alpha)),
            "gap_mask_uri": store.put_image(generated),
            "box_mask_uri": store.put_image(box_mask((h, w), box)),
            "product_box": [int(v) for v in box],
            "crop_square_uri": crop("square"), "crop_wide_uri": crop("landscape"),
            "crop_refused": "; ".join(f"{name}: {why}" for name, why in sorted(refused.items()))
            or None}


def record_columns(table_spec, extra: tuple[tuple[str, str], ...] = (("reason", "string"),
                                                                        ("detail", "string"))):
    """(name, type) of a worker's output record: the table's columns the worker fills (all but
    ds, mlflow_run_id and input_fingerprint, which the driver adds) plus the reject fields."""
    return [(c.name, c.type) for c in table_spec.columns
            if c.name not in ("ds", "mlflow_run_id", "input_fingerprint")] + list(extra)
