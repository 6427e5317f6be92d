"""Copy-paste staging of every product paired on one logical date.

    spark-submit --jars "$(adstage jars --print)" jobs/stage_copy_paste.py --ds 2026-11-24
    python jobs/stage_copy_paste.py --ds 2026-11-24          # local mode
Writes `staged_images` (methods copy_paste / hard_paste) and `staging_rejects`. Every option:
`python jobs/stage_copy_paste.py --help`. The stage logic lives in
`adstage/staging/copy_paste.py`, the image logic in `adstage/staging/`.
"""
import sys

from adstage.staging.copy_paste import main

if __name__ == "__main__":
    sys.exit(main())
