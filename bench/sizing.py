"""Sizing model: executor cores (or GPUs) a nightly run of N products needs to finish in a window,
from the per-stage costs that bench/pipeline_throughput.py measured.

    PYTHONPATH=. .venv/bin/python bench/sizing.py --fit docs/bench/pipeline-40.json \\
        docs/bench/pipeline-1k.json --check docs/bench/pipeline-10k.json --out docs/bench/sizing

Per stage s, from the runs given to --fit (same number of task slots k in each):

    wall_s(N) = F_s + v_s * N / k          F_s: fixed seconds (JVM, session, Delta commit, MLflow)
                                            v_s: core-seconds per product
    cpu_s(N)  = Fc_s + c_s * N             Fc_s, c_s: the same in CPU seconds (all processes)

fitted by least squares (two runs: exact; one run: F_s = 0, all cost variable). A night of N
products on K cores in a window of T seconds, stages one after the other (the DAG's order; the
two staging jobs and evaluate/animate run side by side in the DAG, but share the same cores):

    K = ceil( sum_s v_s * N / (T - sum_s F_s) )      (wall-based)
    K = ceil( sum_s c_s * N / (T - sum_s Fc_s) )     (CPU-based)

"wall" uses what the runs took, including waiting for cores on a shared machine (an upper
bound, and a loose one where the machine was crowded); "CPU" assumes the cores are kept busy
(a lower bound; a real cluster lands between, closer to it the fuller its tasks keep them). Incremental: a share
`--change-share` of the products is new or changed and computed; the rest is carried forward at
`--carry-cost` of its full cost (both are inputs, not measured here). GPU: the stages' model time
m_s (the Python workers' CPU per product: decoding, numpy, onnxruntime; an upper bound) runs
`--gpu-speedup` times faster on one GPU than on one core - an assumption, no GPU was measured.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

WINDOW_H = 4.0


@dataclass(frozen=True)
class StageCost:
    stage: str
    fixed_s: float            # F_s, wall seconds whatever the size
    core_s: float             # v_s, wall core-seconds per product
    fixed_cpu_s: float        # Fc_s, CPU seconds whatever the size
    cpu_s: float              # c_s, CPU seconds per product
    model_s: float            # m_s, model core-seconds per product
    points: tuple[int, ...]   # catalog sizes the fit used


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(intercept, slope) by least squares; through the origin when there is one point."""
    if len(xs) == 1:
        return 0.0, ys[0] / xs[0]
    n, mx, my = len(xs), sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - slope * mx, slope


def stage_points(runs: list[dict]) -> dict[str, list[dict]]:
    """Stage -> its measurements across runs: products, slots, wall, CPU, model seconds."""
    out: dict[str, list[dict]] = {}
    for run in runs:
        slots = run["meta"]["slots"]
        for s in run["stages"]:
            out.setdefault(s["stage"], []).append(
                {"n": s["products"], "slots": slots, "wall": s["wall_s"],
                 # The model's CPU, not the staging rows' `seconds`: those are wall time
                 # inside the task and grow with every other job on the cores.
                 "cpu": sum(s["cpu_s"].values()), "model": s["cpu_s"].get("python_worker", 0.0)})
    return out


def fit(runs: list[dict], min_runs: int = 1) -> list[StageCost]:
    """Per-stage costs; stages measured in fewer than `min_runs` runs are left out."""
    costs = []
    for stage, pts in stage_points(runs).items():
        if len(pts) < min_runs:
            continue
        if len({p["slots"] for p in pts}) != 1:
            raise ValueError(f"{stage}: runs with different slot counts cannot be fitted together")
        k, ns = pts[0]["slots"], [p["n"] for p in pts]
        f, b = fit_line(ns, [p["wall"] for p in pts])
        fc, c = fit_line(ns, [p["cpu"] for p in pts])
        _, m = fit_line(ns, [p["model"] for p in pts])
        # A negative intercept or slope is noise (two runs on a shared machine): clamp.
        costs.append(StageCost(stage, max(f, 0.0), max(b, 0.0) * k, max(fc, 0.0), max(c, 0.0),
                               max(m, 0.0), tuple(sorted(ns))))
    return costs


