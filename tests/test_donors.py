"""Donor slots from detections (adstage.vision.donors): pure numpy, small arrays."""
from __future__ import annotations

import numpy as np
import pytest

from adstage.vision import donors
from adstage.vision.detectors import Detection


def _det(box, label="chair", score=0.8):
    return Detection(tuple(float(v) for v in box), score, label, "test-detector")


def _square_mask_fn(bgr: np.ndarray) -> np.ndarray:
    """The dark pixels of the crop: our test pieces are dark on a light room."""
    return (bgr.mean(axis=2) < 100).astype(np.float32)


def _room(pieces, hw=(300, 400)):
    img = np.full((*hw, 3), 220, np.uint8)
    for x0, y0, x1, y1 in pieces:
        img[y0:y1, x0:x1] = 40
    return img


def test_detector_classes_map_to_pipeline_categories():
    assert donors.slot_category("couch") == "sofa"
    assert donors.slot_category("dining table") == "table"
    assert donors.slot_category("Chair") == "chair"
    assert donors.slot_category("potted plant") is None  # the plant, not an empty pot
    assert donors.slot_category("person") is None and donors.slot_category("tv") is None
    assert donors.product_slot_category("armchair") == "chair"
    assert donors.product_slot_category("couch") == donors.product_slot_category("sofa") == "sofa"
    assert donors.product_slot_category("lamp") is None


def test_duplicates_of_two_detectors_merge_into_one_piece():
    a = _det((100, 100, 200, 250), "chair", 0.6)
    b = _det((104, 98, 203, 252), "Chair", 0.9)
    c = _det((130, 98, 230, 252), "person", 0.85)  # another class, IoU 0.58: a second piece
    d = _det((103, 99, 202, 251), "Table", 0.7)     # one box called Chair and Table: one piece
    low = _det((300, 100, 350, 150), "chair", 0.1)  # below min_score
    merged = donors.merge_detections([a, b, c, d, low])
    assert [(d.label, d.score) for d in merged] == [("Chair", 0.9), ("person", 0.85)]


def test_a_free_standing_piece_is_a_usable_slot_with_its_silhouette():
    room = _room([(150, 120, 230, 260)])
    slots = donors.donor_slots(room, [_det((148, 118, 232, 262))], _square_mask_fn)
    assert len(slots) == 1
    s = slots[0]
    assert s.usable, s.flags
    assert s.category == "chair" and s.box == [150, 120, 230, 260]
    assert s.mask.shape == room.shape[:2] and (s.mask > 0).sum() == 80 * 140
    assert 0 < s.quality <= 0.8


@pytest.mark.parametrize("box, pieces, label, flag", [
    ((0, 100, 80, 250), [(0, 100, 80, 250)], "chair", donors.CUT_BY_FRAME),
    ((150, 120, 230, 260), [(150, 120, 230, 260)], "tv", donors.OUT_OF_TAXONOMY),
    ((190, 280, 196, 286), [(190, 280, 196, 286)], "clock", donors.TOO_SMALL),
    ((20, 10, 380, 290), [(20, 10, 380, 290)], "bed", donors.TOO_LARGE),
])
def test_pieces_a_product_must_not_replace_keep_a_flag(box, pieces, label, flag):
    slots = donors.donor_slots(_room(pieces), [_det(box, label)], _square_mask_fn)
    assert flag in slots[0].flags and not slots[0].usable


NOT_BEHIND = donors.DonorParams(behind=False)
BEHIND = donors.DonorParams(behind=True)


def test_the_piece_behind_is_occluded_and_the_one_in_front_overlaps_it():
    room = _room([(100, 100, 260, 220), (180, 140, 300, 280)])
    table = _det((100, 100, 260, 220), "dining table", 0.9)
    chair = _det((180, 140, 300, 280), "chair", 0.8)   # reaches lower: in front
    by_label = {s.label: s for s in donors.donor_slots(room, [table, chair], _square_mask_fn,
                                                       NOT_BEHIND)}
    assert donors.OCCLUDED in by_label["dining table"].flags
    assert by_label["chair"].usable  # in front, hiding little of the table
    big = _det((150, 90, 270, 240), "chair", 0.8)      # in front, hiding most of the table
    by_label = {s.label: s for s in donors.donor_slots(room, [table, big], _square_mask_fn,
                                                       NOT_BEHIND)}
    assert donors.OCCLUDED in by_label["dining table"].flags
    assert donors.OVERLAPS_OTHER in by_label["chair"].flags


