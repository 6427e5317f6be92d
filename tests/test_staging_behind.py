"""A donor partly hidden by a piece in front (``donor_slots.front_mask_uri``): the worker reads
the front mask from the store, puts the product behind it, and leaves its pixels as they were.
Real image store on disk, OpenCV's Telea fill; no Spark."""
from __future__ import annotations

import numpy as np

from adstage.imagestore import ImageStore
from adstage.staging import codes
from adstage.staging.composite import opencv_inpainter
from adstage.staging.copy_paste import CopyPasteParams, CopyPasteWorker
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
