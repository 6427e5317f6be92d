"""Product cutouts (unstaged photos) and donor slots (staged photos) of one logical date.

    spark-submit --jars "$(adstage jars --print)" jobs/cutouts.py --ds 2026-11-24
    python jobs/cutouts.py --ds 2026-11-24          # local mode
Writes `product_cutouts` and `donor_slots`. Every option: `python jobs/cutouts.py --help`.
The stage logic lives in `adstage/vision/cutouts.py`.
"""
import sys

from adstage.vision.cutouts import main

if __name__ == "__main__":
    sys.exit(main())