def test_with_front_the_piece_in_front_is_a_slot_and_the_one_behind_still_is_not():
    room = _room([(100, 100, 260, 220), (150, 90, 270, 240)])
    table = _det((100, 100, 260, 220), "dining table", 0.9)
    big = _det((150, 90, 270, 240), "chair", 0.8)      # in front, hiding most of the table
    by_label = {s.label: s for s in donors.donor_slots(room, [table, big], _square_mask_fn,
                                                       donors.DonorParams(replace_front=True))}
    chair = by_label["chair"]
    assert chair.usable and chair.front is None, chair.flags
    assert chair.mask is not None and chair.box == [150, 90, 270, 240]
    assert donors.OCCLUDED in by_label["dining table"].flags
    # a second flag is never lifted with it
    cut = _det((0, 90, 120, 240), "chair", 0.8)
    room = _room([(100, 100, 260, 220), (0, 90, 120, 240)])
    by_label = {s.label: s for s in donors.donor_slots(
        room, [_det((60, 100, 160, 220), "dining table", 0.9), cut], _square_mask_fn,
        donors.DonorParams(replace_front=True))}
    assert by_label["chair"].flags == [donors.CUT_BY_FRAME]


def test_a_piece_partly_behind_another_is_a_slot_with_the_front_kept():
    room = _room([(100, 100, 260, 220), (180, 140, 300, 280)])
    table = _det((100, 100, 260, 220), "dining table", 0.9)
    chair = _det((180, 140, 300, 280), "chair", 0.8)   # in front: hides 40 % of the table
    assert donors.OCCLUDED in donors.donor_slots(room, [table, chair], _square_mask_fn)[0].flags
    by_label = {s.label: s for s in donors.donor_slots(room, [table, chair], _square_mask_fn,
                                                       BEHIND)}
    t = by_label["dining table"]
    assert t.usable, t.flags
    assert t.front is not None and t.front.shape == room.shape[:2]
    assert (t.front[140:280, 180:300] > 0).all() and not (t.front[:, :170] > 0).any()
    # the slot is what shows of the table: never a pixel of the chair in front
    assert not ((t.mask > 0) & (t.front > 0)).any()
    assert (t.mask[100:220, 100:180] > 0).all() and t.box == [100, 100, 260, 220]
    assert by_label["chair"].usable and by_label["chair"].front is None


def test_a_piece_mostly_hidden_stays_occluded():
    room = _room([(100, 100, 260, 220), (120, 110, 250, 260)])
    table = _det((100, 100, 260, 220), "dining table", 0.9)
    big = _det((120, 110, 250, 260), "chair", 0.8)     # hides 74 % of the table's box
    t = {s.label: s for s in donors.donor_slots(room, [table, big], _square_mask_fn, BEHIND)}
    t = t["dining table"]
    assert donors.OCCLUDED in t.flags and t.front is None and not t.usable


def test_a_vase_on_the_table_does_not_flag_it_but_a_person_in_front_does():
    room = _room([(100, 100, 300, 220)])
    table = _det((100, 100, 300, 220), "dining table", 0.9)
    vase = _det((180, 70, 210, 110), "vase", 0.8)
    assert donors.donor_slots(room, [table, vase], _square_mask_fn)[0].usable
    person = _det((150, 60, 230, 280), "person", 0.8)
    flags = donors.donor_slots(room, [table, person], _square_mask_fn, NOT_BEHIND)[0].flags
    assert donors.OCCLUDED in flags


def test_a_mask_that_misses_the_legs_is_a_poor_mask():
    room = _room([(150, 120, 230, 180)])   # only the seat is dark: the net "sees" half
    slots = donors.donor_slots(room, [_det((150, 120, 230, 260))], _square_mask_fn)
    assert slots[0].flags == [donors.POOR_MASK]


def test_the_silhouette_keeps_the_central_piece_inside_its_box():
    prob = np.zeros((200, 200), np.float32)
    prob[40:160, 60:140] = 1.0      # the piece
    prob[0:30, 0:200] = 1.0         # a shelf above it in the crop
    mask = donors.silhouette(prob, [0, 0, 200, 200], [55, 38, 145, 162], (200, 200))
    ys, xs = np.nonzero(mask)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (40, 159, 60, 139)


def test_no_mask_net_means_no_usable_slot():
    room = _room([(150, 120, 230, 260)])
    assert donors.donor_slots(room, [_det((150, 120, 230, 260))], None)[0].flags == \
        [donors.POOR_MASK]


