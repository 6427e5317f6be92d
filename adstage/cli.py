"""The `adstage` command: one entry for data engineers.

    adstage tables                 list every table: Delta version, rows, latest logical date
    adstage show TABLE [-n N]      print a table's newest rows (delta-rs, no Spark)
    adstage ingest --ds D --feed F run the ingest job in-process (local Spark)
    adstage demo-catalog --out DIR generate the embedded demo catalog
    adstage jars [--print]         fetch / list the Delta jars for spark-submit
    adstage paths                  where tables, images and the MLflow store live
    adstage runs [-n N]            the latest MLflow runs: job, logical date, status, metrics
    adstage staging [--ds D]       a date's staging: images per method, rejects, metrics, gallery
    adstage why PRODUCT [--ds D]   one product's night: labels, cutouts, donors, fit, staging
    adstage block-slot SLOT --reason R [--ds D] [--allow]
                                   keep a bad donor slot out of pairing from night D on
    adstage models                 registered models, their versions and aliases (champion)
    adstage promote NAME VERSION   point NAME's champion alias at VERSION (promote / roll back)

Your own catalog (README.md, "Run on your own catalog"): set ADSTAGE_HOME (local state),
ADSTAGE_FEED_URI (the feed, {ds} = the logical date), ADSTAGE_ALLOWED_ROOTS (folders images may
be read from) and ADSTAGE_CATEGORIES (accepted categories, "" = any); then
`python jobs/ingest.py --ds D` for one job, or the whole night with
`python -m tools.airflow_local run adstage_nightly D` from a checkout (dev tooling, not in the
wheel; AIRFLOW_HOME, default ./var/airflow).
Every setting is an ADSTAGE_<FIELD> variable or --conf FIELD=VALUE (adstage.config.Settings).
"""
from __future__ import annotations

import argparse
import sys

from adstage.config import Settings, parse_overrides

# Subcommands that are whole programs of their own (the same code spark-submit runs).
DELEGATED = {"ingest": "adstage.ingest", "demo-catalog": "adstage.demo.catalog",
             "jars": "adstage.jars"}


def _settings(args) -> Settings:
    return Settings.load(parse_overrides(getattr(args, "conf", None)))


def _tables(args) -> int:
    from adstage.report import describe, format_tables

    print(format_tables(describe(_settings(args))))
    return 0


def _show(args) -> int:
    import pandas as pd

    from adstage.report import read_table

    df = read_table(_settings(args), args.table)
    if "ds" in df.columns:
        df = df.sort_values("ds", ascending=False, kind="stable")
    with pd.option_context("display.max_columns", 20, "display.width", 200,
                           "display.max_colwidth", 60):
        print(df.head(args.n).to_string(index=False))
    print(f"({len(df)} rows)")
    return 0


def _paths(args) -> int:
    s = _settings(args)
    print(f"warehouse     {s.warehouse_uri}")
    print(f"image store   {s.image_store_uri}")
    print(f"MLflow store  {s.tracking_uri}  (experiment {s.mlflow_experiment})")
    print(f"MLflow UI     mlflow ui --backend-store-uri {s.tracking_uri}")
    return 0


def _runs(args) -> int:
    from adstage.tracking import recent_runs

    rows = recent_runs(_settings(args), args.n)
    if not rows:
        print("no MLflow runs yet")
    for r in rows:
        print("  ".join(f"{k}={v}" for k, v in r.items()))
    return 0


def _staging(args) -> int:
    from adstage.report import staging_summary

    print(staging_summary(_settings(args), args.ds))
    return 0


def _date(text: str) -> str:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _why(args) -> int:
    from adstage.trace import product_trace

    print(product_trace(_settings(args), args.product_id, args.ds))
    return 0


