"""The pretrained detector (Open Images SSD) and salient-mask net (U²-Netp) as shipped ONNX,
and their numpy decoding (adstage.vision.detectors, adstage.vision.salient).

No TensorFlow and no torch: the ONNX files in models/ are what runs; tools/build_models.py
(which needs TensorFlow in its own environment) built them.
"""
from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adstage import model_catalog
from adstage.registry import MODELS_DIR
from adstage.vision import detectors as D
from adstage.vision import salient as S

ROOT = Path(__file__).resolve().parents[1]
IKEA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ikea"
SSD = model_catalog.get("adstage-detector-oid-ssd")
U2 = model_catalog.get("adstage-salient-u2netp")
CARDS = {SSD.name: MODELS_DIR / SSD.folder / "oid_ssd_mobilenetv2.card.json",
         U2.name: MODELS_DIR / U2.folder / "card.json"}


@pytest.fixture(scope="module")
def detector():
    return D.Detector.shipped(SSD.name)


@pytest.fixture(scope="module")
def masker():
    return S.SalientMasker.shipped(U2.name)


# --- the shipped files --------------------------------------------------------------------
@pytest.mark.parametrize("spec", [SSD, U2], ids=lambda s: s.name)
def test_shipped_onnx_opens_with_the_declared_input(spec):
    import onnx
    import onnxruntime as ort

    data = (MODELS_DIR / spec.folder / spec.file).read_bytes()
    assert onnx.load_from_string(data).ir_version <= 13       # onnxruntime 1.32's limit
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    declared = spec.extra["input"]
    (inp,) = sess.get_inputs()
    assert inp.name == declared["name"]
    assert list(inp.shape) == declared["shape"]
    assert inp.type == "tensor(float)"
    card = json.loads(CARDS[spec.name].read_text())
    assert card["onnx"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert card["classes"] == list(spec.classes)
    assert card["preprocess_code"] == spec.preprocess and card["decode"] == spec.decode
    assert (MODELS_DIR / spec.folder / spec.file).stat().st_size < 12_000_000


def test_cards_record_parity_and_licences():
    ssd_card = json.loads(CARDS[SSD.name].read_text())
    assert ssd_card["parity"]["decoded_equal"] is True
    assert max(ssd_card["parity"]["raw_max_abs_diff"].values()) <= 1e-3
    apache = MODELS_DIR / "detectors" / "LICENSE-mediapipe-objectron.txt"
    assert "Apache License" in apache.read_text()
    assert "MIT License" in (MODELS_DIR / "salient" / "LICENSE").read_text()
    assert SSD.licence == "Apache-2.0" and U2.licence == "MIT"


def test_catalog_entries_point_at_real_functions():
    assert D.dotted(SSD.preprocess) is D.ssd_input
    assert D.dotted(SSD.decode) is D.decode_ssd
    assert D.dotted(U2.preprocess) is S.u2netp_input
    assert D.dotted(U2.decode) is S.decode
    assert len(SSD.classes) == 24 and SSD.classes[0] == D.BACKGROUND
    assert {"Chair", "Table", "Desk"} <= set(SSD.classes)
    card = model_catalog.card(SSD)
    assert card["name"] == SSD.name and card["anchors"]["count"] == 1917


def test_build_script_has_a_help_without_tensorflow():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "build_models.py"), "--help"],
                         capture_output=True, text=True, check=True)
    assert "--check-only" in out.stdout


# --- input, anchors, decoding -------------------------------------------------------------
def test_ssd_input_squashes_the_whole_photo_to_minus_one_one():
    bgr = np.zeros((120, 200, 3), np.uint8)
    bgr[..., 0] = 255                                   # pure blue in BGR
    x = D.ssd_input(bgr)
    assert x.shape == (1, 300, 300, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 150, 150], [-1.0, -1.0, 1.0])  # RGB order


