"""Training and export jobs end to end on a tiny config: MLflow run, checkpoint, ONNX, @champion."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adstage.config import Settings
from adstage.generative import cli, registry

ROOT = Path(__file__).resolve().parents[1]
TINY_EC = ["--size", "32", "--batch-size", "2", "--base-channels", "8", "--res-blocks", "1",
           "--disc-channels", "8", "--steps", "2", "--log-every", "1", "--sample-every", "2", "--threads", "1"]


@pytest.mark.slow
@pytest.mark.parametrize("job", ["train_edgeconnect", "train_pix2pix", "export_models"])
def test_jobs_have_help(job):
    res = subprocess.run([sys.executable, str(ROOT / "jobs" / f"{job}.py"), "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "usage" in res.stdout


@pytest.mark.slow
def test_train_export_register_load(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("ADSTAGE_HOME", str(home))
    out = tmp_path / "ec"
    assert cli.train_edgeconnect_main(TINY_EC + ["--out-dir", str(out)]) == 0
    p2p_out = tmp_path / "p2p"
    assert cli.train_pix2pix_main(["--size", "32", "--num-downs", "5", "--base-channels", "8", "--disc-channels", "8",
                                   "--steps", "2", "--batch-size", "2", "--threads", "1", "--sample-every", "2",
                                   "--out-dir", str(p2p_out)]) == 0

    import mlflow
    settings = Settings.load()
    mlflow.set_tracking_uri(settings.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[settings.mlflow_experiment])
    assert set(runs["tags.adstage.job"]) >= {"train_edgeconnect", "train_pix2pix"}
    ec_run = runs[runs["tags.adstage.job"] == "train_edgeconnect"].iloc[0]
    assert np.isfinite(ec_run["metrics.inpaint_g_l1"]) and ec_run["params.train.size"] == "32"
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(ec_run["run_id"], "samples")}
    assert "samples/step_000002.png" in arts

    models = tmp_path / "models"
    assert cli.export_models_main(["--edgeconnect", str(out / "checkpoint.pt"), "--pix2pix", str(p2p_out / "checkpoint.pt"),
                                   "--out", str(models), "--register", "--training-command", "pytest"]) == 0
    card = json.loads((models / "edgeconnect_inpaint.card.json").read_text())
    assert card["mask_polarity"].startswith("1.0 (white)") and card["canny_sigma"] == 2.0
    assert card["parity_max_abs_err_float32"] < 1e-4 and card["onnx"]["ir_version"] <= 13
    for name in (registry.EDGE_MODEL, registry.INPAINT_MODEL, registry.PIX2PIX_MODEL):
        sess = registry.load_session(settings, name)
        assert sess.get_inputs()[0].shape[0] == "batch"


@pytest.mark.slow
def test_export_takes_the_edge_generator_from_its_own_run(tmp_path, monkeypatch):
    """G1 and G2 trained as separate runs (--stage edge / --stage inpaint) export as one pair."""
    monkeypatch.setenv("ADSTAGE_HOME", str(tmp_path / "home"))
    for stage, seed in (("edge", 5), ("inpaint", 6)):
        assert cli.train_edgeconnect_main(TINY_EC + ["--stage", stage, "--seed", str(seed), "--no-mlflow",
                                                     "--out-dir", str(tmp_path / stage)]) == 0
    models = tmp_path / "models"
    assert cli.export_models_main(["--edgeconnect", str(tmp_path / "inpaint" / "checkpoint.pt"),
                                   "--edgeconnect-edge", str(tmp_path / "edge" / "checkpoint.pt"),
                                   "--out", str(models), "--limitations", "test weights"]) == 0
    cards = {s: json.loads((models / f"{s}.card.json").read_text()) for s in ("edgeconnect_edge", "edgeconnect_inpaint")}
    assert cards["edgeconnect_edge"]["training"]["config"]["stage"] == "edge"
    assert cards["edgeconnect_inpaint"]["training"]["config"]["stage"] == "inpaint"
    assert all(c["limitations"] == "test weights" and "limitations" not in c["training"] for c in cards.values())