@pytest.mark.parametrize("refine", donors.MASK_METHODS)
def test_every_mask_method_outlines_a_plain_piece(refine):
    room = _room([(150, 120, 230, 260)])
    params = donors.DonorParams(refine=refine)
    s = donors.donor_slots(room, [_det((146, 116, 234, 264))], _square_mask_fn, params)[0]
    truth = np.zeros(room.shape[:2], bool)
    truth[120:260, 150:230] = True
    iou = ((s.mask > 0) & truth).sum() / ((s.mask > 0) | truth).sum()
    assert s.usable and iou > 0.9, (s.flags, iou)


@pytest.mark.slow
def test_the_shipped_detectors_give_a_demo_room_one_usable_slot_per_piece(tmp_path):
    """The nightly path end to end on one photo: both shipped detectors, the salient net,
    the store; a bad image costs its own row only."""
    import cv2

    from adstage.config import Settings
    from adstage.demo.catalog import generate_catalog
    from adstage.imagestore import ImageStore
    from adstage.vision import cutouts

    generate_catalog(tmp_path / "cat", 12, seed=3, ds="2026-11-24")
    photos = sorted((tmp_path / "cat" / "images" / "staged").glob("*.png"))
    settings = Settings.load({"home": str(tmp_path)}, environ={})
    finder = cutouts.slot_finder(settings, cutouts.slot_models(settings))
    records = [{"image_id": p.stem, "label": "staged", "data": p.read_bytes()} for p in photos]
    records.append({"image_id": "broken", "label": "staged", "data": b"not an image"})
    rows = cutouts.process_batch(records, finder, ImageStore(str(tmp_path / "store")))
    usable = [r for r in rows if r["ok"]]
    assert usable and all(r["mask_uri"] and r["slot_category"] and r["label"] for r in usable)
    assert {r["image_id"] for r in usable} <= {p.stem for p in photos}
    assert [r["reason"] for r in rows if r["image_id"] == "broken"] == ["corrupt_image"]
    assert len({r["image_id"] for r in rows}) == len(records)  # every photo has its rows


def test_a_piece_whose_silhouette_is_all_hidden_has_no_mask():
    room = _room([(180, 140, 300, 280)])        # only the piece in front is dark
    table = _det((100, 100, 260, 220), "dining table", 0.9)
    chair = _det((180, 140, 300, 280), "chair", 0.8)
    t = {s.label: s for s in donors.donor_slots(room, [table, chair], _square_mask_fn, BEHIND)}
    t = t["dining table"]
    assert t.flags == [donors.POOR_MASK] and t.mask is None and t.front is None


def test_a_piece_whose_foot_is_behind_a_box_but_not_a_silhouette_stays_occluded():
    # The table in front is pale (the mask function sees only its dark legs): under the
    # chair's lowest visible pixels stands the table's box, not its silhouette.
    room = _room([(150, 40, 230, 120)])                  # a chair's back above the table
    room[120:130, 100:300] = 200                          # the pale table top
    room[130:260, 100:110] = 40                           # and its dark legs
    room[130:260, 290:300] = 40
    chair = _det((150, 40, 230, 140), "chair", 0.8)      # its box reaches into the table's
    table = _det((100, 110, 300, 260), "dining table", 0.9)
    t = {s.label: s for s in donors.donor_slots(room, [chair, table], _square_mask_fn, BEHIND)}
    assert donors.OCCLUDED in t["chair"].flags and t["chair"].front is None


def _table_room():
    """A dark table (top, two legs, a stretcher) before a wall, on a floor: the floor shows
    between its legs, above and below the stretcher."""
    rng = np.random.default_rng(0)
    img = np.full((300, 400, 3), 215, np.uint8)                        # wall
    img[170:] = np.clip(rng.normal((95, 125, 160), 4, (130, 400, 3)), 0, 255)  # floor
    img[110:130, 140:260] = 40                                         # top
    img[130:230, 140:152] = 40                                         # legs
    img[130:230, 248:260] = 40
    img[200:206, 152:248] = 40                                         # stretcher
    return img


def _filling_mask_fn(bgr: np.ndarray) -> np.ndarray:
    """A coarse mask net: the dark pixels closed over the gaps between them, as U2-Netp fills
    the floor under a table."""
    import cv2

    dark = (bgr.mean(axis=2) < 100).astype(np.uint8)
    return cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((121, 121), np.uint8)
                            ).astype(np.float32)


