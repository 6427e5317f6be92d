"""Delta Lake jars for Spark: coordinates derived from the pinned pyspark/delta-spark, fetched once.

`delta-spark` wheels carry no jars. Rather than letting Spark's Ivy resolve packages at every
cold start (slow, and noisy about hosts it cannot reach), `make jars` copies exactly the two
artifacts Delta needs from Maven Central into a cache with Maven, and sessions get `spark.jars`.
Spark 4.0 already ships scala-library and antlr4-runtime, so only delta-spark and delta-storage.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

log = logging.getLogger(__name__)


def delta_coordinates() -> list[str]:
    """Maven coordinates matching the installed pyspark and delta-spark."""
    delta = version("delta-spark")
    spark_mm = ".".join(version("pyspark").split(".")[:2])
    d_major, d_minor = (int(x) for x in delta.split(".")[:2])
    if (d_major, d_minor) < (4, 1):
        if spark_mm != "4.0" and d_major == 4:
            raise RuntimeError(f"delta-spark {delta} is built for Spark 4.0, found pyspark {spark_mm}")
        artifact = "delta-spark_2.13"
    else:  # from Delta 4.1 the artifact names the Spark line it was built for
        artifact = f"delta-spark_{spark_mm}_2.13"
    return [f"io.delta:{artifact}:{delta}", f"io.delta:delta-storage:{delta}"]


def default_jars_dir() -> Path:
    if os.environ.get("ADSTAGE_JARS_DIR"):
        return Path(os.environ["ADSTAGE_JARS_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "adstage" / "jars" / f"delta-{version('delta-spark')}"


def jar_paths(jars_dir: Path | None = None) -> list[Path]:
    jars_dir = jars_dir or default_jars_dir()
    out = []
    for coord in delta_coordinates():
        _, artifact, ver = coord.split(":")
        out.append(jars_dir / f"{artifact}-{ver}.jar")
    return out


def missing_jars(jars_dir: Path | None = None) -> list[Path]:
    return [p for p in jar_paths(jars_dir) if not p.is_file()]


def fetch(jars_dir: Path | None = None) -> list[Path]:
    """Copy the jars from Maven Central with `mvn dependency:copy`; a no-op when present."""
    jars_dir = jars_dir or default_jars_dir()
    if not missing_jars(jars_dir):
        return jar_paths(jars_dir)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is needed once to fetch the Delta jars; install it "
                           "(apt-get install maven) or put the jars in " + str(jars_dir))
    jars_dir.mkdir(parents=True, exist_ok=True)
    for coord in delta_coordinates():
        log.info("fetching %s from Maven Central", coord)
        subprocess.run([mvn, "-q", "-B", "dependency:copy", f"-Dartifact={coord}",
                        f"-DoutputDirectory={jars_dir}", "-Dmdep.overWriteIfNewer=true"],
                       check=True)
    still = missing_jars(jars_dir)
    if still:
        raise RuntimeError(f"jars still missing after Maven: {still}")
    return jar_paths(jars_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="adstage jars", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="jar cache (default %(default)s)")
    parser.add_argument("--print", action="store_true",
                        help="print the comma-separated jar list (for spark-submit --jars)")
    args = parser.parse_args(argv)
    paths = fetch(args.dir)
    if args.print:
        print(",".join(str(p) for p in paths))
    else:
        for p in paths:
            print(p)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
