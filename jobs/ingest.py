"""Ingest a catalog feed for one logical date into `catalog_images` and `ingest_rejects`.

Run with spark-submit (master, jars and resources come from spark-submit / the connection):
    spark-submit --jars "$(adstage jars --print)" jobs/ingest.py --ds 2026-11-24 --feed /data/feed.jsonl
or directly, in local mode:
    python jobs/ingest.py --ds 2026-11-24 --feed /data/feed.jsonl --conf allowed_roots=/data
Every option: `python jobs/ingest.py --help`. The stage logic lives in `adstage/ingest.py`.
"""
import sys

from adstage.ingest import main

if __name__ == "__main__":
    sys.exit(main())
