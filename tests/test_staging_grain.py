"""Grain for a filled gap (adstage.staging.grain): pure numpy."""
from __future__ import annotations

import numpy as np

from adstage.staging import grain


def _noisy_room(sigma=6.0, hw=(120, 160), seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, sigma, (*hw, 3)), 0, 255).astype(np.uint8)


def _gap(hw=(120, 160)):
    gap = np.zeros(hw, np.uint8)
    gap[40:80, 50:110] = 255
    return gap


def test_a_smooth_fill_gets_the_rooms_grain_inside_the_gap_only():
    room, gap = _noisy_room(), _gap()
    filled = room.copy()
    filled[gap > 0] = 128                               # Telea-like: flat
    out = grain.match_grain(filled, room, gap)
    assert (out[gap == 0] == filled[gap == 0]).all()    # nothing outside the gap moves
    want = grain.grain_strength(room, gap)
    got = grain.grain_strength_inside(out, gap)
    assert (np.abs(got - want) < 0.25 * want).all(), (got, want)
    assert (grain.match_grain(filled, room, gap) == out).all()   # seeded: same every run


def test_a_fill_already_as_grainy_as_the_room_is_left_alone():
    room, gap = _noisy_room(), _gap()
    assert (grain.match_grain(room, room, gap) == room).all()


def test_a_clean_room_adds_nothing_and_an_empty_gap_is_a_no_op():
    flat = np.full((60, 80, 3), 90, np.uint8)
    gap = np.zeros((60, 80), np.uint8)
    assert grain.match_grain(flat, flat, gap) is flat
    gap[20:40, 20:40] = 255
    assert (grain.match_grain(flat, flat, gap) == flat).all()


def test_the_product_is_left_out_of_the_measured_ring():
    room, gap = _noisy_room(sigma=2.0), _gap()
    product = np.zeros(gap.shape, np.uint8)
    product[30:90, 40:120] = 255
    product[gap > 0] = 0
    room[product > 0] = _noisy_room(sigma=30.0)[product > 0]   # a busy product pattern
    near = grain.grain_strength(room, gap)
    clean = grain.grain_strength(room, gap, exclude=product)
    assert (clean < 4).all() and (near > clean).all()
