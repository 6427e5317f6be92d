"""Which way a night goes after ingest: a Spark task per stage, or every stage in one application.

On a catalog that did not change since the last complete night every downstream stage only
carries its rows forward (adstage.incremental), and what a stage then costs is a Spark task's
fixed price: JVM, session, planning, Delta commits — about 14 s of the 15–30 s each stage took
on an unchanged 1 000-product night, nine times over (docs/benchmarks.md). Such a night runs
``carry_forward`` instead: the same stages' ``run()`` in order in one Spark application
(adstage.carry_forward), so that price is paid once.

The decision only picks the execution layout, never what is written: in both layouts each
stage compares fingerprints row by row and computes whatever changed. A wrong "unchanged" (a
model promoted, an output-shaping setting edited since the last night: neither is in the
catalog) costs that work inside one application instead of nine, and ``carry_forward`` logs it.

Reads only Delta logs and ``ds`` columns with delta-rs: no JVM, a second or two.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass

from adstage.config import Settings
from adstage.incremental import RETRY_REASONS

log = logging.getLogger(__name__)

PER_STAGE, ONE_APP = "per_stage", "one_app"
# Written by ingest and the vision stages only when an image or a slot changed: a row dated
# after the last complete night means that some stage has real work.
CHANGE_TABLES = ("catalog_images", "image_labels", "product_cutouts", "donor_slots",
                 "shape_index_versions", "slot_reviews")
# Complete partitions every finished night writes (the night carried from must have them all).
NIGHT_TABLES = ("donor_pairs", "staged_images", "staging_metrics", "animations")
# Their rejects: a transient failure there is recomputed the next night, i.e. real work.
REJECT_TABLES = ("pairing_rejects", "staging_rejects")


@dataclass(frozen=True)
class NightPlan:
    ds: str
    path: str                   # PER_STAGE | ONE_APP
    reason: str
    source_ds: str | None = None   # the last complete night, carried from on ONE_APP


def decide(settings: Settings, ds: str) -> NightPlan:
    """The layout for the night of `ds`, ingest having run (see the module docstring)."""
    def per_stage(why: str) -> NightPlan:
        return NightPlan(ds, PER_STAGE, why)

    if not settings.incremental:
        return per_stage("incremental=false: every stage recomputes everything")
    if not settings.carry_in_one_app:
        return per_stage("carry_in_one_app=false")
    day = dt.date.fromisoformat(ds)
    dates = {t: _dates(settings, t) for t in NIGHT_TABLES + CHANGE_TABLES}
    earlier = [d for d in dates["staged_images"] if d < day]
    if not earlier:
        return per_stage("no earlier night to carry from")
    source = max(earlier)
    missing = [t for t in NIGHT_TABLES if source not in dates[t]]
    if missing:
        return per_stage(f"the night of {source} is incomplete: no rows in {', '.join(missing)}")
    since = {t: n for t in CHANGE_TABLES
             if (n := sum(c for d, c in dates[t].items() if source < d <= day))}
    if since:
        return per_stage(f"changed since {source}: " + ", ".join(
            f"{n} rows of {t}" for t, n in since.items()))
    retry = _retry_rows(settings, source.isoformat())
    if retry:
        return per_stage(f"{retry} transient failures of {source} to retry")
    return NightPlan(ds, ONE_APP, f"nothing in the catalog changed since {source}",
                     source.isoformat())


def _dates(settings: Settings, table: str) -> dict[dt.date, int]:
    """Rows per logical date of a table ({} when it does not exist yet)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        column = DeltaTable(settings.table_uri(table)).to_pyarrow_table(columns=["ds"])["ds"]
    except TableNotFoundError:
        return {}
    counts = column.value_counts()
    return {v["values"].as_py(): v["counts"].as_py() for v in counts if v["values"].is_valid}


def _retry_rows(settings: Settings, ds: str) -> int:
    from deltalake.exceptions import TableNotFoundError

    from adstage.report import read_table

    n = 0
    for table in REJECT_TABLES:
        try:
            n += int(read_table(settings, table, ["reason"], ds)["reason"].isin(
                RETRY_REASONS).sum())
        except TableNotFoundError:  # no rejects yet: no failures either
            continue
    return n


def main(argv: list[str] | None = None) -> int:
    """CLI (`jobs/plan_night.py`): print the decision for a date as JSON, exit 0."""
    from adstage.jobrunner import guarded, job_parser, load_settings

    args = job_parser("plan_night", __doc__).parse_args(argv)

    def plan_and_print() -> int:
        plan = decide(load_settings(args), args.ds)
        log.info("night ds=%s: %s (%s)", plan.ds, plan.path, plan.reason)
        print(json.dumps(asdict(plan)))
        return 0

    return guarded("plan_night", args.ds, plan_and_print)
