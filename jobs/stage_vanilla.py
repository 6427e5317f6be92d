"""Vanilla (pix2pix) staging of every unstaged product as of one logical date: the baseline.

    spark-submit --jars "$(adstage jars --print)" jobs/stage_vanilla.py --ds 2026-11-24
    python jobs/stage_vanilla.py --ds 2026-11-24          # local mode
Writes `staged_images` (method vanilla) and `staging_rejects`. Every option:
`python jobs/stage_vanilla.py --help`. The stage logic lives in `adstage/staging/vanilla.py`.
"""
import sys

from adstage.staging.vanilla import main

if __name__ == "__main__":
    sys.exit(main())
