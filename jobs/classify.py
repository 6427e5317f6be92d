"""Label the catalog images of one logical date staged / unstaged into `image_labels`.

    spark-submit --jars "$(adstage jars --print)" jobs/classify.py --ds 2026-11-24
    python jobs/classify.py --ds 2026-11-24          # local mode
Every option: `python jobs/classify.py --help`. The stage logic lives in `adstage/vision/classify.py`.
"""
import sys

from adstage.vision.classify import main

if __name__ == "__main__":
    sys.exit(main())