def test_a_table_keeps_the_floor_between_its_legs_out_of_its_silhouette():
    room = _table_room()
    box = [136, 106, 264, 234]
    crop = donors.crop_box_of(box, room.shape[:2], donors.DonorParams().crop_margin)
    open_ = donors.piece_mask(room, box, crop, _filling_mask_fn, donors.DonorParams(), "table")
    closed = donors.piece_mask(room, box, crop, _filling_mask_fn,
                               donors.DonorParams(open_under=()), "table")
    as_chair = donors.piece_mask(room, box, crop, _filling_mask_fn, donors.DonorParams(),
                                 "chair")
    floor_between = (slice(180, 198), slice(160, 240))   # enclosed by legs and stretcher
    under_stretcher = (slice(212, 228), slice(160, 240))
    table = room.mean(axis=2) < 100
    assert (open_[floor_between] == 0).mean() > 0.9 and (open_[under_stretcher] == 0).mean() > 0.9
    assert (open_[table] > 0).mean() > 0.9               # top, legs and stretcher stay
    assert (closed[floor_between] > 0).all() and np.array_equal(closed, as_chair)


def test_a_table_whose_legs_look_like_the_floor_keeps_the_ordinary_silhouette():
    """Taking the floor's colours out would take the legs too: the silhouette would no longer
    span its box, so the table gets the silhouette every other piece gets."""
    room = _table_room()
    room[130:230, 140:152] = room[130:230, 248:260] = room[250, 100]   # legs of floor colour
    room[200:206, 152:248] = room[250, 100]
    box = [136, 106, 264, 234]
    crop = donors.crop_box_of(box, room.shape[:2], donors.DonorParams().crop_margin)

    def filling(bgr):   # the mask net still sees the whole table
        m = np.zeros(bgr.shape[:2], np.float32)
        m[110 - crop[1]:230 - crop[1], 140 - crop[0]:260 - crop[0]] = 1.0
        return m

    p = donors.DonorParams()
    cut = donors.grabcut_silhouette(room, box, filling(room[crop[1]:crop[3], crop[0]:crop[2]]),
                                    crop, open_top=p.open_top, floor_lab=p.floor_lab)
    first = donors.silhouette((cut[crop[1]:crop[3], crop[0]:crop[2]] > 0).astype(np.float32),
                              crop, box, room.shape[:2], p, p.open_top)
    assert donors.span_fill(first, box)[0] < p.min_span        # the top alone: legs gone
    open_ = donors.piece_mask(room, box, crop, filling, p, "table")
    closed = donors.piece_mask(room, box, crop, filling, donors.DonorParams(open_under=()),
                               "table")
    assert donors.span_fill(open_, box)[0] >= p.min_span
    assert np.array_equal(open_, closed)


def test_a_piece_a_little_in_front_stays_on_top_of_the_slot():
    """An ottoman before a sofa hides 10 % of its box: the sofa is a slot as ever, but its
    silhouette leaves the ottoman out and keeps it as the front (staging puts the new sofa
    behind it), instead of taking it along to be filled away."""
    room = _room([(100, 100, 300, 220), (160, 190, 240, 260)])
    sofa = _det((100, 100, 300, 220), "couch", 0.9)
    ottoman = _det((160, 190, 240, 260), "chair", 0.6)
    by_label = {s.label: s for s in donors.donor_slots(room, [sofa, ottoman], _square_mask_fn)}
    s = by_label["couch"]
    assert s.usable and s.front is not None, s.flags
    assert (s.front[190:260, 160:240] > 0).all()
    assert not (s.mask[190:220, 160:240] > 0).any() and (s.mask[100:190, 100:300] > 0).all()
    assert by_label["chair"].usable and by_label["chair"].front is None
    before = donors.donor_slots(room, [sofa, ottoman], _square_mask_fn,
                                donors.DonorParams(front_on_top=False))[0]
    assert before.usable and before.front is None and (before.mask[190:220, 160:240] > 0).all()


def test_a_piece_in_front_beside_the_silhouette_is_no_front():
    """The boxes overlap but the silhouettes do not: nothing to keep on top."""
    room = _room([(100, 100, 200, 220), (230, 150, 290, 260)])
    chair = _det((100, 100, 220, 220), "chair", 0.9)      # box wider than the chair
    table = _det((205, 150, 290, 260), "dining table", 0.8)
    s = donors.donor_slots(room, [chair, table], _square_mask_fn)[0]
    assert s.usable and s.front is None
