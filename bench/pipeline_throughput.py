"""Nightly pipeline throughput on a generated N-product demo catalog, broken down by stage.

    PYTHONPATH=. .venv/bin/python bench/pipeline_throughput.py --products 1000 \\
        --work /tmp/adstage-bench/1k --out docs/bench/pipeline-1k

Runs the nightly jobs in the DAG's order for one logical date, each as its own process
(`python jobs/<job>.py --ds D`, the same local[2] master, session, Delta writes and MLflow run
that a SparkSubmitOperator task runs in client mode), so every stage pays its JVM start like a
real task does. While a stage runs, its process tree is sampled with psutil: RSS and CPU time of
the driver, the JVM (in local mode the executor lives in the driver's JVM) and the Python
workers (where decoding, numpy and onnxruntime run). After it, the stage's rows for the date are
read back from its Delta tables with delta-rs (no Spark).

Per stage: wall time; CPU core-seconds by process kind; "model time" = the sum of the per-row
`seconds` of `staged_images` for the staging stages (the image work itself, timed inside the
task), and the Python workers' CPU for the others (an upper bound: it includes their Arrow
(de)serialisation); overhead share = (wall x slots - model time) / model time, and the same in
CPU terms. Writes `<out>.json` and `<out>.md`. `--stages` runs a subset on a warehouse that
already holds the earlier stages (e.g. only the vision stages at 10k products).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DS = "2026-11-24"
# (stage, job file, tables whose rows for the date the stage writes) in the DAG's order; the
# DAG runs the two staging jobs (and evaluate / animate) side by side, here they run one after
# the other so that each stage's cost stands alone.
STAGES = [
    ("ingest", "ingest.py", ("catalog_images", "ingest_rejects")),
    ("classify", "classify.py", ("image_labels",)),
    ("cutouts", "cutouts.py", ("product_cutouts", "donor_slots")),
    ("shape_index", "shape_index.py", ("shape_index_versions",)),
    ("pair_donors", "pair_donors.py", ("donor_pairs", "pairing_rejects")),
    ("stage_copy_paste", "stage_copy_paste.py", ("staged_images", "staging_rejects")),
    ("stage_vanilla", "stage_vanilla.py", ("staged_images", "staging_rejects")),
    ("evaluate", "evaluate.py", ("staging_metrics",)),
    ("animate", "animate.py", ("animations",)),
    ("gallery", "gallery.py", ()),
    ("quality_gate", "quality_gate.py", ()),
]
# The night plan's other layout (adstage.night_plan, `--layout one_app`): after ingest, every
# downstream stage in one application, as the DAG runs a night whose catalog did not change.
ONE_APP_STAGES = [
    STAGES[0],
    ("plan_night", "plan_night.py", ()),
    ("carry_forward", "carry_forward.py", tuple(t for _, _, ts in STAGES[1:-2] for t in ts)),
    *STAGES[-2:],
]
STAGE_METHODS = {"stage_copy_paste": ("copy_paste", "hard_paste"), "stage_vanilla": ("vanilla",)}


# ---- pure: process kinds, aggregation, tables ----------------------------------------------
def process_kind(name: str, cmdline: list[str]) -> str:
    """Which part of a Spark job a process is: the JVM, a Python worker, or the driver/launcher."""
    joined = " ".join(cmdline)
    if name == "java" or (cmdline and cmdline[0].endswith("/java")):
        return "jvm"
    if "pyspark.daemon" in joined or "pyspark.worker" in joined or "pyspark/daemon" in joined:
        return "python_worker"
    return "driver"


def sample_kind(name: str, cmdline: list[str], known: str | None) -> str | None:
    """The kind of a sampled process, None to leave it out. A Python worker on its way out
    (exiting, or a zombie) has no command line any more: classified afresh it would pass for
    the driver, and its CPU would count twice (once more in the daemon's children times once
    reaped) — which is how copy-paste once seemed to spend as much CPU in its driver as in its
    workers. Such a process keeps the kind it was first seen with."""
    return process_kind(name, cmdline) if cmdline else known


@dataclass
class Sample:
    """One look at a stage's process tree: RSS bytes per kind and the largest Python worker."""
    t: float
    rss: dict[str, int]
    max_worker_rss: int


@dataclass
class StageResult:
    stage: str
    products: int
    wall_s: float
    rows: dict[str, int] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)   # core-seconds per process kind
    model_s: float = 0.0
    model_source: str = ""
    images: int = 0
    peak_rss: dict[str, int] = field(default_factory=dict)
    peak_worker_rss: int = 0
    returncode: int = 0
    # The processes that used the most CPU (kind, pid, command line head, CPU s): where a
    # kind's time went, e.g. which process the driver's share belongs to.
    top_processes: list[dict] = field(default_factory=list)


