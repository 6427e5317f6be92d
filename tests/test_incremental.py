"""Incremental nightly runs with real Spark, Delta, MLflow and onnxruntime on a small demo
catalog: a date, the next date on the unchanged catalog (the night plan's one application:
every row carried, none computed, the partitions equal apart from ds), one product photo
changed (a task per stage again; only that product recomputed), a relevant setting and a
model version changed (everything of that stage recomputed)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from adstage import carry_forward, ingest, night_plan, registry
from adstage.demo.catalog import generate_catalog
from adstage.evaluation import evaluate
from adstage.generative.registry import PIX2PIX_MODEL
from adstage.incremental import FINGERPRINT
from adstage.stages import STAGES as STAGE_LIST
from adstage.report import read_table
from adstage.staging import animate, copy_paste, vanilla
from adstage.vision import classify, cutouts, pair_donors, shape_index
from conftest import make_settings

D0, D1, D2, D3 = "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"
STAGES = {"pairing": pair_donors, "copy_paste": copy_paste, "vanilla": vanilla,
          "evaluate": evaluate, "animate": animate}
JOBS = {"pairing": "pair_donors", "copy_paste": "stage_copy_paste", "vanilla": "stage_vanilla",
        "evaluate": "evaluate", "animate": "animate"}
TABLES = ("donor_pairs", "pairing_rejects", "donor_fit", "staged_images", "staging_rejects",
          "animations", "staging_metrics")


def _night(spark, settings, ds: str, feed: str) -> dict[str, dict]:
    """A night as the DAG runs it: ingest, the night plan, then its layout."""
    ingest.run(spark, settings, ds, feed)
    plan = night_plan.decide(settings, ds)
    if plan.path == night_plan.ONE_APP:
        by_job = carry_forward.run(spark, settings, ds)
        return {"plan": plan, **{name: by_job[job] for name, job in JOBS.items()}}
    for stage in (classify, cutouts, shape_index):
        stage.run(spark, settings, ds)
    return {"plan": plan, **{name: stage.run(spark, settings, ds)
                             for name, stage in STAGES.items()}}


@pytest.fixture(scope="module")
def nights(spark, tmp_path_factory):
    home = tmp_path_factory.mktemp("incremental")
    summary = generate_catalog(home / "catalog", 10, seed=7, ds=D0)
    # Ten products hold one of each demo shape: like-for-like pairing would find no donor of
    # the product's own category, and this module tests carrying rows, not the pairing rule.
    settings = make_settings(home, allowed_roots=str(home / "catalog"), onnx_device="cpu",
                             eval_holdout_share="0.5", parallax_seconds="0.5",
                             pairing_like_only="false")
    # One product photo blank: no cutout, so a pairing and a staging reject on every date (the
    # carried partitions compared below are then never all empty by chance of the catalog).
    blank = sorted((home / "catalog" / "images" / "products").glob("*.png"))[-1]
    cv2.imwrite(str(blank), np.full_like(cv2.imread(str(blank)), 255))
    first = _night(spark, settings, D0, summary["feed"])
    same = _night(spark, settings, D1, summary["feed"])
    # One product copy-paste staged: its own photo mirrored (its staged photo, a donor, is
    # another image and stays as it is, so no shape index changes).
    staged = read_table(settings, "staged_images", ds=D1)
    changed = sorted(staged[staged.method == "copy_paste"].product_id)[0]
    photo = home / "catalog" / "images" / "products" / f"{changed}.png"
    cv2.imwrite(str(photo), cv2.flip(cv2.imread(str(photo)), 1))
    edited = _night(spark, settings, D2, summary["feed"])
    return settings, changed, {D0: first, D1: same, D2: edited}


def _rows(settings, table: str, ds: str) -> pd.DataFrame:
    df = read_table(settings, table, ds=ds).drop(columns=["ds"])
    key = [c for c in ("product_id", "method", "rank", "slot_id") if c in df.columns]
    return df.sort_values(key).reset_index(drop=True)


def test_the_night_plan_runs_only_the_unchanged_night_in_one_app(nights):
    import mlflow

    settings, _, metrics = nights
    plans = {ds: m["plan"] for ds, m in metrics.items()}
    assert plans[D0].path == night_plan.PER_STAGE and "no earlier night" in plans[D0].reason
    assert (plans[D1].path, plans[D1].source_ds) == (night_plan.ONE_APP, D0)
    assert plans[D2].path == night_plan.PER_STAGE
    assert plans[D2].reason == f"changed since {D1}: 1 rows of catalog_images"
    # Each stage still has its own MLflow run, named for its job, tagged with the layout.
    mlflow.set_tracking_uri(settings.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[settings.mlflow_experiment],
                              filter_string=f"tags.`adstage.ds` = '{D1}'")
    assert sorted(runs["tags.adstage.job"]) == sorted(s.job for s in STAGE_LIST)
    assert set(runs["tags.adstage.night_path"]) == {"one_app"}
    assert set(runs["status"]) == {"FINISHED"}


def test_unchanged_catalog_carries_every_row(nights):
    settings, _, metrics = nights
    for name, m in metrics[D1].items():
        if name == "plan":
            continue
        assert m["incremental.computed"] == 0, name
        assert m["incremental.carried"] > 0, name
        assert m["incremental.carried"] == metrics[D0][name]["incremental.computed"], name
    # The fit pass before the slot quota judges nothing either: every verdict carried.
    assert metrics[D1]["copy_paste"]["fit.computed"] == 0
    assert metrics[D1]["copy_paste"]["fit.carried"] == metrics[D0]["copy_paste"]["fit.computed"] > 0
    for table in TABLES:
        before, after = _rows(settings, table, D0), _rows(settings, table, D1)
        assert len(before) > 0, table
        pd.testing.assert_frame_equal(before, after, obj=table)
    carried = read_table(settings, "staged_images", ds=D1)
    assert carried[FINGERPRINT].notna().all() and carried["seam_score"].notna().any()


def test_a_changed_photo_recomputes_only_its_product(nights):
    settings, changed, metrics = nights
    for name in ("pairing", "copy_paste", "vanilla", "animate"):
        assert metrics[D2][name]["incremental.computed"] == 1, name
        assert metrics[D2][name]["incremental.carried"] == \
            metrics[D1][name]["incremental.carried"] - 1, name
    assert metrics[D2]["copy_paste"]["fit.computed"] == 1
    # Statistics over the whole set: recomputed when any image of the set changed.
    assert metrics[D2]["evaluate"]["incremental.carried"] == 0
    assert metrics[D2]["evaluate"]["incremental.computed"] > 0
    for table in ("donor_pairs", "donor_fit", "staged_images", "animations"):
        before, after = _rows(settings, table, D1), _rows(settings, table, D2)
        keep = [c for c in before.columns if c not in ("seam_score",)]
        others = lambda df: df[df.product_id != changed][keep].reset_index(drop=True)
        pd.testing.assert_frame_equal(others(before), others(after), obj=table)
        mine = after[after.product_id == changed]
        assert len(mine) and set(mine[FINGERPRINT]).isdisjoint(
            before[before.product_id == changed][FINGERPRINT]), table
    new = read_table(settings, "staged_images", ds=D2).set_index(["product_id", "method"])
    old = read_table(settings, "staged_images", ds=D1).set_index(["product_id", "method"])
    assert new.loc[(changed, "copy_paste"), "output_uri"] != old.loc[(changed, "copy_paste"),
                                                                      "output_uri"]


def test_a_relevant_setting_or_model_version_invalidates_carried_rows(nights, spark):
    settings, _, metrics = nights
    n = metrics[D2]["pairing"]["incremental.carried"] + 1
    stricter = make_settings(Path(settings.home), allowed_roots=",".join(settings.allowed_roots),
                             onnx_device="cpu", eval_holdout_share="0.5",
                             pairing_min_similarity="0.55")
    m = pair_donors.run(spark, stricter, D3)
    assert (m["incremental.computed"], m["incremental.carried"]) == (n, 0)
    # A new pix2pix version in the registry (same weights, new version): vanilla recomputes all.
    folder = registry.MODELS_DIR / "generative"
    card = json.loads((folder / "pix2pix.card.json").read_text())
    version = registry.register_onnx(settings, folder / "pix2pix.onnx", PIX2PIX_MODEL, card)
    m = vanilla.run(spark, settings, D3)
    assert (m["incremental.computed"], m["incremental.carried"]) == (n, 0)
    rows = read_table(settings, "staged_images", ds=D3)
    assert rows[rows.method == "vanilla"]["model_versions"].map(
        lambda v: f"{PIX2PIX_MODEL}@{version}" in list(v)).all()


def test_cuda_fp16_is_in_the_copy_paste_salt_only_where_it_may_run(tmp_path):
    """fp16 generators give other pixels: a night switched to them recomputes copy-paste; on
    CPU the switch does nothing, and fp32 nights keep the salt they always had."""
    params = copy_paste.CopyPasteParams.from_settings(make_settings(tmp_path))
    salt = lambda **kw: copy_paste.salt(
        make_settings(tmp_path, **{"staging_gap_fill": "edgeconnect", **kw}), params, ["m@1"])
    fp32 = salt()
    assert salt(onnx_cuda_fp16="true") != fp32
    assert salt(onnx_cuda_fp16="true", onnx_device="cpu") == fp32 == salt(onnx_device="cuda")
    # Telea runs no network: fp16 changes nothing there.
    assert salt(onnx_cuda_fp16="true", staging_gap_fill="telea") == salt(staging_gap_fill="telea")
