"""Incremental nightly run on an unchanged catalog vs the full run, per stage, side by side.

    PYTHONPATH=. .venv/bin/python bench/incremental_run.py --products 300

One demo catalog of `--products` products, one warehouse, one local Spark session: every stage
of the nightly DAG (ingest -> classify -> cutouts -> shape_index -> pair_donors -> copy-paste ->
vanilla -> evaluate -> animate -> gallery -> quality gate) run in process on date D (the full
run: nothing to carry) and then on D+1 with the same feed (the incremental run), wall time per
stage. The nightly DAG runs each stage as its own task (spark-submit: a JVM, a session, an MLflow
run); that fixed per-task cost is not in the in-process times, so it is measured apart — the
D+2 unchanged night of one Spark job (shape_index) and one plain job (quality_gate) launched as
the DAG launches them, minus the same stage's in-process time — and added per task to both runs
for the ratio as scheduled. Only ratios within one run are meaningful (shared machine: the load
average at start and end is printed).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("ingest", "classify", "cutouts", "shape_index", "pair_donors", "stage_copy_paste",
          "stage_vanilla", "evaluate", "animate", "gallery", "quality_gate")
PLAIN = ("gallery", "quality_gate")   # no Spark session: plain Python tasks
CARRYING = ("pair_donors", "stage_copy_paste", "stage_vanilla", "evaluate", "animate")


def _stage_fns(spark, settings, feed):
    from adstage import ingest, quality_gate
    from adstage.evaluation import evaluate
    from adstage.staging import animate, copy_paste, gallery, vanilla
    from adstage.vision import classify, cutouts, pair_donors, shape_index

    return {"ingest": lambda ds: ingest.run(spark, settings, ds, feed),
            "classify": lambda ds: classify.run(spark, settings, ds),
            "cutouts": lambda ds: cutouts.run(spark, settings, ds),
            "shape_index": lambda ds: shape_index.run(spark, settings, ds),
            "pair_donors": lambda ds: pair_donors.run(spark, settings, ds),
            "stage_copy_paste": lambda ds: copy_paste.run(spark, settings, ds),
            "stage_vanilla": lambda ds: vanilla.run(spark, settings, ds),
            "evaluate": lambda ds: evaluate.run(spark, settings, ds),
            "animate": lambda ds: animate.run(spark, settings, ds),
            "gallery": lambda ds: gallery.run(settings, ds),
            "quality_gate": lambda ds: _gate(quality_gate, settings, ds)}


def _gate(quality_gate, settings, ds):
    """The verdict is recorded, not required: a tiny demo may trip a reject-share limit."""
    try:
        return quality_gate.run(settings, ds)
    except quality_gate.GateFailed as exc:
        return {"gate_failures": len(exc.failures)}


def night(fns, ds: str) -> dict[str, dict]:
    out = {}
    for name in STAGES:
        t0 = time.perf_counter()
        metrics = fns[name](ds)
        metrics = metrics if isinstance(metrics, dict) else {}
        out[name] = {"seconds": round(time.perf_counter() - t0, 2),
                     "computed": metrics.get("incremental.computed"),
                     "carried": metrics.get("incremental.carried")}
        print(f"  {ds} {name:<17} {out[name]['seconds']:8.1f} s  {out[name]}", flush=True)
    return out


def task_seconds(job: str, ds: str, env: dict[str, str]) -> float:
    """Wall time of one nightly task launched as the DAG does (spark-submit for Spark jobs)."""
    from adstage.jars import jar_paths

    script = str(Path(__file__).resolve().parents[1] / "jobs" / f"{job}.py")
    if job in PLAIN:
        cmd = [sys.executable, script, "--ds", ds]
    else:
        submit = Path(sys.executable).parent / "spark-submit"
        cmd = [str(submit), "--master", "local[2]", "--jars",
               ",".join(str(p) for p in jar_paths()), script, "--ds", ds]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and job != "quality_gate"):
        raise RuntimeError(f"{job} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=300, help="demo catalog size")
    parser.add_argument("--ds", default="2026-11-24", help="date of the full run (D)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", help="keep catalog and warehouse here (default: a temp dir)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)

    from adstage import logs
    from adstage.config import Settings
    from adstage.demo.catalog import generate_catalog
    from adstage.spark import get_session

    load_start = os.getloadavg()
    home = Path(args.workdir or tempfile.mkdtemp(prefix="adstage-bench-incremental-")).resolve()
    d0 = dt.date.fromisoformat(args.ds)
    d1, d2 = (str(d0 + dt.timedelta(days=k)) for k in (1, 2))
    summary = generate_catalog(home / "catalog", args.products, seed=args.seed, ds=args.ds)
    conf = {"home": str(home), "allowed_roots": str(home / "catalog"), "onnx_device": "cpu",
            "shuffle_partitions": "2", "log_level": "WARNING"}
    settings = Settings.load(conf, environ={})
    logs.setup(settings.log_level)
    spark = get_session(settings, "adstage-bench-incremental")
    try:
        fns = _stage_fns(spark, settings, summary["feed"])
        print(f"full run {args.ds}, {args.products} products:", flush=True)
        full = night(fns, args.ds)
        print(f"incremental run {d1}, unchanged catalog:", flush=True)
        incr = night(fns, d1)
    finally:
        spark.stop()

    # The per-task cost the in-process times leave out, on the D+2 unchanged night.
    env = {**os.environ, **{f"ADSTAGE_{k.upper()}": v for k, v in conf.items()},
           "ADSTAGE_FEED_URI": summary["feed"]}
    per_task = {}
    for job, stage in (("ingest", "ingest"), ("shape_index", "shape_index"),
                       ("quality_gate", "quality_gate")):
        if job == "ingest":  # D+2's catalog rows must exist for the later jobs to be no-ops
            task_seconds(job, d2, env)
            continue
        per_task[job] = round(task_seconds(job, d2, env) - incr[stage]["seconds"], 2)
    spark_tasks = len(STAGES) - len(PLAIN)
    fixed = spark_tasks * per_task["shape_index"] + len(PLAIN) * per_task["quality_gate"]
    full_s = sum(r["seconds"] for r in full.values())
    incr_s = sum(r["seconds"] for r in incr.values())
    result = {
        "products": args.products, "ds": [args.ds, d1], "load_start": load_start,
        "load_end": os.getloadavg(), "cpus": os.cpu_count(),
        "full": full, "incremental": incr, "full_s": round(full_s, 1),
        "incremental_s": round(incr_s, 1), "ratio_in_process": round(incr_s / full_s, 4),
        "per_task_overhead_s": per_task, "fixed_overhead_s": round(fixed, 1),
        "ratio_as_scheduled": round((incr_s + fixed) / (full_s + fixed), 4),
        "carrying_stages_full_s": round(sum(full[s]["seconds"] for s in CARRYING), 1),
        "carrying_stages_incremental_s": round(sum(incr[s]["seconds"] for s in CARRYING), 1),
    }
    print("\n| stage | full run (s) | incremental (s) | ratio | computed / carried |")
    print("| --- | --- | --- | --- | --- |")
    for s in STAGES:
        f, i = full[s], incr[s]
        cc = "" if i["computed"] is None else f"{i['computed']} / {i['carried']}"
        print(f"| {s} | {f['seconds']:.1f} | {i['seconds']:.1f} | "
              f"{i['seconds'] / max(f['seconds'], 1e-9):.3f} | {cc} |")
    print(f"| **total in process** | {full_s:.1f} | {incr_s:.1f} | "
          f"{result['ratio_in_process']:.3f} | |")
    print(f"| **as scheduled** (+ {spark_tasks} × {per_task['shape_index']:.1f} s spark-submit, "
          f"{len(PLAIN)} × {per_task['quality_gate']:.1f} s plain task) | {full_s + fixed:.1f} | "
          f"{incr_s + fixed:.1f} | {result['ratio_as_scheduled']:.3f} | |")
    print(f"load average start {load_start}, end {result['load_end']}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
