"""The shipped demo weights load in onnxruntime (no torch) and run on numpy images."""
import json
from pathlib import Path

import numpy as np
import pytest

from adstage.generative import inference, masks

MODELS = Path(__file__).resolve().parents[1] / "models" / "generative"
STEMS = ["edgeconnect_edge", "edgeconnect_inpaint", "pix2pix"]


@pytest.mark.parametrize("stem", STEMS)
def test_card_and_size(stem):
    card = json.loads((MODELS / f"{stem}.card.json").read_text())
    path = MODELS / card["file"]
    assert path.stat().st_size == card["bytes"] < 5 * 1024 * 1024
    assert card["mask_polarity"].startswith("1.0 (white)")
    assert card["parity_max_abs_err_float32"] < 1e-4 and card["onnx"]["ir_version"] <= 13
    assert card["registered_model"].startswith("adstage-")


def test_shipped_edgeconnect_fills_a_copy_paste_gap():
    card = json.loads((MODELS / "edgeconnect_inpaint.card.json").read_text())
    runner = inference.EdgeConnectInpainter(inference.session(MODELS / "edgeconnect_edge.onnx"),
                                            inference.session(MODELS / "edgeconnect_inpaint.onnx"),
                                            sigma=card["canny_sigma"])
    img = np.full((96, 130, 3), 200, np.uint8)
    img[60:] = 90
    old = np.zeros((96, 130), np.uint8)
    old[30:80, 40:90] = 255
    new = np.zeros_like(old)
    new[34:80, 44:86] = 255
    hole = masks.silhouette_difference_mask(old, new, dilate_px=2)
    out = runner([img], [hole])[0]
    assert out.shape == img.shape
    np.testing.assert_array_equal(out[hole == 0], img[hole == 0])


def test_batched_filling_matches_one_by_one():
    runner = inference.EdgeConnectInpainter(inference.session(MODELS / "edgeconnect_edge.onnx"),
                                            inference.session(MODELS / "edgeconnect_inpaint.onnx"))
    rng = np.random.default_rng(3)
    imgs = [rng.integers(0, 255, shape, dtype=np.uint8) for shape in
            [(64, 64, 3), (64, 64, 3), (50, 70, 3), (64, 64, 3)]]
    holes = []
    for img in imgs:
        h = np.zeros(img.shape[:2], np.uint8)
        h[10:30, 12:40] = 255
        holes.append(h)
    together = runner(imgs, holes, batch=2)
    for img, hole, out in zip(imgs, holes, together):
        alone = runner.fill(img, hole)
        assert out.shape == img.shape
        assert np.abs(out.astype(int) - alone.astype(int)).max() <= 1  # float summation order


def test_shipped_pix2pix_stages_a_product():
    card = json.loads((MODELS / "pix2pix.card.json").read_text())
    stager = inference.Pix2PixStager(inference.session(MODELS / "pix2pix.onnx"), card["resolution"])
    product = np.full((256, 256, 3), 255, np.uint8)
    product[100:200, 80:180] = (40, 30, 20)
    scenes = stager([product, product])
    assert scenes.shape == (2, card["resolution"], card["resolution"], 3) and scenes.dtype == np.uint8


@pytest.mark.slow
def test_jobs_fall_back_to_the_shipped_generators(tmp_path, monkeypatch):
    """A fresh MLflow store has no @champion yet: the shipped files and their cards are used."""
    from adstage.config import Settings
    from adstage.generative import registry

    monkeypatch.setenv("ADSTAGE_HOME", str(tmp_path))
    for name in registry.SHIPPED:
        model = registry.resolve(Settings.load(), name)
        assert model.source == "shipped" and model.version.startswith("shipped-")
        assert model.card.get("mask_polarity") or name == registry.PIX2PIX_MODEL
