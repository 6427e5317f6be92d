"""Reason codes of the staging-side jobs (a product without an output always gets one).

Image-level failures reuse ``adstage.reasons.Reason`` (``corrupt_image``, ``internal_error``).
"""
from __future__ import annotations

from enum import Enum

COPY_PASTE, HARD_PASTE, VANILLA, PARALLAX = "copy_paste", "hard_paste", "vanilla", "parallax"
PASTE_METHODS = (COPY_PASTE, HARD_PASTE)
METHODS = (COPY_PASTE, HARD_PASTE, VANILLA)


class StagingReason(str, Enum):
    NOT_PAIRED = "not_paired"                      # the pairing job found no donor (its reason in detail)
    NO_ACCEPTABLE_DONOR = "no_acceptable_donor"    # every donor refused: gap too large / poor fit / unreadable
    NO_FREE_SLOT = "no_free_slot"                  # every donor slot it was paired with holds its quota
    NOT_STAGED = "not_staged"                      # parallax: the product has no copy-paste image


def check_methods(methods: tuple[str, ...]) -> None:
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"staging_methods: unknown {unknown}; known: {', '.join(METHODS)}")