def test_anchors_count_and_geometry():
    a = D.ssd_anchors()
    assert a.shape == (1917, 4) and a.dtype == np.float32
    # layer 0: 19 x 19 cells (stride 16 on 300), 3 anchors: (0.1, 1), (0.2, 2), (0.2, 0.5)
    np.testing.assert_allclose(a[0], [0.5 / 19, 0.5 / 19, 0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(a[1, 2:], [0.2 * math.sqrt(2), 0.2 / math.sqrt(2)], rtol=1e-6)
    np.testing.assert_allclose(a[2, 2:], [0.2 / math.sqrt(2), 0.2 * math.sqrt(2)], rtol=1e-6)
    np.testing.assert_allclose(a[3, :2], [1.5 / 19, 0.5 / 19], rtol=1e-6)   # next cell, x first
    # layer 1: 10 x 10 cells, 6 anchors (5 ratios at scale 0.35 + sqrt(0.35 * 0.5) at ratio 1)
    l1 = a[19 * 19 * 3:19 * 19 * 3 + 600]
    np.testing.assert_allclose(l1[0], [0.05, 0.05, 0.35, 0.35], rtol=1e-6)
    np.testing.assert_allclose(l1[3, 2:], [0.35 * math.sqrt(3), 0.35 / math.sqrt(3)], rtol=1e-6)
    np.testing.assert_allclose(l1[5, 2:], [math.sqrt(0.35 * 0.5)] * 2, rtol=1e-6)
    # the last layer: one cell in the middle, its interpolated anchor sqrt(0.95 * 1.0)
    np.testing.assert_allclose(a[-1], [0.5, 0.5, math.sqrt(0.95), math.sqrt(0.95)], rtol=1e-6)
    per_layer = [19 * 19 * 3, 10 * 10 * 6, 5 * 5 * 6, 3 * 3 * 6, 2 * 2 * 6, 1 * 6]
    assert sum(per_layer) == 1917
    assert (a[:, :2] > 0).all() and (a[:, :2] < 1).all() and (a[:, 2:] > 0).all()


def _raw(n_classes: int = 24):
    return (np.zeros((1, 1917, 4), np.float32),
            np.full((1, 1917, n_classes), -10.0, np.float32))


def test_decode_of_hand_made_tensors_gives_the_expected_box():
    boxes, logits = _raw()
    i = 19 * 19 * 3 + (5 * 10 + 5) * 6                  # layer 1, cell (5, 5): centre 0.55
    boxes[0, i] = [1.0, -2.0, 0.0, 5.0 * math.log(2.0)]  # ty, tx, th, tw
    chair = SSD.classes.index("Chair")
    logits[0, i, chair] = 3.0
    logits[0, i + 1, 0] = 8.0                           # the background: never reported
    dets = D.decode_ssd([boxes, logits], (200, 400), labels=SSD.classes, detector=SSD.name)
    assert len(dets) == 1
    d = dets[0]
    assert d.label == "Chair" and d.detector == SSD.name
    assert d.score == pytest.approx(1 / (1 + math.exp(-3.0)), abs=1e-6)
    # centre x 0.55 - 2/10 * 0.35 = 0.48, y 0.55 + 1/10 * 0.35 = 0.585; w 0.7, h 0.35
    expected = (0.13 * 400, 0.41 * 200, 0.83 * 400, 0.76 * 200)
    np.testing.assert_allclose(d.box, expected, atol=1e-3)
    with pytest.raises(Exception):
        d.score = 1.0                                   # frozen


def test_decode_thresholds_per_class_and_clips_to_the_photo():
    boxes, logits = _raw()
    table, chair = SSD.classes.index("Table"), SSD.classes.index("Chair")
    logits[0, 0, table] = 0.0                            # score 0.5
    logits[0, 1000, chair] = 0.0
    both = D.decode_ssd([boxes, logits], (100, 100), labels=SSD.classes, detector="x",
                        min_score=0.4)
    assert sorted(d.label for d in both) == ["Chair", "Table"]
    only = D.decode_ssd([boxes, logits], (100, 100), labels=SSD.classes, detector="x",
                        min_score={"Table": 0.4})
    assert [d.label for d in only] == ["Table"]
    x0, y0, x1, y1 = only[0].box                         # anchor 0 sticks out of the corner
    assert x0 == 0.0 and y0 == 0.0 and 0 < x1 <= 100 and 0 < y1 <= 100
    assert D.decode_ssd([boxes, logits], (100, 100), labels=SSD.classes, detector="x",
                        min_score=0.6) == []


def test_nms_drops_duplicates_of_the_same_class_only():
    boxes = np.array([[10, 10, 110, 110], [12, 12, 112, 108], [200, 200, 260, 260],
                      [11, 10, 110, 111]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95], np.float32)
    assert D.nms(boxes, scores, 0.5).tolist() == [3, 2]
    assert D.nms(boxes, scores, 0.5, classes=np.array([0, 1, 0, 0])).tolist() == [3, 1, 2]
    assert D.nms(boxes, scores, 0.5, max_keep=1).tolist() == [3]
    assert D.nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []
    # through decode: two neighbouring anchors that predict the same box, one Chair kept
    raw_boxes, logits = _raw()
    chair = SSD.classes.index("Chair")
    a = D.ssd_anchors()
    i, j = 19 * 19 * 3 + 55 * 6, 19 * 19 * 3 + 56 * 6   # cells (5,5) and (5,6) of layer 1
    raw_boxes[0, j, 1] = (a[i, 0] - a[j, 0]) * 10 / a[j, 2]   # move j's centre onto i's
    logits[0, i, chair], logits[0, j, chair] = 2.0, 1.0
    dets = D.decode_ssd([raw_boxes, logits], (300, 300), labels=SSD.classes, detector="x")
    assert len(dets) == 1 and dets[0].score == pytest.approx(1 / (1 + math.exp(-2.0)))


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [3, 3, 3, 3]], np.float32)
    np.testing.assert_allclose(D.iou_matrix(a, b)[0], [1.0, 50 / 150, 0.0, 0.0])


