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


# ---- 2. any one row becomes a reject; never the job's death ---------------------------------

def test_rows_that_killed_the_job_end_as_rejects(spark, tmp_path):
    """A lone surrogate in a product id or an extra image URI crashed the job in pyarrow's
    encoder; NaN and 1e400 ids became products "nan" and "inf"."""
    cat = tmp_path / "catalog"
    good = str(png(cat / "good.png"))
    lines = [json.dumps(product("ok", good)),
             json.dumps(product("bad\ud800id", good)),
             json.dumps(product("p-extra", good, extra_images=[{"uri": good + "\udc00"}])),
             json.dumps(product(float("nan"), good)),
             '{"product_id": 1e400, "title": "Lamp", "category": "lamp", "image_uri": "%s"}'
             % good,
             "[" * 50_000]
    feed = cat / "feed.jsonl"
    feed.write_text("\n".join(lines) + "\n")
    settings = make_settings(tmp_path, allowed_roots=str(cat))
    result = ingest.run(spark, settings, DS, str(feed))
    assert (result.feed_rows, result.rows_accepted, result.rows_rejected) == (6, 1, 5)
    assert set(read_table(settings, "catalog_images")["product_id"]) == {"ok"}
    rejects = read_table(settings, "ingest_rejects").sort_values("record_index")
    assert list(rejects["reason"]) == ["invalid_value"] * 4 + ["malformed_record"]
    assert list(rejects["product_id"])[:2] == ["bad\\ud800id", "p-extra"]
    assert rejects["product_id"].iloc[2:].isna().all()  # NaN, inf: no id to show


from hypothesis import HealthCheck, given, settings as hsettings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LINE_TEXT = st.text(st.characters(min_codepoint=1, max_codepoint=0x10FFFF,
                                   blacklist_categories=("Cs",),
                                   blacklist_characters="\r\n"), max_size=30)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_JSON_LINE = st.one_of(
    _JSON.map(json.dumps), _LINE_TEXT,
    st.fixed_dictionaries({"product_id": _LINE_TEXT | st.integers() | st.floats(),
                           "title": _LINE_TEXT, "category": st.just("lamp"),
                           "image_uri": _LINE_TEXT}).map(json.dumps))


@hsettings(max_examples=4, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(jsonl=st.lists(_JSON_LINE, min_size=1, max_size=12),
       cells=st.lists(st.lists(_LINE_TEXT, min_size=4, max_size=4), min_size=1, max_size=8))
def test_the_readers_turn_any_lines_into_rows_or_rejects(spark, jsonl, cells):
    """Random JSON values and unicode through Spark's readers (JSONL, CSV) and the row
    validator: every non-blank line is one row, accepted or with a reason, and the batch
    reaches the driver (no encoder error)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        s = make_settings(Path(tmp))
        feed = Path(tmp) / "feed.jsonl"
        feed.write_text("\n".join(jsonl) + "\n", encoding="utf-8")
        rows = ingest.validate_rows(ingest.read_feed(spark, str(feed), "jsonl"), s, tmp).collect()
        assert len(rows) == sum(1 for l in jsonl if l.strip(" "))
        assert all((r["reason"] is None) == bool(r["product_id"] and r["content_key"])
                   or r["reason"] for r in rows)

        csv = Path(tmp) / "feed.csv"
        pd.DataFrame(cells, columns=["product_id", "title", "category", "image_uri"]).to_csv(
            csv, index=False)
        rows = ingest.validate_rows(ingest.read_feed(spark, str(csv), "csv"), s, tmp).collect()
        assert len(rows) == len(cells)
        assert all(r["reason"] is None or r["detail"] for r in rows)
