"""Every downstream stage of one logical date in one Spark application (a night whose catalog
did not change: the night plan's `one_app`).

    spark-submit --jars "$(adstage jars --print)" jobs/carry_forward.py --ds 2026-11-25
    python jobs/carry_forward.py --ds 2026-11-25          # local mode
Writes what classify ... animate would, each stage in its own MLflow run. Every option:
`python jobs/carry_forward.py --help`. The logic lives in `adstage/carry_forward.py`.
"""
import sys

from adstage.carry_forward import main

if __name__ == "__main__":
    sys.exit(main())
