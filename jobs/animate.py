"""Parallax video ads from the copy-paste images staged on one logical date.

    spark-submit --jars "$(adstage jars --print)" jobs/animate.py --ds 2026-11-24
    python jobs/animate.py --ds 2026-11-24          # local mode
Writes `animations` (MP4, WebM, GIF and the background plate in the image store) and
`staging_rejects` (method parallax). Every option: `python jobs/animate.py --help`. The stage
logic lives in `adstage/staging/animate.py`, the image logic in `adstage/staging/parallax.py`.
"""
import sys

from adstage.staging.animate import main

if __name__ == "__main__":
    sys.exit(main())
