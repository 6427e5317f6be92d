"""The FID Inception (``adstage-fid-inception``) the set-up builds, and the Fréchet distance.

The ONNX file is built by ``make fid-model`` (``tools/build_fid.py``, which ``make test`` and
``make demo`` run first): these tests fail, not skip, without it. The TorchScript parity test
skips only when the cached TorchScript the build unpacked is gone.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adstage.demo.rooms import render_room
from adstage.evaluation import features
from adstage.evaluation.frechet import (frechet_distance, frechet_distance_sqrtm, gaussian,
                                        trace_sqrt_product)

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("build_fid", ROOT / "tools" / "build_fid.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _onnx() -> Path:
    path = features.default_inception_path()
    assert path.is_file(), f"{path} is missing: the set-up builds it (`make fid-model`)"
    return path


def _rooms(seeds, size=(320, 240)) -> list[np.ndarray]:
    return [render_room(np.random.default_rng(s), size).image for s in seeds]


def _crops(images: list[np.ndarray], per_image: int, seed: int, side: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for im in images:
        h, w = im.shape[:2]
        for y, x in zip(rng.integers(0, h - side, per_image), rng.integers(0, w - side, per_image)):
            out.append(im[y:y + side, x:x + side])
    return np.stack(out)


@pytest.fixture(scope="module")
def inception():
    return features.embedder(str(_onnx()))


@pytest.fixture(scope="module")
def room_features(inception):
    """Inception features of 40 demo rooms of mixed sizes, two sets of 20."""
    a = inception(_rooms(range(0, 20), (320, 240)))
    b = inception(_rooms(range(100, 110), (480, 360)) + _rooms(range(110, 120), (256, 256)))
    return a, b


# -- the model ------------------------------------------------------------------------------

def test_the_onnx_opens_with_a_dynamic_batch_and_2048_features():
    import onnxruntime as ort

    sess = ort.InferenceSession(str(_onnx()), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert inp.name == "image" and inp.shape[1:] == [3, 299, 299] and isinstance(inp.shape[0], str)
    assert out.shape[1] == features.INCEPTION_DIM == 2048
    x = features.inception_input(_rooms([1, 2, 3]))
    assert x.shape == (3, 3, 299, 299) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 0.9921875
    three = sess.run(None, {"image": x})[0]
    one = sess.run(None, {"image": x[1:2]})[0]
    assert three.shape == (3, 2048) and np.isfinite(three).all() and (three >= 0).all()
    np.testing.assert_allclose(one[0], three[1], rtol=1e-4, atol=1e-5)


def test_the_card_matches_the_catalog_and_the_pinned_wheel():
    from adstage import model_catalog

    tool = _tool()
    card = json.loads(features.card_path(_onnx()).read_text())
    spec = model_catalog.get(features.INCEPTION_NAME)
    assert card["name"] == spec.name == features.INCEPTION_NAME
    assert spec.role == "fid_features" and spec.file == _onnx().name
    assert spec.preprocess == "adstage.evaluation.features.inception_input"
    assert card["source"] == spec.source and "MIT" in spec.licence and "not state" in spec.licence
    for pin in (tool.WHEEL_SHA256, tool.INNER_SHA256, f"{tool.PACKAGE}=={tool.VERSION}",
                tool.INNER):
        assert pin in spec.source
    assert card["build"]["wheel_sha256"] == tool.WHEEL_SHA256
    assert card["onnx"]["sha256"] == hashlib.sha256(_onnx().read_bytes()).hexdigest()
    assert card["onnx"]["opset"] == 17 and card["onnx"]["ir_version"] <= 13
    assert card["parity"]["passed"] and tool.up_to_date(tool.paths(_onnx().parents[2])) is None


@pytest.mark.slow
def test_onnx_matches_the_torchscript_on_project_images():
    """Demo rooms and synthetic images through the package's own preprocessing and TorchScript,
    and through ``inception_input`` and onnxruntime."""
    tool = _tool()
    p = tool.paths(_onnx().parents[2])
    if not p["torchscript"].is_file():
        pytest.skip(f"cached TorchScript {p['torchscript']} absent (the set-up unpacks it)")
    import torch

    net, resample = tool.load_torchscript(p["torchscript"]), tool.package_resample(p["resample"])
    images = _rooms([5, 6], (512, 384)) + _rooms([7], (200, 310)) + [
        np.random.default_rng(0).integers(0, 256, (77, 140, 3), np.uint8)]
    ref_in = np.concatenate([tool.package_input(resample, im) for im in images])
    own_in = features.inception_input(images)
    assert np.abs(own_in - ref_in).max() < 5e-4  # the resize, float rounding only
    with torch.inference_mode():
        ref = net(torch.from_numpy(ref_in)).numpy().astype(np.float64)
    ours = features.embedder(str(_onnx()))(images)
    scale = np.abs(ref).max()
    assert ours.shape == ref.shape == (4, 2048)
    assert np.abs(ours - ref).max() <= tool.E2E_MAX_ABS
    assert np.abs(ours - ref).max() / scale <= tool.E2E_REL


def test_inception_input_resizes_as_the_package_and_scales_exactly():
    """Without torch: identity size, exact range, corner pixels sampled where the legacy resize
    samples them (j * in / 299, clamped)."""
    im = np.random.default_rng(1).integers(0, 256, (299, 299, 3), np.uint8)
    x = features.inception_input([im])[0]
    np.testing.assert_array_equal(x, im[..., ::-1].transpose(2, 0, 1) / np.float32(128) - 1)
    big = np.random.default_rng(2).integers(0, 256, (598, 897, 3), np.uint8)
    y = features.legacy_bilinear(big, 299)
    np.testing.assert_array_equal(y[0, 0], big[0, 0])
    np.testing.assert_array_equal(y[10, 20], big[20, 60])  # exact multiples: no blending
    tiny = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    z = features.legacy_bilinear(tiny, 299)
    np.testing.assert_array_equal(z[-1, -1], tiny[-1, -1])  # border clamped


# -- the Fréchet distance: two independent implementations --------------------------------

@pytest.mark.slow
def test_frechet_agrees_with_the_eigenvalue_formula_on_inception_features(room_features):
    a, b = room_features
    assert a.shape == (20, 2048) and b.shape == (20, 2048)
    fd = frechet_distance(a, b)
    (mu1, s1), (mu2, s2) = gaussian(a), gaussian(b)
    eig = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2)
                - 2 * trace_sqrt_product(s1, s2))
    assert fd > 1 and fd == pytest.approx(eig, rel=1e-3)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6 * fd)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


@pytest.mark.slow
def test_frechet_agrees_with_scipy_sqrtm_on_real_features(room_features):
    """scipy.linalg.sqrtm of S1 S2 (pytorch-fid's formula) on 256 Inception dimensions (the
    full 2048 take sqrtm ~30 s; docs/fid.md has them on IKEA photos) and on the random
    features, with more rows than dimensions too (the other branch of frechet_distance)."""
    a, b = room_features
    cols = np.argsort(-(a.var(0) + b.var(0)))[:256]
    fa, fb = a[:, cols], b[:, cols]
    assert frechet_distance(fa, fb) == pytest.approx(frechet_distance_sqrtm(fa, fb), rel=1e-3)
    rand = features.randfeat_embedder()
    ra, rb = (rand(_crops(_rooms(range(s, s + 30)), 10, s)) for s in (300, 400))
    assert len(ra) > ra.shape[1]
    assert frechet_distance(ra, rb) == pytest.approx(frechet_distance_sqrtm(ra, rb), rel=1e-3)
    assert frechet_distance(ra[:40], rb[:40]) == pytest.approx(
        frechet_distance_sqrtm(ra[:40], rb[:40]), rel=1e-3)


def test_frechet_refuses_unusable_input():
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(np.zeros((1, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="widths differ"):
        frechet_distance(np.zeros((3, 4)), np.zeros((3, 5)))


# -- which extractor the evaluation uses --------------------------------------------------

def test_the_evaluation_picks_inception_by_default_and_names_it(tmp_path, monkeypatch, caplog):
    from adstage.evaluation import evaluate

    path = features.fid_model_path("")
    assert path == str(_onnx())
    assert features.extractor_name(path) == features.INCEPTION_NAME == "adstage-fid-inception"
    assert features.embedder(path).name == features.INCEPTION_NAME
    assert features.fid_model_path("off") == "" and features.extractor_name("") == \
        features.RANDFEAT_NAME
    with pytest.raises(FileNotFoundError):
        features.fid_model_path(str(tmp_path / "nope.onnx"))
    with pytest.raises(ValueError, match="TorchScript"):
        features.fid_model_path(str(tmp_path / "inception.pt"))
    assert evaluate.SEAM_EXTRACTOR == features.RANDFEAT_NAME
    # No set-up build in this home: the random features, and a warning line saying so.
    monkeypatch.setenv("HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="adstage.evaluation.features"):
        assert features.fid_model_path("") == ""
    assert "falling back to adstage-randfeat-v1" in caplog.text
    # Another ONNX without a card is named by its file, never as the set-up's Inception.
    other = tmp_path / "mine.onnx"
    other.write_bytes(b"")
    assert features.extractor_name(features.fid_model_path(str(other))) == "onnx:mine.onnx"


def test_the_executors_embed_whole_images_with_inception_and_patches_with_randfeat(spark,
                                                                                settings):
    """embed_frame on Spark: the Inception bytes travel in the closure, each row gets a 2048-d
    whole-image vector and 256-d seam patch vectors; _collect keeps the two widths apart."""
    from adstage.evaluation.evaluate import _collect, embed_frame
    from adstage.imagestore import ImageStore

    store = ImageStore(settings.image_store_uri)
    rooms = _rooms(range(40, 46), (320, 240))
    rows = []
    for i, img in enumerate(rooms):
        mask = np.zeros(img.shape[:2], np.uint8)
        mask[80:180, 100:220] = 255
        gen = i % 2 == 0
        rows.append(("gen" if gen else "real", "copy_paste" if gen else None, f"k{i}",
                     store.put_image(img), store.put_image(mask) if gen else None))
    todo = spark.createDataFrame(rows, "kind string, method string, key string, uri string, "
                                       "mask_uri string")
    out = embed_frame(todo.repartition(2), settings, str(_onnx())).collect()
    assert not [r["error"] for r in out if r["error"]]
    assert {len(r["whole"]) for r in out} == {2048}
    assert {len(r["patches"]) // r["n_patches"] for r in out} == {256}
    sets = _collect(out)
    assert sets["copy_paste"].whole.shape == (3, 2048)
    assert sets[None].patches.shape[1] == 256
    direct = features.embedder(str(_onnx()))([rooms[0]])[0]
    np.testing.assert_allclose(sets["copy_paste"].whole[0], direct, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_the_nightly_evaluation_imports_no_torch():
    code = f"""
import importlib.util, sys
import numpy as np
import adstage.evaluation, adstage.evaluation.evaluate, adstage.evaluation.features
import adstage.evaluation.frechet, adstage.evaluation.kid, adstage.evaluation.seam
spec = importlib.util.spec_from_file_location("evaluate_job", {str(ROOT / "jobs" / "evaluate.py")!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
from adstage.evaluation import features
from adstage.evaluation.frechet import frechet_distance
embed = features.embedder(features.fid_model_path(""))
assert embed.name == "adstage-fid-inception", embed.name
f = embed([np.full((64, 80, 3), v, np.uint8) for v in (10, 120, 240)])
frechet_distance(f, f[::-1])
features.randfeat_embedder()(np.zeros((2, 32, 32, 3), np.uint8))
bad = [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
assert not bad, bad
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]
