"""The night plan's decision, on small Delta tables written with delta-rs (it reads only their
`ds` and `reason` columns): one application only when nothing in the catalog changed since a
complete night and that night left no transient failure to retry."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from adstage.night_plan import (CHANGE_TABLES, NIGHT_TABLES, ONE_APP, PER_STAGE, decide, main)
from conftest import make_settings

D0, D1 = "2026-11-24", "2026-11-25"


def put(settings, table: str, *dates: str, reasons: list[str] | None = None) -> None:
    cols = {"ds": pa.array([dt.date.fromisoformat(d) for d in dates], pa.date32())}
    if reasons is not None:
        cols["reason"] = pa.array(reasons, pa.string())
    write_deltalake(settings.table_uri(table), pa.table(cols), mode="append")


@pytest.fixture
def night(tmp_path):
    """A complete night D0: every per-date table has rows of D0, the catalog was ingested then."""
    settings = make_settings(tmp_path)
    for table in NIGHT_TABLES + CHANGE_TABLES:
        put(settings, table, D0, D0)
    put(settings, "staging_rejects", D0, reasons=["no_donor"])
    return settings


def test_unchanged_catalog_after_a_complete_night_runs_in_one_app(night):
    plan = decide(night, D1)
    assert (plan.path, plan.source_ds) == (ONE_APP, D0)
    assert D0 in plan.reason


def test_a_changed_image_or_slot_since_that_night_runs_a_task_per_stage(night):
    put(night, "catalog_images", D1)
    plan = decide(night, D1)
    assert plan.path == PER_STAGE and "1 rows of catalog_images" in plan.reason
    # A re-run of D0 itself: D0's own changes are work for D0 (no earlier night here).
    assert decide(night, D0).path == PER_STAGE


@pytest.mark.parametrize("table", ["donor_slots", "shape_index_versions", "slot_reviews"])
def test_rows_of_a_vision_table_since_that_night_are_work(night, table):
    put(night, table, D1)
    assert decide(night, D1).path == PER_STAGE


def test_an_incomplete_or_missing_night_is_not_carried_from(tmp_path, night):
    assert decide(make_settings(tmp_path / "empty"), D1).reason == \
        "no earlier night to carry from"
    settings = make_settings(tmp_path / "partial")
    for table in ("staged_images", "donor_pairs"):
        put(settings, table, D0)
    plan = decide(settings, D1)
    assert plan.path == PER_STAGE and "incomplete" in plan.reason
    assert "staging_metrics" in plan.reason and "animations" in plan.reason


def test_transient_failures_of_that_night_are_retried_per_stage(night):
    put(night, "pairing_rejects", D0, D0, reasons=["internal_error", "no_match"])
    plan = decide(night, D1)
    assert plan.path == PER_STAGE and plan.reason.startswith("1 transient failures")


def test_switches_turn_the_one_app_layout_off(night):
    for flag in ("incremental", "carry_in_one_app"):
        plan = decide(make_settings(Path(night.home), **{flag: "false"}), D1)
        assert plan.path == PER_STAGE and flag in plan.reason


def test_cli_prints_the_decision(night, capsys, monkeypatch):
    monkeypatch.setenv("ADSTAGE_HOME", night.home)
    assert main(["--ds", D1]) == 0
    assert '"path": "one_app"' in capsys.readouterr().out.strip().splitlines()[-1]
