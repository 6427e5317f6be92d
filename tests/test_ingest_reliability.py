"""Ingest against what a hostile feed and a real catalog did to it (project issue 18).

Real Spark, Delta and a real http server on loopback; nothing mocked.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from adstage import ingest
from adstage.report import read_table
from conftest import make_settings
from feeds import png

DS = "2026-11-24"


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class FlakyServer:
    """Serves one PNG for every path, but answers every other request (the 2nd, 4th, ...)
    with a 503: a server that answers differently when asked twice."""

    def __init__(self, body: bytes):
        self.requests: list[str] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                with lock:
                    outer.requests.append(self.path)
                    fail = len(outer.requests) % 2 == 0
                status, data = (503, b"busy") if fail else (200, body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def flaky(tmp_path):
    server = FlakyServer(png(tmp_path / "served.png").read_bytes())
    yield server
    server.close()


def write_feed(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def product(pid: str, uri: str, **extra) -> dict:
    return {"product_id": pid, "title": "Lamp", "category": "lamp", "image_uri": uri, **extra}


# ---- 1. every image fetched once; the balance is the written tables' ------------------------

def test_each_image_is_fetched_once_and_every_product_lands_in_exactly_one_table(
        spark, tmp_path, flaky):
    """A server that fails every other request: with a fetch for the counts and another for
    the rejects (after the MERGE invalidated the cached images), one product ended in both
    tables and one in neither while the log said 2/3 accepted. Fetched once, each image lands
    in exactly one table and the result's figures are the tables'."""
    feed = write_feed(tmp_path / "catalog" / "feed.jsonl",
                      [product(f"p{i}", f"{flaky.url}/p{i}.png") for i in range(3)])
    settings = make_settings(tmp_path, allowed_roots=str(tmp_path / "catalog"),
                             http_allowed_hosts="127.0.0.1", incremental="true")

    result = ingest.run(spark, settings, DS, str(feed))

    assert sorted(flaky.requests) == ["/p0.png", "/p1.png", "/p2.png"]  # once each
    catalog = set(read_table(settings, "catalog_images")["product_id"])
    rejects = read_table(settings, "ingest_rejects")
    rejected = set(rejects["product_id"])
    assert catalog.isdisjoint(rejected) and catalog | rejected == {"p0", "p1", "p2"}
    assert (result.images_accepted, result.images_rejected) == (len(catalog), len(rejected))
    assert (result.images_accepted, result.images_rejected) == (2, 1)
    assert set(rejects["reason"]) == {"fetch_error"}
    # Nothing of the run's staging is left in the warehouse.
    assert not list((Path(settings.warehouse_uri) / "_staging").rglob("*.parquet"))


def test_the_balance_is_checked_on_the_tables_as_written(spark, tmp_path):
    """The figures come from the tables after the writes: a catalog row that did not land
    makes the run's balance fail instead of logging a count nobody wrote."""
    cat = tmp_path / "catalog"
    feed = write_feed(cat / "feed.jsonl", [product(f"p{i}", str(png(cat / f"p{i}.png")))
                                           for i in range(3)])
    settings = make_settings(tmp_path, allowed_roots=str(cat))
    result = ingest.run(spark, settings, DS, str(feed))
    assert (result.feed_rows, result.images_accepted, result.images_rejected) == (3, 3, 0)

    ids = read_table(settings, "catalog_images")[["image_id"]]
    spark.sql(f"DELETE FROM delta.`{settings.table_uri('catalog_images')}` "
              "WHERE product_id = 'p1'")
    images = spark.createDataFrame([(i, None) for i in ids["image_id"]],
                                   "image_id string, reason string")
    written = ingest.written_counts(spark, settings, DS, images)
    assert (written["images_accepted"], written["images_rejected"]) == (2, 0)
    lost = ingest.IngestResult(
        ds=DS, feed_rows=3, rows_accepted=3, rows_rejected=written["rows_rejected"],
        images_in=3, images_accepted=written["images_accepted"],
        images_rejected=written["images_rejected"], reasons={}, inserted=0, updated=0)
    with pytest.raises(ingest.IngestBalanceError, match="do not balance"):
        lost.check_balance()