def _block_slot(args) -> int:
    import datetime as dt

    from adstage import slot_reviews

    verdict = slot_reviews.ALLOWED if args.allow else slot_reviews.BLOCKED
    ds = args.ds or dt.datetime.now(dt.timezone.utc).date().isoformat()
    try:
        row = slot_reviews.record(_settings(args), args.slot_id, verdict, args.reason, ds,
                                  args.reviewer)
    except ValueError as exc:
        print(f"adstage block-slot: {exc}", file=sys.stderr)
        return 2
    print(f"slot {row['slot_id']} {row['verdict']} from the night of {row['ds']} on "
          f"({row['reason']}; {row['reviewer']})")
    return 0


def _models(args) -> int:
    from adstage.registry import models

    rows = models(_settings(args))
    if not rows:
        print("no registered models: the jobs use the files shipped in models/")
    for m in rows:
        aliases = ", ".join(f"@{a}=v{v}" for a, v in sorted(m["aliases"].items())) or "no alias"
        print(f"{m['name']:<34} versions {m['versions']}  {aliases}")
    return 0


def _promote(args) -> int:
    from adstage.registry import promote

    before = promote(_settings(args), args.name, args.version, args.alias)
    print(f"models:/{args.name}@{args.alias}: v{before or '-'} -> v{args.version}")
    return 0


def _version() -> str:
    """`adstage X.Y.Z` and the package folder it runs from, the shipped models' and schemas'
    folders: which clone (or installed wheel) this command is."""
    from pathlib import Path

    import adstage
    from adstage import datafiles

    found = {name: datafiles.find(name) for name in ("models", "schemas")}
    return (f"adstage {adstage.__version__} from {Path(adstage.__file__).resolve().parent}"
            + "".join(f"\n{n} {p or '(not found)'}" for n, p in found.items()))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        # These subcommands own their arguments (and their --help).
        module = __import__(DELEGATED[argv[0]], fromlist=["main"])
        return module.main(argv[1:]) or 0

    parser = argparse.ArgumentParser(prog="adstage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conf", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a setting (repeatable)")
    parser.add_argument("--version", action="version", version=_version(),
                        help="the version, and which code and data this command runs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("tables", help="list tables with version, rows, latest ds").set_defaults(fn=_tables)
    show = sub.add_parser("show", help="print a table's newest rows")
    show.add_argument("table")
    show.add_argument("-n", type=int, default=10)
    show.set_defaults(fn=_show)
    sub.add_parser("paths", help="where the data lives").set_defaults(fn=_paths)
    runs = sub.add_parser("runs", help="the latest MLflow runs")
    runs.add_argument("-n", type=int, default=10)
    runs.set_defaults(fn=_runs)
    staging = sub.add_parser("staging", help="a date's staged images, rejects, metrics, gallery")
    staging.add_argument("--ds", help="logical date (default: the latest staged)")
    staging.set_defaults(fn=_staging)
    why = sub.add_parser("why", help="one product's night: labels, cutouts, donors, fit, staging")
    why.add_argument("product_id")
    why.add_argument("--ds", type=_date, help="logical date YYYY-MM-DD (default: the latest "
                     "night that saw it)")
    why.set_defaults(fn=_why)
    block = sub.add_parser("block-slot", help="keep a donor slot out of pairing from a night on")
    block.add_argument("slot_id", help="donor_slots.slot_id (in `adstage why` and the gallery)")
    block.add_argument("--reason", required=True, help="what is wrong with it")
    block.add_argument("--ds", type=_date, help="first night it applies to (default: today, "
                       "UTC); earlier nights and their backfills are unaffected")
    block.add_argument("--allow", action="store_true", help="lift an earlier block")
    block.add_argument("--reviewer", help="who decides (default: the login name)")
    block.set_defaults(fn=_block_slot)
    sub.add_parser("models", help="registered models and aliases").set_defaults(fn=_models)
    promote = sub.add_parser("promote", help="point a model's alias at a version")
    promote.add_argument("name")
    promote.add_argument("version")
    promote.add_argument("--alias", default="champion")
    promote.set_defaults(fn=_promote)
    for name in DELEGATED:
        sub.add_parser(name, help=f"see `adstage {name} --help`", add_help=False)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