def predict_wall(c: StageCost, n: int, slots: int) -> float:
    return c.fixed_s + c.core_s * n / slots


def predict_cpu(c: StageCost, n: int) -> float:
    return c.fixed_cpu_s + c.cpu_s * n


def _share(work_share: float | Mapping[str, float], stage: str) -> float:
    return work_share if isinstance(work_share, (int, float)) else work_share.get(stage, 1.0)


def cores_needed(costs: list[StageCost], n: int, window_s: float, per_product: str = "core_s",
                 work_share: float | Mapping[str, float] = 1.0) -> float:
    """Cores for N products within the window; inf when the fixed costs alone exceed it.
    Wall-based (``core_s``): the fixed cost is the fitted wall intercept; CPU-based
    (``cpu_s``): the fixed CPU seconds, spent one after the other (JVM start-up, planning and
    Delta commits barely use a second core)."""
    fixed = "fixed_s" if per_product == "core_s" else "fixed_cpu_s"
    left = window_s - sum(getattr(c, fixed) for c in costs)
    work = sum(getattr(c, per_product) * _share(work_share, c.stage) for c in costs) * n
    return math.inf if left <= 0 else work / left


# The stages whose Python workers run onnxruntime models (and could move them to a GPU);
# animate's workers render and encode clips (OpenCV, FFmpeg), which a GPU executor does not speed.
GPU_STAGES = ("classify", "cutouts", "stage_copy_paste", "stage_vanilla")


def gpu_split(costs: list[StageCost], n: int, window_s: float, speedup: float,
              work_share: float | Mapping[str, float] = 1.0,
              gpu_stages: tuple[str, ...] | None = None) -> tuple[float, float]:
    """(GPUs, CPU cores): the model time of `gpu_stages` (all stages when None) on GPUs at
    `speedup` x one core, everything else on cores."""
    left = window_s - sum(c.fixed_cpu_s for c in costs)
    if left <= 0:
        return math.inf, math.inf
    model = rest = 0.0
    for c in costs:
        share = _share(work_share, c.stage) * n
        if gpu_stages is None or c.stage in gpu_stages:
            model += c.model_s * share
            rest += max(c.cpu_s - c.model_s, 0.0) * share
        else:
            rest += c.cpu_s * share
    return model / speedup / left, rest / left


