"""Evaluate the staging methods of one logical date: Fréchet distance, KID and the seam measure.

    spark-submit --jars "$(adstage jars --print)" jobs/evaluate.py --ds 2026-11-24
    python jobs/evaluate.py --ds 2026-11-24          # local mode
Writes `staging_metrics` (one row per method and a real_vs_real control) and the per-image
`staged_images.seam_score`. Every option: `python jobs/evaluate.py --help`. The stage logic
lives in `adstage/evaluation/evaluate.py`.
"""
import sys

from adstage.evaluation.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
