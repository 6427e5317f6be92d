"""IKEA size text -> real size in cm, and the real-size rule's pure parts
(research/ikea_real_size.py). The strings are written here in IKEA's forms, not read from the set."""
from __future__ import annotations

import pytest

from research.ikea_real_size import (RealSize, mismatch, parse_size, ratio_interval,
                                     rule_outcome, shared_dimension)


@pytest.mark.parametrize("text, ptype, want", [
    ("Width: 80 cm, Depth: 72 cm, Height: 74 cm", "Table", RealSize(80, 72, 74)),
    ("Height: 91 cm, Width: 52 cm", "Chair", RealSize(width=52, height=91)),
    ("Length: 1.2 m, Depth: 600 mm", "Desk", RealSize(width=120, depth=60)),
    ("Diameter: 60 cm, Seat height: 45 cm", "Stool", RealSize(width=60, depth=60)),
    ("180x90x75 cm", "Two-seat sofa, outdoor", RealSize(180, 90, 75)),
    ("150x78 cm", "Table", RealSize(150, 78)),
    ("90x200 cm", "Bed frame", RealSize(90, 200)),
    ("120,165,210x85 cm", "Extendable table", RealSize(120, 85, width_max=210)),
    ("30,95,160x80 cm", "Gateleg table", RealSize(30, 80, width_max=160)),
    ("66 cm", "Bar stool with backrest", RealSize(height=66)),
    ("70 cm", "Coffee table", RealSize(width=70, depth=70)),
    ("28 cm", "Wall clock", RealSize(width=28, height=28)),
    ("60 cm", "Wall shelf", RealSize(width=60)),
    ("450 mm", "Shelf", RealSize(width=45)),
    ("Standard Double", "Bed frame", RealSize(135, 190)),
    ("Standard King", "Bed frame", RealSize(150, 200)),
])
def test_parse_size(text, ptype, want):
    assert parse_size(text, ptype) == want


@pytest.mark.parametrize("text", [None, "", "0.5 l", "25 cl", "4 pack", "0-6", "Double",
                                  "Standard Emperor", "Assorted"])
def test_parse_size_without_a_length(text):
    assert parse_size(text, "Chair") is None


def test_shared_dimension_prefers_height():
    assert shared_dimension(RealSize(40, 40, 45), RealSize(50, 50, 80)) == "height"
    assert shared_dimension(RealSize(40, 40), RealSize(50, 50, 80)) == "width"
    assert shared_dimension(RealSize(height=45), RealSize(50, 50)) is None
    assert shared_dimension(None, RealSize(50, 50)) is None


def test_ratio_interval_spans_settings_and_facing():
    table, desk = RealSize(30, 80, width_max=160), RealSize(120, 40)
    assert ratio_interval(table, desk, "width") == pytest.approx((0.25, 160 / 120))
    single, double = RealSize(90, 200), RealSize(160, 200)
    assert ratio_interval(single, double, "width") == pytest.approx((90 / 160, 90 / 160))
    assert ratio_interval(single, double, "width", either_facing=True) == pytest.approx((90 / 160, 1.0))
    assert ratio_interval(RealSize(height=60), RealSize(height=80), "height") == (0.75, 0.75)


def test_mismatch_and_rule():
    assert mismatch(1.0, 0.5, 1.2) == 1.0
    assert mismatch(1.0, 0.4, 0.5) == pytest.approx(2.0)
    assert mismatch(0.5, 1.0, 1.0) == pytest.approx(0.5)
    assert rule_outcome(1.0, 0.8, 1.0) == ("keep", 1.0)
    # A side table placed at a desk's width (real ratio 0.45): shrinking it to 1.5 x 0.45
    # leaves 0.46 of the slot's area, under the pipeline's 0.5: refused.
    out, k = rule_outcome(1.0, 0.45, 1.0)
    assert out == "refuse" and k == pytest.approx(0.675)
    # Twice too large on a product that covered 1.3 x the slot: 0.75 linear -> 0.73 area: rescaled.
    out, k = rule_outcome(2.0, 1.0, 1.3)
    assert out == "rescale" and k == pytest.approx(0.75)
    out, k = rule_outcome(0.5, 1.0, 0.9)     # too small: grown by 1 / 0.75
    assert out == "rescale" and k == pytest.approx(4 / 3)
