"""The donor-detection bench still runs (two generated demo rooms, one thread, one int8
precision; its numbers are read in docs/benchmarks.md, not here)."""
from __future__ import annotations

import json

import pytest

from test_bench import load


@pytest.mark.slow
def test_donor_detection_bench_runs_on_two_demo_rooms(tmp_path):
    out = tmp_path / "donor"
    assert load("donor_detection").main(
        ["--ikea-root", str(tmp_path / "no-ikea"), "--rooms", "0", "--demo-rooms", "2",
         "--threads", "1", "--int8", "qoperator", "--calib-rooms", "1",
         "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["rooms"]["ikea"] == 0 and result["rooms"]["demo"] == 2
    assert len(result["rooms"]["calibration"]) == 1   # a third demo room, not a measured one
    rows = {r["precision"]: r for r in result["timings"]}
    assert set(rows) == {"fp32", "qoperator"}
    for r in rows.values():
        assert r["rooms"] == 2 and r["threads"] == 1
        assert r["oid_ssd"]["n"] == 2 and r["coco_centernet"]["n"] == 2
        assert r["donor_slots"]["median_ms"] > 0
    assert result["quantization"]["qoperator"]["u2netp"]["int8_ops"] > 0
    agree = result["agreement"]["qoperator"]
    assert set(agree["detections"]) == {"oid_ssd", "coco_centernet"}
    assert agree["u2netp_mask_iou"]["crops"] == rows["fp32"]["crops"]
    assert "| fp32 | 1 |" in out.with_suffix(".md").read_text()
