"""What one nightly task costs before it does any work: spark-submit of a tiny Delta job, with
Spark's defaults vs `tools.airflow_local.FAST_START_SPARK_DEFAULTS` (no UI server; driver JVM
with the C1 JIT only and the serial GC), alternated in one run so that both see the same load.

    python bench/spark_submit_startup.py --pairs 4 --out /tmp/startup.json

The job builds the project's session (`adstage.spark.get_session`, Delta configured), writes and
reads back a 100-row Delta table and stops: the fixed part of every job in `jobs/`. Reports the
median wall time of each variant and their ratio; only the ratio is comparable across machines.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOB = '''
import sys
from adstage.config import Settings
from adstage.spark import get_session
spark = get_session(Settings.load(), "startup-bench")
spark.range(100).write.format("delta").mode("overwrite").save(sys.argv[1])
assert spark.read.format("delta").load(sys.argv[1]).count() == 100
spark.stop()
'''


def submit(job: Path, table: Path, conf_dir: Path | None, env: dict[str, str]) -> float:
    from tools.cluster_local import spark_home
    from adstage.config import Settings
    from adstage.jars import jar_paths

    env = dict(env)
    if conf_dir:
        env["SPARK_CONF_DIR"] = str(conf_dir)
    jars = ",".join(str(p) for p in jar_paths(Settings.load().jars_path))
    started = time.perf_counter()
    subprocess.run([str(spark_home() / "bin" / "spark-submit"), "--master", "local[2]",
                    "--jars", jars, str(job), str(table)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    from tools.airflow_local import FAST_START_SPARK_DEFAULTS

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4, help="default/fast pairs (alternated)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1",
               ADSTAGE_SHUFFLE_PARTITIONS="2")
    load_start = os.getloadavg()
    times: dict[str, list[float]] = {"default": [], "fast_start": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        job = tmp / "job.py"
        job.write_text(JOB)
        fast = tmp / "fast"
        fast.mkdir()
        (fast / "spark-defaults.conf").write_text(
            "".join(f"{k} {v}\n" for k, v in FAST_START_SPARK_DEFAULTS.items()))
        # An empty conf dir: the default run must not pick up a spark-defaults.conf either.
        default = tmp / "default"
        default.mkdir()
        submit(job, tmp / "warm", default, env)  # page cache, jar index: neither variant pays
        for i in range(args.pairs):
            order = [("default", default), ("fast_start", fast)]
            for name, conf in order if i % 2 == 0 else reversed(order):
                times[name].append(submit(job, tmp / f"t{i}{name}", conf, env))
    result = {name: {"median_s": round(statistics.median(t), 2), "runs_s": [round(x, 2) for x in t]}
              for name, t in times.items()}
    result["fast_over_default"] = round(result["fast_start"]["median_s"]
                                        / result["default"]["median_s"], 3)
    result["load_average"] = {"start": load_start[0], "end": os.getloadavg()[0]}
    result["fast_start_conf"] = FAST_START_SPARK_DEFAULTS
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