def markdown(costs: list[StageCost], checks: list[dict], sizes: list[int], args) -> str:
    window = args.window_h * 3600
    inc = args.change_share + (1 - args.change_share) * args.carry_cost
    inc_shares = {c.stage: 1.0 if c.stage in args.always_full else inc for c in costs}
    lines = ["### Measured inputs (fitted per stage)", "",
             "| stage | runs (products) | F fixed wall s | v wall core-s / product | "
             "Fc fixed CPU s | c CPU s / product | m model core-s / product | "
             "marginal overhead (c − m) / m |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in costs:
        lines.append(f"| {c.stage} | {', '.join(map(str, c.points))} | {c.fixed_s:.1f} | "
                     f"{c.core_s:.4f} | {c.fixed_cpu_s:.1f} | {c.cpu_s:.4f} | {c.model_s:.4f} | "
                     f"{_ratio(c.cpu_s - c.model_s, c.model_s)} |")
    cpu, model = sum(c.cpu_s for c in costs), sum(c.model_s for c in costs)
    lines.append(f"| **all** | | {sum(c.fixed_s for c in costs):.0f} | "
                 f"{sum(c.core_s for c in costs):.3f} | {sum(c.fixed_cpu_s for c in costs):.0f} | "
                 f"{cpu:.3f} | {model:.3f} | {_ratio(cpu - model, model)} |")
    if checks:
        lines += ["", "### Predicted vs measured", "",
                  "| products | stage | predicted wall s | measured wall s | ratio | "
                  "predicted CPU s | measured CPU s | ratio |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for ch in checks:
            lines.append(f"| {ch['n']:,} | {ch['stage']} | {ch['predicted']:.0f} | "
                         f"{ch['measured']:.0f} | {ch['measured'] / ch['predicted']:.2f} | "
                         f"{ch['predicted_cpu']:.0f} | {ch['measured_cpu']:.0f} | "
                         f"{ch['measured_cpu'] / ch['predicted_cpu']:.2f} |")
    lines += ["", f"### Cores for a {args.window_h:g} h window",
              "", f"Incremental: {args.change_share:.0%} of the products changed, the rest carried "
              f"at {args.carry_cost:.0%} of their cost (work share {inc:.3f} of a full run; "
              f"{', '.join(args.always_full) or 'no stage'} doing full work every night). GPU "
              f"columns assume one GPU does the model work of {', '.join(args.gpu_stages)} "
              f"{args.gpu_speedup:g}× faster than one core (not measured); the rest stays on "
              "cores.", "",
              "| products | run | cores (wall-based) | cores (CPU-based) | GPUs + cores |",
              "| --- | --- | --- | --- | --- |"]
    for n in sizes:
        for label, share in (("full", 1.0), ("incremental", inc_shares)):
            w = cores_needed(costs, n, window, "core_s", share)
            c = cores_needed(costs, n, window, "cpu_s", share)
            g, r = gpu_split(costs, n, window, args.gpu_speedup, share, tuple(args.gpu_stages))
            lines.append(f"| {n:,} | {label} | {_ceil(w)} | {_ceil(c)} | "
                         f"{_ceil(g)} GPU + {_ceil(r)} |")
    return "\n".join(lines) + "\n"


def _ratio(a: float, b: float) -> str:
    return "–" if b <= 0 else f"{a / b:.2f}"


def _ceil(v: float) -> str:
    return "∞" if math.isinf(v) else f"{max(1, math.ceil(v)):,}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit", type=Path, nargs="+", required=True,
                        help="pipeline_throughput JSON results to fit the per-stage costs on")
    parser.add_argument("--check", type=Path, nargs="*", default=[],
                        help="results to compare the fitted prediction with (not fitted)")
    parser.add_argument("--min-runs", type=int, default=1,
                        help="fit only stages measured in at least this many runs (2: no "
                             "one-point fits, whose fixed cost would count as per-product)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--window-h", type=float, default=WINDOW_H)
    parser.add_argument("--change-share", type=float, default=0.05,
                        help="share of products new or changed on an incremental night")
    parser.add_argument("--carry-cost", type=float, default=0.0,
                        help="cost of carrying an unchanged product, share of computing it")
    parser.add_argument("--always-full", nargs="*", default=["ingest"],
                        help="stages that do full work on an incremental night too (ingest reads "
                             "and hashes every image)")
    parser.add_argument("--gpu-speedup", type=float, default=20.0,
                        help="assumed model-time speed-up of one GPU over one CPU core")
    parser.add_argument("--gpu-stages", nargs="*", default=list(GPU_STAGES),
                        help="stages whose model work a GPU takes (default: the onnxruntime "
                             "stages)")
    parser.add_argument("--out", type=Path, required=True,
                        help="results path without suffix: writes <out>.json and <out>.md")
    args = parser.parse_args(argv)

    runs = [json.loads(p.read_text()) for p in args.fit]
    costs = fit(runs, args.min_runs)
    left_out = sorted(set(stage_points(runs)) - {c.stage for c in costs})
    by_stage = {c.stage: c for c in costs}
    checks = []
    for p in args.check:
        run = json.loads(p.read_text())
        for s in run["stages"]:
            if s["stage"] in by_stage:
                c = by_stage[s["stage"]]
                checks.append({"n": s["products"], "stage": s["stage"], "measured": s["wall_s"],
                               "predicted": predict_wall(c, s["products"], run["meta"]["slots"]),
                               "measured_cpu": sum(s["cpu_s"].values()),
                               "predicted_cpu": predict_cpu(c, s["products"])})
    md = markdown(costs, checks, args.sizes, args)
    if left_out:
        md += (f"\nLeft out (measured in fewer than {args.min_runs} runs): "
               f"{', '.join(left_out)}.\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.md").write_text(md)
    Path(f"{args.out}.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()},
         "costs": [c.__dict__ for c in costs], "checks": checks}, indent=1))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