def peaks(samples: list[Sample]) -> tuple[dict[str, int], int]:
    """Peak RSS per kind, peak of the whole tree (``total``) and of one Python worker."""
    out: dict[str, int] = {}
    for s in samples:
        for kind, v in s.rss.items():
            out[kind] = max(out.get(kind, 0), v)
        out["total"] = max(out.get("total", 0), sum(s.rss.values()))
    return out, max((s.max_worker_rss for s in samples), default=0)


def overhead_share(wall_s: float, slots: int, model_s: float) -> float | None:
    """(wall x slots - model) / model: the stage's time outside the model work, as a share of
    it, in core-seconds (model time is summed over the tasks that ran in parallel)."""
    if model_s <= 0:
        return None
    return (wall_s * slots - model_s) / model_s


def cpu_overhead_share(cpu_s: dict[str, float], model_s: float) -> float | None:
    """CPU spent outside the model work (JVM, driver, the rest of the workers' time), as a
    share of it: unlike the wall-clock share it does not grow when other jobs take the cores."""
    if model_s <= 0:
        return None
    return (sum(cpu_s.values()) - model_s) / model_s


def derived(r: StageResult, slots: int) -> dict[str, float | None]:
    return {
        "overhead_share": overhead_share(r.wall_s, slots, r.model_s),
        "cpu_overhead_share": cpu_overhead_share(r.cpu_s, r.model_s),
        "core_s_per_product": r.wall_s * slots / max(r.products, 1),
        "cpu_s_per_product": sum(r.cpu_s.values()) / max(r.products, 1),
        "model_s_per_image": r.model_s / r.images if r.images else None,
    }


def summary(results: list[StageResult], slots: int) -> dict[str, float | None]:
    """Whole-night figures: wall, staged images per minute, overhead over the model stages."""
    wall = sum(r.wall_s for r in results)
    staged = {r.stage: r.images for r in results if r.stage in STAGE_METHODS}
    model = sum(r.model_s for r in results if r.stage in STAGE_METHODS)
    stage_wall = sum(r.wall_s for r in results if r.stage in STAGE_METHODS)
    return {
        "wall_s": wall,
        "staged_images": sum(staged.values()),
        "staged_images_per_min": 60 * sum(staged.values()) / wall if wall else None,
        "copy_paste_images_per_min": (60 * staged.get("stage_copy_paste", 0) / wall
                                      if wall else None),
        "staging_overhead_share": overhead_share(stage_wall, slots, model),
    }


