"""The quality gate's checks on hand-made evidence: each check fails on its own fault."""
from __future__ import annotations

import pandas as pd
import pytest

from adstage.config import Settings
from adstage.quality_gate import Evidence, GateFailed, check

DS = "2026-11-24"
S = Settings.load({}, environ={})


def _metrics(rows, n_images=200):
    return pd.DataFrame([{"ds": ds, "method": "copy_paste", "extractor": ext, "fd": fd,
                          "seam_accuracy": acc, "n_images": n_images}
                         for ds, ext, fd, acc in rows])


def _evidence(**over) -> Evidence:
    base = dict(
        products={"p1", "p2", "p3", "p4"},
        staged=pd.DataFrame({"product_id": ["p1", "p2", "p3"], "method": ["copy_paste"] * 3,
                             "preservation_max": [0.0, 0.0, 0.0]}),
        rejects=pd.DataFrame({"product_id": ["p4"], "method": ["copy_paste"]}),
        ingest_rows=100, ingest_rejected=5,
        metrics=_metrics([("2026-11-22", "adstage-randfeat-v1", 10.0, 0.60),
                          ("2026-11-23", "adstage-randfeat-v1", 12.0, 0.62),
                          (DS, "adstage-randfeat-v1", 11.0, 0.61)]))
    base.update(over)
    return Evidence(**base)


def test_a_healthy_date_passes_with_its_figures():
    failures, figures = check(DS, _evidence(), S)
    assert failures == []
    assert figures["reject_share"] == 0.25 and figures["fd_baseline"] == 11.0


@pytest.mark.parametrize("fault, expected", [
    (dict(rejects=pd.DataFrame({"product_id": [], "method": []})), "neither a copy-paste image"),
    (dict(staged=pd.DataFrame({"product_id": ["p1", "p2", "p3"], "method": ["copy_paste"] * 3,
                               "preservation_max": [0.0, 3.0, 0.0]})), "changed product pixels"),
    (dict(ingest_rejected=60), "ingest refused 60%"),
    (dict(metrics=_metrics([("2026-11-23", "adstage-randfeat-v1", 10.0, 0.6),
                            (DS, "adstage-randfeat-v1", 16.0, 0.6)])), "fd 16.0000 regressed"),
    (dict(metrics=_metrics([("2026-11-23", "adstage-randfeat-v1", 10.0, 0.6),
                            (DS, "adstage-randfeat-v1", 10.0, 0.75)])), "seam_accuracy"),
    (dict(metrics=_metrics([("2026-11-23", "adstage-randfeat-v1", 10.0, 0.6)])), "did the evaluation run"),
])
def test_each_fault_fails_the_gate(fault, expected):
    failures, _ = check(DS, _evidence(**fault), S)
    assert any(expected in f for f in failures), failures


def test_too_many_rejects_fail_and_history_needs_the_same_extractor():
    ev = _evidence(staged=pd.DataFrame({"product_id": ["p1"], "method": ["copy_paste"],
                                        "preservation_max": [0.0]}),
                   rejects=pd.DataFrame({"product_id": ["p2", "p3", "p4"],
                                         "method": ["copy_paste"] * 3}))
    failures, _ = check(DS, ev, S)
    assert any("75% of products" in f for f in failures)
    # A worse FD measured with another extractor is not a regression: it is another scale.
    other = _metrics([("2026-11-23", "inception-torchscript:x.pt", 1.0, 0.5),
                      (DS, "adstage-randfeat-v1", 11.0, 0.6)])
    assert check(DS, _evidence(metrics=other), S)[0] == []


def test_regression_is_not_judged_on_too_few_images():
    worse = [("2026-11-23", "adstage-randfeat-v1", 10.0, 0.45),
             (DS, "adstage-randfeat-v1", 16.0, 0.62)]
    few = _metrics(worse, n_images=S.gate_min_regression_images - 1)
    failures, figures = check(DS, _evidence(metrics=few), S)
    assert failures == [] and "fd_baseline" not in figures
    assert figures["regression_images"] == S.gate_min_regression_images - 1
    # A well-sampled date is judged only against well-sampled past dates.
    today = _metrics(worse[1:])
    small_past = _metrics(worse[:1], n_images=S.gate_min_regression_images - 1)
    assert check(DS, _evidence(metrics=pd.concat([small_past, today])), S)[0] == []
    assert any("regressed" in f for f in check(DS, _evidence(metrics=_metrics(worse)), S)[0])


def test_failure_message_lists_every_check():
    err = GateFailed(DS, ["a", "b"])
    assert str(err).count("\n  - ") == 2 and DS in str(err)