# --- on real photos -----------------------------------------------------------------------
@pytest.mark.skipif(not IKEA.is_dir(), reason=f"{IKEA} is absent")
def test_ssd_finds_chairs_or_tables_in_ikea_rooms(detector):
    import cv2

    rooms = sorted((IKEA / "rooms").glob("*.jpg"))[:2]
    assert len(rooms) == 2
    for path in rooms:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        h, w = bgr.shape[:2]
        dets = detector.detect(bgr, min_score=0.3)
        furniture = [d for d in dets if d.label in ("Chair", "Table") and d.score >= 0.3]
        assert furniture, f"{path.name}: {dets}"
        for d in dets:
            x0, y0, x1, y1 = d.box
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
            assert d.detector == SSD.name and d.label != D.BACKGROUND
        best = furniture[0]                              # photo pixels, not 0..1
        assert (best.box[2] - best.box[0]) * (best.box[3] - best.box[1]) > 0.01 * w * h
        assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)


# --- salient masks ------------------------------------------------------------------------
def test_u2netp_input_shape_and_normalisation():
    x = S.u2netp_input(np.full((50, 70, 3), 255, np.uint8))
    assert x.shape == (1, 3, 320, 320) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], (1 - S.MEAN) / S.STD, rtol=1e-5)


def test_decode_min_max_normalises_and_resizes_back():
    out = np.linspace(0.2, 0.6, 320 * 320, dtype=np.float32).reshape(1, 1, 320, 320)
    prob = S.decode(out, (90, 130))
    assert prob.shape == (90, 130) and prob.dtype == np.float32
    assert prob.min() >= 0.0 and prob.max() <= 1.0
    assert prob[0, 0] < 0.01 and prob[-1, -1] > 0.99
    assert (S.decode(np.full((1, 1, 320, 320), 0.3, np.float32), (5, 5)) == 0).all()


@pytest.mark.slow
def test_salient_mask_covers_a_dark_square_on_white(masker):
    img = np.full((240, 320, 3), 255, np.uint8)
    img[60:180, 100:220] = (40, 40, 40)
    square = np.zeros((240, 320), bool)
    square[60:180, 100:220] = True
    prob = masker.mask(img)
    assert prob.shape == (240, 320) and prob.dtype == np.float32
    pred = prob > 0.5
    assert (pred & square).sum() / (pred | square).sum() > 0.7
    both = masker.masks([img, img[:120, :160]])
    np.testing.assert_allclose(both[0], prob, atol=1e-6)
    assert both[1].shape == (120, 160)


# --- no torch on this path ----------------------------------------------------------------
@pytest.mark.slow
def test_no_torch_imported():
    code = (
        "import sys, numpy as np\n"
        "from adstage.vision.detectors import Detector\n"
        "from adstage.vision.salient import SalientMasker\n"
        "d = Detector.shipped(); s = SalientMasker.shipped()\n"
        "img = np.full((64, 96, 3), 200, np.uint8)\n"
        "d.detect(img); s.mask(img)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