def _fmt(v, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def _mb(v: int) -> str:
    return f"{v / 2**20:.0f}"


def markdown(results: list[StageResult], slots: int, meta: dict) -> str:
    head = ("| stage | rows written | wall s | core-s / product | CPU s (py workers / JVM / "
            "driver) | model s | model | overhead (wall) | overhead (CPU) | peak RSS MB "
            "(tree / JVM / py workers / one worker) |")
    lines = [f"{meta['products']} products, `local[{slots}]`, {meta['when']}; load average "
             f"{meta['load_start']} at the start, {meta['load_end']} at the end."]
    if meta.get("night_plan"):
        plan = meta["night_plan"]
        lines.append(f"Night plan: {plan['path']} ({plan['reason']}).")
    lines += ["", head, "| " + " | ".join(["---"] * 10) + " |"]
    for r in results:
        d = derived(r, slots)
        rows = ", ".join(f"{k} {v}" for k, v in r.rows.items()) or "–"
        cpu = " / ".join(f"{r.cpu_s.get(k, 0):.0f}" for k in ("python_worker", "jvm", "driver"))
        rss = " / ".join(_mb(r.peak_rss.get(k, 0)) for k in ("total", "jvm", "python_worker"))
        lines.append(f"| {r.stage} | {rows} | {r.wall_s:.1f} | {d['core_s_per_product']:.3f} | "
                     f"{cpu} | {r.model_s:.0f} | {r.model_source} | "
                     f"{_fmt(d['overhead_share'])} | {_fmt(d['cpu_overhead_share'])} | "
                     f"{rss} / {_mb(r.peak_worker_rss)} |")
    s = summary(results, slots)
    lines += ["", f"Whole night (stages one after the other): {s['wall_s']:.0f} s; "
              f"{s['staged_images']} staged images, {_fmt(s['staged_images_per_min'], '.1f')} "
              f"per minute ({_fmt(s['copy_paste_images_per_min'], '.1f')} copy-paste); Spark/"
              f"Delta/Arrow overhead of the two staging stages: "
              f"{_fmt(s['staging_overhead_share'])} of their model time."]
    return "\n".join(lines) + "\n"


# ---- measuring one stage -------------------------------------------------------------------
class TreeSampler(threading.Thread):
    """Samples a process and its descendants every `interval` s until stopped.

    CPU per kind is the largest per-sample total seen: PySpark's daemon forks a worker per task
    and reaps it, so a finished worker's time lives on in the daemon's ``children_*`` times;
    those are counted for Python processes only (the JVM's would count the daemon twice)."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[Sample] = []
        self.cpu: dict[str, float] = {}
        self.per_process: dict[int, dict] = {}
        self._done = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            rss: dict[str, int] = {}
            cpu: dict[str, float] = {}
            max_worker = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    with p.oneshot():
                        cmdline = [] if p.status() == psutil.STATUS_ZOMBIE else p.cmdline()
                        kind = sample_kind(p.name(), cmdline,
                                           self.per_process.get(p.pid, {}).get("kind"))
                        if kind is None:
                            continue
                        m, c = p.memory_info().rss, p.cpu_times()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                rss[kind] = rss.get(kind, 0) + m
                used = c.user + c.system
                if kind == "python_worker":
                    max_worker = max(max_worker, m)
                    used += c.children_user + c.children_system
                cpu[kind] = cpu.get(kind, 0.0) + used
                self._note(p.pid, kind, cmdline, c.user + c.system)
            for kind, v in cpu.items():
                self.cpu[kind] = max(self.cpu.get(kind, 0.0), v)
            self.samples.append(Sample(time.monotonic(), rss, max_worker))
            self._done.wait(self.interval)

    def _note(self, pid: int, kind: str, cmdline: list[str], own_cpu: float) -> None:
        seen = self.per_process.get(pid)
        # A new kind for a known pid: a launcher script that exec'd the JVM (a process keeping
        # its kind without a command line never gets here with another kind).
        if seen is None or seen["kind"] != kind:
            seen = self.per_process[pid] = {"kind": kind, "pid": pid,
                                            "cmd": " ".join(cmdline[:4])[:160], "cpu_s": 0.0}
        seen["cpu_s"] = round(max(seen["cpu_s"], own_cpu), 2)

    def top(self, n: int = 6) -> list[dict]:
        return sorted(self.per_process.values(), key=lambda d: -d["cpu_s"])[:n]

    def stop(self) -> None:
        self._done.set()
        self.join()


def date_rows(warehouse: Path, table: str, ds: str, methods: tuple[str, ...] = ()
              ) -> tuple[int, int, float]:
    """Rows of `table` for `ds` (only `methods` for staged_images); of those, how many the
    date computed, and their summed `seconds`. A carried row (adstage.incremental) keeps the
    `mlflow_run_id` and `seconds` of the night that computed it: a row whose run id appears on
    an earlier date was carried, and its seconds were spent then, not now."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    path = warehouse / table
    if not (path / "_delta_log").exists():
        return 0, 0, 0.0
    dataset = DeltaTable(str(path)).to_pyarrow_dataset()
    names = dataset.schema.names
    day = pc.scalar(ds).cast("date32")
    flt = pc.field("ds") == day
    if methods and "method" in names:
        flt = flt & pc.field("method").isin(list(methods))
    cols = [c for c in ("seconds", "mlflow_run_id") if c in names]
    t = dataset.to_table(filter=flt, columns=cols)
    n = t.num_rows
    if "mlflow_run_id" in names:
        earlier = dataset.to_table(filter=pc.field("ds") < day, columns=["mlflow_run_id"])
        t = t.filter(pc.invert(pc.is_in(t["mlflow_run_id"],
                                        value_set=pc.unique(earlier["mlflow_run_id"]))))
    seconds = float(pc.sum(t["seconds"]).as_py() or 0.0) if "seconds" in names else 0.0
    return n, t.num_rows, seconds


def run_stage(stage: str, job: str, tables: tuple[str, ...], env: dict[str, str], ds: str,
              products: int, warehouse: Path, logs: Path) -> StageResult:
    methods = STAGE_METHODS.get(stage, ())
    started = time.monotonic()
    with (logs / f"{stage}.log").open("w") as log_file:
        proc = subprocess.Popen([sys.executable, str(ROOT / "jobs" / job), "--ds", ds],
                                env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        sampler.stop()
    wall = time.monotonic() - started
    result = StageResult(stage, products, round(wall, 2), returncode=rc,
                         cpu_s={k: round(v, 2) for k, v in sampler.cpu.items()})
    result.peak_rss, result.peak_worker_rss = peaks(sampler.samples)
    result.top_processes = sampler.top()
    for table in tables:
        n, computed, seconds = date_rows(
            warehouse, table, ds, methods if table in ("staged_images", "staging_rejects") else ())
        result.rows[table] = n
        if table == "staged_images":
            result.images, result.model_s = computed, round(seconds, 2)
            result.model_source = "sum of staged_images.seconds (rows computed this night)"
    if not result.model_source:
        result.model_s = result.cpu_s.get("python_worker", 0.0)
        result.model_source = "Python workers' CPU"
    return result


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=1000, help="catalog size (default 1000)")
    parser.add_argument("--work", type=Path, required=True,
                        help="folder for the catalog, the warehouse and the job logs")
    parser.add_argument("--out", type=Path, required=True,
                        help="results path without suffix: writes <out>.json and <out>.md")
    parser.add_argument("--ds", default=DS, help=f"logical date (default {DS})")
    parser.add_argument("--layout", choices=("per_stage", "one_app"), default="per_stage",
                        help="a process per stage (default), or the night plan's one_app: "
                             "ingest, plan_night, carry_forward, gallery, quality_gate")
    parser.add_argument("--stages", nargs="+", choices=[s[0] for s in STAGES + ONE_APP_STAGES],
                        help="run only these stages of the layout (the warehouse must hold the "
                             "earlier ones)")
    parser.add_argument("--slots", type=int, default=2, help="Spark task slots, local[N]")
    args = parser.parse_args(argv)

    work = args.work.resolve()
    catalog, home, logs = work / "catalog", work / "home", work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    feed = catalog / "feed.jsonl"
    meta = {"products": args.products, "ds": args.ds, "slots": args.slots, "layout": args.layout,
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_start": _load(), "cpus": os.cpu_count(), "machine": platform.processor()
            or platform.machine(), "command": " ".join(sys.argv)}
    if not feed.exists():
        t = time.monotonic()
        print(f"generating a {args.products}-product catalog in {catalog}", flush=True)
        subprocess.run([sys.executable, "-m", "adstage.demo.catalog", "--out", str(catalog),
                        "--products", str(args.products), "--ds", args.ds], check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL)
        meta["catalog_s"] = round(time.monotonic() - t, 1)
    env = dict(os.environ, ADSTAGE_HOME=str(home), ADSTAGE_FEED_URI=str(feed),
               ADSTAGE_ALLOWED_ROOTS=str(catalog), ADSTAGE_SPARK_MASTER=f"local[{args.slots}]",
               PYTHONPATH=str(ROOT), PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from adstage.config import Settings

    warehouse = Path(Settings.load(environ=env).warehouse_uri)
    results: list[StageResult] = []
    for stage, job, tables in (ONE_APP_STAGES if args.layout == "one_app" else STAGES):
        if args.stages and stage not in args.stages:
            continue
        print(f"{time.strftime('%H:%M:%S')} {stage} ...", flush=True)
        r = run_stage(stage, job, tables, env, args.ds, args.products, warehouse, logs)
        results.append(r)
        print(f"{time.strftime('%H:%M:%S')} {stage}: {r.wall_s:.0f} s, rows {r.rows}, "
              f"model {r.model_s:.0f} s, peak RSS {_mb(r.peak_rss.get('total', 0))} MB, "
              f"rc {r.returncode}", flush=True)
        if stage == "plan_night" and r.returncode == 0:
            meta["night_plan"] = json.loads(
                (logs / "plan_night.log").read_text().strip().splitlines()[-1])
            print(f"night plan: {meta['night_plan']}", flush=True)
        _write(args.out, results, args.slots, meta)
        if r.returncode != 0:
            print(f"{stage} failed: see {logs / (stage + '.log')}", file=sys.stderr)
            return 1
    meta["load_end"] = _load()
    _write(args.out, results, args.slots, meta)
    print(Path(f"{args.out}.md").read_text())
    return 0


def _write(out: Path, results: list[StageResult], slots: int, meta: dict) -> None:
    meta = {"load_end": "(running)", **meta}
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.json").write_text(json.dumps(
        {"meta": meta, "summary": summary(results, slots),
         "stages": [{**asdict(r), **derived(r, slots)} for r in results]}, indent=1))
    Path(f"{out}.md").write_text(markdown(results, slots, meta))


if __name__ == "__main__":
    sys.exit(main())
