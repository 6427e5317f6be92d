"""The gap filler of the nightly stages (adstage.staging.gap_fill): one setting, both choices."""
import cv2
import numpy as np
import pytest

from adstage.staging import copy_paste, gap_fill
from conftest import make_settings


def test_telea_is_the_default_and_names_itself(tmp_path):
    fill = gap_fill.resolve(make_settings(tmp_path))
    assert fill.kind == gap_fill.TELEA and fill.blobs is None
    assert fill.versions == (f"opencv-telea-r{gap_fill.TELEA_RADIUS}@{cv2.__version__}",)


def test_telea_fills_only_the_hole_and_runs_no_network(tmp_path):
    fn, providers, batch = gap_fill.resolve(make_settings(tmp_path)).open("cpu", batch=lambda cuda: 3)
    assert (providers, batch) == ("none", 3)
    crops = np.full((2, 64, 64, 3), (40, 90, 160), np.uint8)
    crops[:, :, 32:] = (200, 200, 200)
    holes = np.zeros((2, 64, 64), np.uint8)
    holes[:, 20:28, 10:20] = 255           # inside the left colour: filled with it
    crops_in = crops.copy()
    crops_in[holes > 0] = 255
    out = fn(crops_in, holes)
    assert out.shape == crops.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[holes == 0], crops_in[holes == 0])
    assert np.abs(out[holes > 0].astype(int) - (40, 90, 160)).max() <= 2


@pytest.mark.slow
def test_edgeconnect_opens_the_registry_pair_and_changes_the_salt(tmp_path):
    tel = make_settings(tmp_path)
    ec = make_settings(tmp_path, staging_gap_fill="edgeconnect")
    fill = gap_fill.resolve(ec)
    assert fill.kind == gap_fill.EDGECONNECT and len(fill.blobs) == 2
    assert [v.split("@")[0] for v in fill.versions] == [ec.edge_model, ec.inpaint_model]
    fn, providers, _ = fill.open("cpu", batch=lambda cuda: 1)
    assert "CPUExecutionProvider" in providers
    crop = np.full((1, 64, 64, 3), 128, np.uint8)
    hole = np.zeros((1, 64, 64), np.uint8)
    hole[:, 24:40, 24:40] = 255
    assert fn(crop, hole).shape == crop.shape
    params = copy_paste.CopyPasteParams.from_settings(tel)
    salts = {copy_paste.salt(s, params, list(gap_fill.resolve(s).versions)) for s in (tel, ec)}
    assert len(salts) == 2
