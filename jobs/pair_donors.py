"""Pair every unstaged product with its top-k donor slots as of one logical date.

    spark-submit --jars "$(adstage jars --print)" jobs/pair_donors.py --ds 2026-11-24
    python jobs/pair_donors.py --ds 2026-11-24          # local mode
Writes `donor_pairs` and `pairing_rejects`. Every option: `python jobs/pair_donors.py --help`.
The stage logic lives in `adstage/vision/pair_donors.py`.
"""
import sys

from adstage.vision.pair_donors import main

if __name__ == "__main__":
    sys.exit(main())
