"""A donor partly hidden by a piece in front (``donor_slots.front_mask_uri``): the worker reads
the front mask from the store, puts the product behind it, and leaves its pixels as they were.
Real image store on disk, OpenCV's Telea fill; no Spark."""
from __future__ import annotations

import numpy as np

from adstage.imagestore import ImageStore
from adstage.staging import codes
from adstage.staging.animate import AnimateWorker
from adstage.staging.composite import opencv_inpainter
from adstage.staging.copy_paste import CopyPasteParams, CopyPasteWorker
from adstage.staging.parallax import CameraMove
import scenes


def behind_scene(store: ImageStore):
    """A donor whose lower part a table in front hides: (room, front, record, its donor)."""
    room, slot, prod, alpha = scenes.scene(160, 200, (60, 20, 140, 140), cut=(10, 10, 25, 30))
    front = np.zeros(slot.shape, np.uint8)
    front[100:160, 30:170] = 255                      # a table in front of the donor's legs
    slot = np.where(front > 0, 0, slot).astype(np.uint8)
    donor = {"rank": 1, "slot_id": "s", "donor_image_id": "d", "donor_product_id": None,
             "donor_image_uri": store.put_image(room), "slot_mask_uri": store.put_image(slot)}
    rec = {"product_id": "p", "category": "chair", "image_id": "i",
           "product_image_uri": store.put_image(prod), "product_mask_uri": store.put_image(alpha),
           "product_box": None, "background_bgr": [255, 255, 255], "donors": [donor]}
    return room, front, rec, donor


def test_the_worker_stages_behind_the_front_mask_it_reads(tmp_path):
    store = ImageStore(str(tmp_path / "images"))
    room, front, rec, donor = behind_scene(store)
    params = CopyPasteParams(methods=(codes.COPY_PASTE, codes.HARD_PASTE), crop_size=64)
    worker = CopyPasteWorker(store, opencv_inpainter(), params, ["telea@1"], "none")

    free = {r["method"]: r for r in worker.stage(rec)}
    behind = {r["method"]: r for r in worker.stage(
        {**rec, "donors": [{**donor, "front_mask_uri": store.put_image(front)}]})}
    for method in (codes.COPY_PASTE, codes.HARD_PASTE):
        assert behind[method]["output_uri"], behind[method]
        assert store.get_image(behind[method]["front_mask_uri"], grey=True).tolist() == front.tolist()
        assert free[method]["front_mask_uri"] is None
        assert 0.0 < behind[method]["gap_depth"] <= CopyPasteParams().max_gap_depth
        image = store.get_image(behind[method]["output_uri"])
        assert np.array_equal(image[front > 0], room[front > 0]), method
        shown = store.get_image(behind[method]["product_mask_uri"], grey=True)
        assert not (shown[front > 0] > 0).any() and (shown > 0).sum() > 500
    # without the front mask, the contact shadow and the gap's fill reach into the table
    image = store.get_image(free[codes.COPY_PASTE]["output_uri"])
    assert not np.array_equal(image[front > 0], room[front > 0])


def test_a_slot_behind_a_front_piece_has_its_own_gap_limit(tmp_path):
    store = ImageStore(str(tmp_path / "images"))
    _, front, rec, donor = behind_scene(store)
    strict = CopyPasteParams(methods=(codes.COPY_PASTE,), crop_size=64,
                             max_gap_share_behind=0.0001)
    worker = CopyPasteWorker(store, opencv_inpainter(), strict, ["telea@1"], "none")
    assert worker.stage(rec)[0]["output_uri"]            # no front: the usual limit
    row = worker.stage({**rec, "donors": [{**donor, "front_mask_uri": store.put_image(front)}]})[0]
    assert not row.get("output_uri") and "behind a piece in front" in row["detail"]


def test_the_parallax_clip_keeps_the_front_it_reads_as_a_layer(tmp_path):
    """The animate worker reads the staged row's front mask: the plate it stores is filled
    under the front pieces too (they move as a layer of their own); a row without one leaves
    them in the plate."""
    store = ImageStore(str(tmp_path / "images"))
    room, front, rec, donor = behind_scene(store)
    worker = CopyPasteWorker(store, opencv_inpainter(),
                             CopyPasteParams(methods=(codes.COPY_PASTE,), crop_size=64),
                             ["telea@1"], "none")
    row = worker.stage({**rec, "donors": [{**donor, "front_mask_uri": store.put_image(front)}]})[0]
    animate = AnimateWorker(store, opencv_inpainter(), CameraMove(seconds=0.5, fps=4), 64,
                            ["telea@1"], ("webm",))
    staged = store.get_image(row["output_uri"])
    layered, flat = animate.animate(row), animate.animate({**row, "front_mask_uri": None})
    assert layered["webm_uri"] and layered.get("reason") is None, layered
    inside = front > 0

    def changed(clip: dict) -> float:  # share of the front's pixels the plate filled
        plate = store.get_image(clip["plate_uri"])
        return float(np.any(plate[inside] != staged[inside], axis=1).mean())
    assert changed(flat) < 0.1 and changed(layered) > 0.9   # flat: only the product's rim
    broken = animate.animate({**row, "front_mask_uri": "file:///nowhere/front.png"})
    assert broken["reason"] == "corrupt_image" and "masks unreadable" in broken["detail"]
