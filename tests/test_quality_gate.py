"""The quality gate's checks on hand-made evidence: each check fails on its own fault."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from deltalake import write_deltalake

from adstage.config import Settings
from adstage.quality_gate import Evidence, GateFailed, check, even_top_share, gather, main
from conftest import make_settings

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
        ingest_rows=100, ingest_rows_rejected=5, ingest_images=150, ingest_images_rejected=9,
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
    (dict(ingest_rows_rejected=60), "ingest refused 60% of feed rows (60 of 100"),
    (dict(ingest_images_rejected=60), "ingest refused 40% of images (60 of 150"),
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
    assert any("75% of the products with a like slot category" in f for f in failures)
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


def test_rows_and_images_are_two_shares():
    """A share of rows and images added together judged neither: 25 refused images of 100
    beside 100 clean rows read as 12.5 %; each is its own share now."""
    failures, figures = check(DS, _evidence(ingest_rows=100, ingest_rows_rejected=0,
                                            ingest_images=60, ingest_images_rejected=25), S)
    assert figures["ingest_rows_reject_share"] == 0.0
    assert figures["ingest_images_reject_share"] == round(25 / 60, 4)
    assert failures == ["ingest refused 42% of images (25 of 60; > 30%)"]


# ---- the job: its evidence and its MLflow run (real Delta tables, a real MLflow store) -----

def _tables(settings, metrics_methods=("copy_paste",)):
    def put(name, rows, **types):
        write_deltalake(settings.table_uri(name), pd.DataFrame(rows).astype(types),
                        mode="overwrite")

    put("product_cutouts", [{"ds": DS, "product_id": "p1"}])
    put("staged_images", [{"ds": DS, "product_id": "p1", "method": "copy_paste",
                           "preservation_max": 0.0}])
    put("staging_rejects", [{"ds": DS, "product_id": "p0", "method": "vanilla"}])
    put("staging_metrics", [{"ds": DS, "method": m, "extractor": "adstage-randfeat-v1",
                             "fd": 1.0, "seam_accuracy": 0.5, "n_images": 1}
                            for m in metrics_methods])


def _ingest_run(settings, **metrics):
    import mlflow

    from adstage import tracking

    with tracking.job_run(settings, "ingest", DS):
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})


def _gate_runs(settings):
    from mlflow import MlflowClient

    from adstage import tracking

    tracking.configure(settings)
    exp = MlflowClient(settings.tracking_uri).get_experiment_by_name(settings.mlflow_experiment)
    runs = MlflowClient(settings.tracking_uri).search_runs(
        [exp.experiment_id], "tags.`adstage.job` = 'quality_gate'")
    return [(r.info.status, r.data.tags.get("adstage.gate")) for r in runs]


@pytest.mark.slow
def test_the_ingest_figures_come_from_the_dates_ingest_run(tmp_path):
    settings = make_settings(tmp_path)
    _tables(settings)
    with pytest.raises(RuntimeError, match="no finished ingest run for 2026-11-24"):
        gather(settings, DS)
    _ingest_run(settings, feed_rows=10, rows_rejected=2, images_in=12, images_rejected=3)
    ev = gather(settings, DS)
    assert (ev.ingest_rows, ev.ingest_rows_rejected, ev.ingest_images,
            ev.ingest_images_rejected) == (10, 2, 12, 3)


@pytest.mark.slow
def test_a_failed_gate_ends_its_mlflow_run_failed(tmp_path, monkeypatch):
    """It used to return 1 from inside the run, which MLflow closed as FINISHED."""
    settings = make_settings(tmp_path)
    for k in [k for k in __import__("os").environ if k.startswith("ADSTAGE_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("ADSTAGE_HOME", str(tmp_path))
    _tables(settings, metrics_methods=("vanilla",))   # no copy-paste figures: a failed check
    _ingest_run(settings, feed_rows=10, rows_rejected=0, images_in=10, images_rejected=0)
    assert main(["--ds", DS]) == 1
    assert _gate_runs(settings) == [("FAILED", "fail")]
    _tables(settings)  # the copy-paste figures are there now: it passes
    assert main(["--ds", DS]) == 0
    assert sorted(_gate_runs(settings)) == [("FAILED", "fail"), ("FINISHED", "pass")]


def test_a_product_no_detector_can_stage_is_counted_apart_not_as_a_reject():
    rejects = pd.DataFrame({"product_id": ["p3", "p4"], "method": ["copy_paste"] * 2,
                            "detail": ["no_like_slot: category 'lamp' has no detector class",
                                       "no_compatible_donor: ..."]})
    staged = pd.DataFrame({"product_id": ["p1", "p2"], "method": ["copy_paste"] * 2,
                           "preservation_max": [0.0, 0.0]})
    failures, figures = check(DS, _evidence(staged=staged, rejects=rejects), S)
    assert figures["no_like_slot"] == 1 and figures["reject_share"] == round(1 / 3, 4)


def _spread(slots: list[str], categories: list[str]) -> Evidence:
    n = len(slots)
    staged = pd.DataFrame({"product_id": [f"p{i}" for i in range(n)],
                           "method": ["copy_paste"] * n, "preservation_max": [0.0] * n,
                           "slot_id": slots, "category": categories})
    return _evidence(products=set(staged["product_id"]), staged=staged,
                     rejects=pd.DataFrame({"product_id": [], "method": []}),
                     slot_categories={s: "chair" for s in slots}, usable_slots={"chair": 40})


def test_copy_paste_piled_on_a_handful_of_slots_or_on_unlike_slots_fails():
    spread = _spread([f"s{i % 20}" for i in range(40)], ["chair"] * 40)
    failures, figures = check(DS, spread, S)
    assert not [f for f in failures if "slot" in f] and figures["top_slots_share"] == 0.25
    piled = _spread([f"s{i % 3}" for i in range(40)], ["armchair"] * 40)
    assert any("most used donor slots" in f for f in check(DS, piled, S)[0])
    # Three chair slots for forty chairs: the pile-up is the catalog's, not the pairing's.
    few = replace(piled, usable_slots={"chair": 3})
    failures, figures = check(DS, few, S)
    assert figures["top_slots_share_even"] == 1.0
    assert not any("most used donor slots" in f for f in failures)
    unlike = _spread([f"s{i % 20}" for i in range(40)], ["sofa"] * 40)
    failures, figures = check(DS, unlike, S)
    assert figures["unlike_slot_share"] == 1.0
    assert any("another category" in f for f in failures)


def test_the_even_spread_floor_weighs_each_category_by_its_own_slots():
    # 30 chairs over 3 chair slots (10 each), 10 sofas over 10 sofa slots (1 each):
    # the five busiest slots hold 10 + 10 + 10 + 1 + 1 of 40 images whatever pairing does.
    assert even_top_share({"chair": 30, "sofa": 10}, {"chair": 3, "sofa": 10}, 5) == 32 / 40
    # A category with no usable slot recorded counts as one slot (its images pile by force).
    assert even_top_share({"bed": 4}, {}, 5) == 1.0
