"""Which layout the night of one logical date takes after ingest: a Spark task per stage, or
every stage in one application (`carry_forward`) when the catalog did not change.

    python jobs/plan_night.py --ds 2026-11-25     # prints {"path": "one_app" | "per_stage", ...}
No Spark (delta-rs reads). Every option: `python jobs/plan_night.py --help`. The logic lives in
`adstage/night_plan.py`.
"""
import sys

from adstage.night_plan import main

if __name__ == "__main__":
    sys.exit(main())
