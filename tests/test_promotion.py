"""Champion / challenger promotion (adstage.promotion) against a real MLflow registry."""
from __future__ import annotations

import math

import pytest

from adstage.promotion import decide, register_candidate
from adstage.registry import MODELS_DIR, promote

ONNX = MODELS_DIR / "classifier" / "classifier.onnx"


@pytest.mark.parametrize("candidate, champion, higher, tolerance, promote_", [
    (0.80, 0.80, True, 0.0, True),      # a tie is "at least as good"
    (0.79, 0.80, True, 0.0, False),
    (0.79, 0.80, True, 0.02, True),     # within tolerance
    (0.10, 0.12, False, 0.0, True),     # lower is better
    (0.13, 0.12, False, 0.0, False),
    (0.50, None, True, 0.0, True),      # no champion figure: the first model is promoted
    (0.50, math.nan, False, 0.0, True),
    (math.nan, 0.12, False, 0.0, False),  # a candidate the set cannot score never is
])
def test_decide(candidate, champion, higher, tolerance, promote_):
    verdict = decide("m", candidate, champion, higher_is_better=higher, tolerance=tolerance)
    assert verdict.promote is promote_
    assert verdict.reason


@pytest.mark.slow
def test_champion_moves_only_for_a_candidate_at_least_as_good(settings):
    from mlflow import MlflowClient

    name = "adstage-test-model"
    first = register_candidate(settings, name, ONNX, {"name": name},
                               decide("l1", 0.20, None, higher_is_better=False))
    worse = register_candidate(settings, name, ONNX, {"name": name},
                               decide("l1", 0.25, 0.20, higher_is_better=False),
                               champion_version=first["version"])
    better = register_candidate(settings, name, ONNX, {"name": name},
                                decide("l1", 0.18, 0.20, higher_is_better=False),
                                champion_version=first["version"])
    assert [r["promoted"] for r in (first, worse, better)] == [True, False, True]
    assert (worse["alias_before"], worse["alias_after"]) == (first["version"],) * 2
    assert better["alias_after"] == better["version"] != first["version"]

    client = MlflowClient(settings.tracking_uri)
    tags = client.get_model_version(name, worse["version"]).tags
    assert tags["adstage.promotion.decision"] == "kept_champion"
    assert "worse than champion 0.2" in tags["adstage.promotion.reason"]
    assert tags["adstage.promotion.champion_version"] == first["version"]
    run = client.get_run(worse["run_id"])
    assert run.data.tags["adstage.promotion.decision"] == "kept_champion"
    assert run.data.metrics["candidate_l1"] == 0.25 and run.data.metrics["champion_l1"] == 0.2
    # The refused version is still registered: a person can promote it, and roll back.
    assert promote(settings, name, worse["version"]) == better["version"]
    assert str(client.get_model_version_by_alias(name, "champion").version) == worse["version"]
