"""Rebuild the per-category FAISS shape indexes of usable donor slots that changed on a date.

    spark-submit --jars "$(adstage jars --print)" jobs/shape_index.py --ds 2026-11-24
    python jobs/shape_index.py --ds 2026-11-24          # local mode
Writes index files under the warehouse and `shape_index_versions`. Every option: --help.
The stage logic lives in `adstage/vision/shape_index.py`.
"""
import sys

from adstage.vision.shape_index import main

if __name__ == "__main__":
    sys.exit(main())
