"""Register an exported generator in MLflow, load it back by alias, run it in onnxruntime."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from adstage.config import Settings
from adstage.generative import edgeconnect as ec
from adstage.generative import export as ex
from adstage.generative import registry

torch.set_num_threads(1)


def _export(tmp_path, seed):
    torch.manual_seed(seed)
    model = ex.InpaintExport(ec.InpaintGenerator(8, 1))
    s = [torch.rand(1, 3, 16, 16), torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)]
    return ex.export_onnx(model, s, tmp_path / f"inpaint{seed}.onnx", ["image", "edges", "hole"], ["image_out"])


@pytest.mark.slow
def test_register_alias_and_load_in_onnxruntime(tmp_path, monkeypatch):
    monkeypatch.setenv("ADSTAGE_HOME", str(tmp_path / "home"))
    settings = Settings.load()
    name = "adstage-test-inpaint"
    v1 = registry.register_onnx(settings, _export(tmp_path, 0), name, {"resolution": 16, "canny_sigma": 2.0})
    v2 = registry.register_onnx(settings, _export(tmp_path, 1), name, {"resolution": 16})
    assert (v1, v2) == ("1", "2")

    sess = registry.load_session(settings, name)  # models:/<name>@champion -> version 2
    feeds = {"image": np.random.rand(2, 3, 24, 20).astype(np.float32),
             "edges": np.zeros((2, 1, 24, 20), np.float32),
             "hole": np.ones((2, 1, 24, 20), np.float32)}
    out = sess.run(None, feeds)[0]
    import onnxruntime as ort
    direct = ort.InferenceSession(str(tmp_path / "inpaint1.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(out, direct.run(None, feeds)[0], atol=1e-6)

    # A model that ships no file and is not registered fails loudly, by name.
    with pytest.raises(LookupError, match="adstage-not-registered@champion"):
        registry.load_session(settings, "adstage-not-registered")

    # The nightly path: a fresh interpreter loads by alias without importing torch.
    code = ("import sys, numpy as np; from adstage.config import Settings; "
            "from adstage.generative.registry import load_session; "
            f"s = load_session(Settings.load(), {name!r}); "
            "s.run(None, {'image': np.zeros((1,3,16,16),'f'), 'edges': np.zeros((1,1,16,16),'f'), 'hole': np.ones((1,1,16,16),'f')}); "
            "assert 'torch' not in sys.modules; print('ok')")
    env = dict(os.environ, ADSTAGE_HOME=str(tmp_path / "home"))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-2000:]


@pytest.mark.slow
def test_promote_and_roll_back_the_champion(tmp_path, monkeypatch, capsys):
    from adstage import cli
    from adstage import registry as reg

    monkeypatch.setenv("ADSTAGE_HOME", str(tmp_path / "home"))
    settings = Settings.load()
    name = "adstage-test-promote"
    for seed in (0, 1):
        registry.register_onnx(settings, _export(tmp_path, seed), name, {})
    assert registry.resolve(settings, name).version == "2"
    assert cli.main(["promote", name, "1"]) == 0  # roll back
    assert "v2 -> v1" in capsys.readouterr().out
    assert registry.resolve(settings, name).version == "1"  # what the next job loads
    assert cli.main(["models"]) == 0
    assert f"{name}" in capsys.readouterr().out and [m for m in reg.models(settings)
                                                      if m["name"] == name][0]["aliases"] == {"champion": "1"}
    with pytest.raises(Exception):
        reg.promote(settings, name, "7")  # no such version: refused, alias unchanged
    assert registry.resolve(settings, name).version == "1"


@pytest.mark.slow
def test_models_registered_in_one_job_run_keep_their_own_files(tmp_path, monkeypatch):
    """export_models registers several models inside its job run: each champion must be its
    own file, not the last one logged into a shared artifact folder."""
    import mlflow

    from adstage import tracking
    from adstage.generative import publish

    monkeypatch.setenv("ADSTAGE_HOME", str(tmp_path / "home"))
    settings = Settings.load()
    from adstage.registry import MODELS_DIR

    shipped = MODELS_DIR / "generative"
    tracking.configure(settings)
    with mlflow.start_run(run_name="export_models"):
        versions = publish.register_dir(settings, shipped, ["edgeconnect_edge", "pix2pix"])
    assert set(versions) == {"edgeconnect_edge", "pix2pix"}
    for stem in versions:
        got = registry.resolve(settings, publish.SPECS[stem][0])
        assert got.source == "registry"
        assert got.data == (shipped / f"{stem}.onnx").read_bytes(), stem
