"""The training DAG's steps (dags/adstage_training.py): sets from the tables, train, promote.

    python jobs/training.py sets --ds 2026-11-24
    python jobs/training.py train edgeconnect --ds 2026-11-24 --size tiny
    python jobs/training.py promote --ds 2026-11-24 --size tiny
Every option: `python jobs/training.py --help`. Logic: `adstage/training.py`, `adstage/promotion.py`.
"""
import sys

from adstage.training import main

if __name__ == "__main__":
    sys.exit(main())
