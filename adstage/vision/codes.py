"""Reason codes of the vision stages (rows that carry a reason are kept, never dropped).

Image-level failures reuse ``adstage.reasons.Reason`` values (``corrupt_image``,
``internal_error``); these are the vision-specific ones.
"""
from __future__ import annotations

from enum import Enum


class VisionReason(str, Enum):
    NOT_LABELLED = "not_labelled"                  # classifier gave no label (image unreadable)
    NO_SLOT_FOUND = "no_slot_found"                # segmenter found no product region
    NO_USABLE_CUTOUT = "no_usable_cutout"          # every cutout of the product is flagged
    NO_DONOR_IN_CATALOG = "no_donor_in_catalog"    # no usable slot anywhere in the index
    NO_COMPATIBLE_DONOR = "no_compatible_donor"    # candidates exist, all filtered out
    NO_LIKE_SLOT = "no_like_slot"                  # no usable slot of the product's category
