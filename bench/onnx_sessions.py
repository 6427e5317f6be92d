"""onnxruntime session settings for the copy-paste inpainter on this CPU, side by side in one run.

    PYTHONPATH=. python bench/onnx_sessions.py --crops 48 --batch 4 --repeats 3

1. **Tasks x threads.** The shapes a 2-core Spark executor can take, as real separate processes
   (one Python worker = one process = its own sessions, as in Spark): 2 tasks x 1 intra-op
   thread, 1 task x 2 threads, 1 task x 1 thread (half the machine idle) and the oversubscribed
   2 tasks x 2 threads (what fixed "all cores" threads per session give when Spark runs two
   tasks).  ``--crops`` gap crops in all, split evenly between the tasks; throughput = crops /
   wall time from a common start (every worker has loaded and warmed its sessions first).
2. **Session options.** One process, 1 thread, per setting: graph optimisation level
   (disable/basic/extended/all), CPU memory arena and memory pattern on/off: median ms per
   call of ``--batch`` crops and the process's peak resident memory.
3. **Crop batch** (``--crop-batches``): one process, 1 thread, default options, ms per crop
   when ``b`` crops go through one call (``staging_inpaint_batch`` on the CPU).

The workload is the shipped EdgeConnect pair through ``EdgeConnectInpainter`` (Canny, edge
model, inpainting model) on 256x256 crops of a seeded texture with a rectangular hole; each
configuration is repeated ``--repeats`` times, interleaved, and the median is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
MODELS = HERE.parents[1] / "models" / "generative"
SHAPES = ["1x2", "2x1", "1x1", "2x2"]       # tasks x intra-op threads per task
OPTIONS = ["all/on/on", "extended/on/on", "basic/on/on", "disable/on/on", "all/off/on",
           "all/on/off", "all/off/off"]     # graph level / cpu arena / memory pattern


def load_avg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def crops(n: int, size: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    import cv2

    rng = np.random.default_rng(seed)
    images, holes = [], []
    for _ in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 3)
        hole = np.zeros((size, size), np.uint8)
        y, x = rng.integers(size // 8, size // 2, 2)
        hole[y:y + size // 3, x:x + size // 3] = 255
        img[hole > 0] = 255
        images.append(img)
        holes.append(hole)
    return images, holes


def worker(spec: dict) -> None:
    """One task: open the sessions, warm up, say ready, wait for go, time its crops."""
    from adstage.generative.inference import EdgeConnectInpainter
    from adstage.onnx_runtime import OrtOptions, session_from_bytes

    opts = OrtOptions(spec["threads"], spec["level"], spec["arena"], spec["pattern"])
    e, i = (session_from_bytes((MODELS / f"edgeconnect_{k}.onnx").read_bytes(), "cpu",
                               options=opts) for k in ("edge", "inpaint"))
    runner = EdgeConnectInpainter(e, i, batch=spec["batch"])
    images, holes = crops(spec["crops"], spec["size"], spec["seed"])
    runner(images[:spec["batch"]], holes[:spec["batch"]])   # warm-up
    print("ready", flush=True)
    sys.stdin.readline()
    start, calls = time.monotonic(), []
    for s in range(0, len(images), spec["batch"]):
        t = time.perf_counter()
        runner(images[s:s + spec["batch"]], holes[s:s + spec["batch"]])
        calls.append(time.perf_counter() - t)
    end = time.monotonic()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"start": start, "end": end, "call_s": statistics.median(calls),
                      "peak_mb": peak_mb}), flush=True)


def launch(specs: list[dict]) -> list[dict]:
    """Start one process per spec; release them together; their results."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE.parents[1])] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
           "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(HERE), "--worker", json.dumps(s)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for s in specs]
    for p in procs:
        line = p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"worker did not start: {line!r}")
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    out = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crops", type=int, default=48, help="crops per configuration, in all")
    parser.add_argument("--batch", type=int, default=4, help="crops per onnxruntime call")
    parser.add_argument("--size", type=int, default=256, help="crop side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=SHAPES,
                        help="TASKSxTHREADS to compare; the first is the reference")
    parser.add_argument("--options", nargs="*", default=OPTIONS,
                        help="LEVEL/ARENA/PATTERN session settings (on|off); the first is the "
                             "reference; none = skip part 2")
    parser.add_argument("--crop-batches", type=int, nargs="*", default=[],
                        help="crops per call to compare (part 3; none = skip)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0

    start_load = load_avg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average at start {start_load}")
    base = {"size": args.size, "batch": args.batch, "level": "all", "arena": True,
            "pattern": True}
    shapes_in = [tuple(int(v) for v in s.lower().split("x")) for s in args.shapes]
    runs: dict[tuple, list[float]] = {s: [] for s in shapes_in}
    for r in range(args.repeats):
        for tasks, threads in shapes_in:
            res = launch([{**base, "threads": threads, "crops": args.crops // tasks,
                           "seed": r * 10 + k} for k in range(tasks)])
            wall = max(x["end"] for x in res) - min(x["start"] for x in res)
            runs[(tasks, threads)].append(args.crops // tasks * tasks / wall)
    ref = statistics.median(runs[shapes_in[0]])
    shapes = [{"tasks": t, "threads_per_task": th, "crops_per_s": round(statistics.median(v), 2),
               "ms_per_crop": round(1e3 / statistics.median(v), 1),
               "vs_first": round(statistics.median(v) / ref, 2)} for (t, th), v in runs.items()]
    print(f"tasks | threads per task | crops/s | ms per crop | throughput vs {args.shapes[0]}")
    for s in shapes:
        print(f"{s['tasks']} | {s['threads_per_task']} | {s['crops_per_s']} | "
              f"{s['ms_per_crop']} | {s['vs_first']}")

    options = []
    if args.options:
        parsed = [(lv, a == "on", p == "on") for lv, a, p in (o.split("/") for o in args.options)]
        calls: dict[tuple, list[float]] = {o: [] for o in parsed}
        peak: dict[tuple, float] = {}
        for r in range(args.repeats):
            for o in parsed:
                res = launch([{**base, "threads": 1, "level": o[0], "arena": o[1],
                               "pattern": o[2], "crops": max(args.crops // 2, args.batch * 3),
                               "seed": r}])[0]
                calls[o].append(res["call_s"])
                peak[o] = max(peak.get(o, 0.0), res["peak_mb"])
        ref_o = statistics.median(calls[parsed[0]])
        options = [{"graph_optimization": o[0], "cpu_arena": o[1], "mem_pattern": o[2],
                    "ms_per_call": round(statistics.median(v) * 1e3, 1),
                    "vs_first": round(statistics.median(v) / ref_o, 2),
                    "peak_rss_mb": round(peak[o])} for o, v in calls.items()]
        print(f"graph optimisation | cpu arena | memory pattern | ms per call of {args.batch} "
              f"crops | time vs {args.options[0]} | peak RSS MB")
        for o in options:
            print(f"{o['graph_optimization']} | {o['cpu_arena']} | {o['mem_pattern']} | "
                  f"{o['ms_per_call']} | {o['vs_first']} | {o['peak_rss_mb']}")
    per_batch = []
    if args.crop_batches:
        times: dict[int, list[float]] = {b: [] for b in args.crop_batches}
        for r in range(args.repeats):
            for b in args.crop_batches:
                res = launch([{**base, "threads": 1, "batch": b, "seed": r,
                               "crops": max(args.crops, 2 * b)}])[0]
                times[b].append(res["call_s"] / b)
        per_batch = [{"batch": b, "ms_per_crop": round(statistics.median(v) * 1e3, 1)}
                     for b, v in times.items()]
        print("crops per call | ms per crop")
        for row in per_batch:
            print(f"{row['batch']} | {row['ms_per_crop']}")
    end_load = load_avg()
    print(f"load average at end {end_load}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"load_start": start_load, "load_end": end_load,
                                        "crops": args.crops, "batch": args.batch,
                                        "shapes": shapes, "options": options,
                                        "crop_batches": per_batch}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
