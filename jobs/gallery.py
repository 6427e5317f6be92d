"""The creative teams' HTML review page of one logical date (no Spark; reads Delta with delta-rs).

    python jobs/gallery.py --ds 2026-11-24
Writes `<gallery_dir>/<ds>/index.html` (default `$ADSTAGE_HOME/gallery/<ds>/`) with its images,
and tags the page's path on the MLflow runs it shows. Every option: `python jobs/gallery.py --help`.
The logic lives in `adstage/staging/gallery.py`, the page in `adstage/staging/gallery_page.py`.
"""
import sys

from adstage.staging.gallery import main

if __name__ == "__main__":
    sys.exit(main())
