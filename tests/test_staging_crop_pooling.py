"""Gap crops pooled across products (``CopyPasteWorker.stage_many``): the same rows and images as
staging each product alone, inpainter calls that mix products, and one bad product failing alone.
Real image store on disk, the shipped EdgeConnect pair in onnxruntime; no Spark."""
from __future__ import annotations

import numpy as np
import pytest

from adstage.generative.inference import EdgeConnectInpainter
from adstage.imagestore import ImageStore
from adstage.staging import codes
from adstage.staging.composite import rgb_inpainter
from adstage.staging.copy_paste import CopyPasteParams, CopyPasteWorker
import scenes

VOLATILE = ("seconds",)


def records(store: ImageStore, n: int) -> list[dict]:
    """``n`` products, each with one donor; slots of different sizes give 1 or 2 crops each."""
    out = []
    for k in range(n):
        wide = k % 2 == 1   # a wide slot in a wide room: its gap needs two 64-px crops
        room, slot, prod, alpha = scenes.scene(120, 200 if wide else 110,
                                               (20, 20, 180, 100) if wide else (25, 15, 85, 100),
                                               cut=(10, 10, 25 + 3 * k, 30))
        out.append({"product_id": f"p{k}", "category": "chair", "image_id": f"i{k}",
                    "product_image_uri": store.put_image(prod),
                    "product_mask_uri": store.put_image(alpha),
                    "product_box": None, "background_bgr": [255, 255, 255],
                    "donors": [{"rank": 1, "slot_id": f"s{k}", "donor_image_id": f"d{k}",
                                "donor_product_id": None,
                                "donor_image_uri": store.put_image(room),
                                "slot_mask_uri": store.put_image(slot)}]})
    return out


@pytest.fixture(scope="module")
def inpainter():
    from pathlib import Path

    from adstage.generative.inference import session

    models = Path(__file__).resolve().parents[1] / "models" / "generative"
    runner = EdgeConnectInpainter(session(models / "edgeconnect_edge.onnx", "cpu", 1),
                                  session(models / "edgeconnect_inpaint.onnx", "cpu", 1), batch=64)
    calls: list[list[int]] = []

    def counted(crops, holes):
        calls.append([len(crops), *np.asarray(crops).shape[1:3]])
        return rgb_inpainter(runner)(crops, holes)

    return counted, calls


def worker(store, fn, batch, full_frame_max_px=0):
    # The scenes' gaps are wide on purpose (crops to pool): not the depth check's subject.
    params = CopyPasteParams(methods=(codes.COPY_PASTE, codes.HARD_PASTE), crop_size=64,
                             full_frame_max_px=full_frame_max_px, max_gap_depth=1.0)
    return CopyPasteWorker(store, fn, params, ["edge@1", "inpaint@1"], "CPUExecutionProvider",
                           crop_batch=batch)


def strip(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


@pytest.mark.slow
def test_pooled_crops_give_the_rows_of_one_product_at_a_time(tmp_path, inpainter):
    fn, calls = inpainter
    store = ImageStore(str(tmp_path / "images"))
    recs = records(store, 5)
    alone = [strip(worker(store, fn, 1).stage(r)) for r in recs]
    crops_per_product = [c[0] for c in calls]
    calls.clear()
    pooled = [strip(rows) for rows in worker(store, fn, 4).stage_many(recs)]
    # Same images (content-addressed URIs), masks and scores, product by product.
    assert sorted(pooled, key=lambda rows: rows[0]["product_id"]) == alone
    assert all(r["method"] == m for rows in pooled for r, m in
               zip(rows, (codes.COPY_PASTE, codes.HARD_PASTE)))
    total = sum(crops_per_product)
    assert max(crops_per_product) < 4 <= total
    # Calls of 4 crops hold crops of several products; only the last one may be short.
    assert [c[0] for c in calls] == [4] * (total // 4) + ([total % 4] if total % 4 else [])
    assert all(r.get("seconds", 0) >= 0 for rows in pooled for r in rows)


def test_a_spread_gap_is_inpainted_whole_in_a_call_of_its_own(tmp_path, inpainter):
    from adstage.staging.composite import gap_crops

    fn, calls = inpainter
    store = ImageStore(str(tmp_path / "images"))
    recs = records(store, 4)
    room = store.get_image(recs[1]["donors"][0]["donor_image_uri"])
    gap = np.zeros(room.shape[:2], np.uint8)
    gap[10:110, 10:190] = 255          # 8 overlapping 64-px tiles > the 120x200 frame's pixels
    assert len(gap_crops(room, gap, 64)[0]) * 64 ** 2 > gap.size
    boxes, crops, holes = gap_crops(room, gap, 64, max_frame_px=gap.size)
    assert boxes == [(0, 0, 200, 120)] and crops.shape == (1, 120, 200, 3)
    assert (crops[0][gap > 0] == 255).all() and np.array_equal(crops[0][gap == 0], room[gap == 0])
    assert len(gap_crops(room, gap, 64, max_frame_px=gap.size - 1)[0]) > 1   # over the cap

    calls.clear()
    alone = [strip(worker(store, fn, 1, 10 ** 6).stage(r)) for r in recs]
    calls.clear()
    pooled = [strip(rows) for rows in worker(store, fn, 4, 10 ** 6).stage_many(recs)]
    assert sorted(pooled, key=lambda rows: rows[0]["product_id"]) == alone
    assert all(r.get("reason") is None for rows in pooled for r in rows)
    # On these small rooms every gap costs fewer pixels whole: one frame-sized call each.
    assert sorted(map(tuple, calls)) == sorted([(1, 120, 110), (1, 120, 200)] * 2)


def test_a_product_that_breaks_the_inpainter_fails_alone(tmp_path, inpainter):
    fn, _ = inpainter
    store = ImageStore(str(tmp_path / "images"))
    recs = records(store, 4)
    # The third product's room gets a colour no other room has, outside its slot (so in every
    # crop's context), and an inpainter that refuses any call holding such a crop.
    donor = recs[2]["donors"][0]
    room = store.get_image(donor["donor_image_uri"])
    room[store.get_image(donor["slot_mask_uri"], grey=True) == 0] = (1, 2, 3)
    donor["donor_image_uri"] = store.put_image(room)

    def fragile(crops, holes):
        if (np.asarray(crops) == (1, 2, 3)).all(axis=-1).any():
            raise RuntimeError("bad crop")
        return fn(crops, holes)

    rows = {r[0]["product_id"]: r for r in worker(store, fragile, 8).stage_many(recs)}
    assert set(rows) == {"p0", "p1", "p2", "p3"}
    assert [(r["method"], r["reason"]) for r in rows["p2"]] == [
        (codes.COPY_PASTE, "internal_error"), (codes.HARD_PASTE, "internal_error")]
    assert "bad crop" in rows["p2"][0]["detail"]
    for pid in ("p0", "p1", "p3"):
        assert [r.get("reason") for r in rows[pid]] == [None, None]
        assert rows[pid][0]["output_uri"] != rows[pid][1]["output_uri"]
