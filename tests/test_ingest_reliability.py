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


# ---- 3. an empty feed fails loudly and changes nothing --------------------------------------

def _delta_versions(settings) -> dict[str, list[str]]:
    return {t: sorted(p.name for p in (Path(settings.table_uri(t)) / "_delta_log").glob("*.json"))
            for t in ("catalog_images", "ingest_rejects")}


def test_an_empty_feed_fails_loudly_and_changes_nothing(spark, tmp_path):
    """An empty feed (a truncated upload) replaced the date's rejects with nothing and
    exited 0. Now: 0 bytes, a header only or blank lines fail with one line and no table
    moves; with allow_empty_feed=true an empty night is written."""
    from adstage.errors import EmptyFeed

    cat = tmp_path / "catalog"
    feed = write_feed(cat / "feed.jsonl", [product("p1", str(png(cat / "p1.png"))),
                                           product("p2", str(cat / "missing.png"))])
    settings = make_settings(tmp_path, allowed_roots=str(cat))
    ingest.run(spark, settings, DS, str(feed))
    before = _delta_versions(settings)
    assert len(read_table(settings, "ingest_rejects", ds=DS)) == 1

    empties = {"zero.jsonl": b"", "blank.jsonl": b"\n \n\n", "header.csv":
               b"product_id,title,category,image_uri\n", "zero.parquet": b""}
    for name, data in empties.items():
        (cat / name).write_bytes(data)
        with pytest.raises(EmptyFeed, match=r"^feed for ds=2026-11-24 has (0 bytes|no rows): .*"
                                            r"nothing was changed .*allow_empty_feed=true"):
            ingest.run(spark, settings, DS, str(cat / name))
    assert _delta_versions(settings) == before
    assert len(read_table(settings, "ingest_rejects", ds=DS)) == 1

    allowed = make_settings(tmp_path, allowed_roots=str(cat), allow_empty_feed="true")
    result = ingest.run(spark, allowed, DS, str(cat / "zero.jsonl"))
    assert (result.feed_rows, result.images_in) == (0, 0)
    assert len(read_table(settings, "ingest_rejects", ds=DS)) == 0
    assert set(read_table(settings, "catalog_images")["product_id"]) == {"p1"}


# ---- 5. errors a person can read --------------------------------------------------------------

JOB = Path(__file__).resolve().parents[1] / "jobs" / "ingest.py"


def _run_job(tmp_path, *args: str) -> tuple[int, str]:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ADSTAGE_")}
    env.update(ADSTAGE_HOME=str(tmp_path / "home"), ADSTAGE_ALLOWED_ROOTS=str(tmp_path))
    proc = subprocess.run([sys.executable, str(JOB), "--ds", DS, *args], env=env,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--conf", "fetch_timout_s=3"], "unknown setting 'fetch_timout_s': did you mean "
                                     "fetch_timeout_s?"),
    (["--conf", "fetch_timeout_s=-1"], "fetch_timeout_s=-1.0 must be > 0"),
    (["--conf", "onnx_device=tpu"], "onnx_device='tpu' must be one of cpu, cuda, auto"),
    (["--conf", "min_side=900", "--conf", "max_side=100"], "min_side=900 is above max_side=100"),
    (["--feed", "{tmp}/nope.jsonl"], "feed for ds=2026-11-24 not found: {tmp}/nope.jsonl"),
    ([], "no feed given: pass --feed or set ADSTAGE_FEED_URI"),
    (["--feed", "{tmp}/feed.txt"], "cannot tell the format of {tmp}/feed.txt; pass --format"),
    (["--feed", "{tmp}/empty.jsonl"], "feed for ds=2026-11-24 has 0 bytes"),
], ids=["mistyped", "negative-timeout", "tpu", "min-above-max", "missing-feed", "no-feed",
        "unknown-format", "empty-feed"])
@pytest.mark.spark
def test_operator_errors_are_one_line_without_a_traceback(tmp_path, args, message):
    (tmp_path / "feed.txt").write_text("product_id;title\n1;x\n")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    rc, out = _run_job(tmp_path, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    lines = out.strip().splitlines()
    assert rc == 2 and len(lines) == 1, out
    assert lines[0].startswith("ingest ds=2026-11-24: error: ")
    assert message.replace("{tmp}", str(tmp_path)) in lines[0] and "Traceback" not in out


def test_a_warehouse_that_cannot_be_written_is_one_line_with_the_java_cause(spark, tmp_path,
                                                                           capsys):
    from adstage import delta
    from adstage.jobrunner import guarded

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the warehouse should be")
    settings = make_settings(tmp_path, warehouse=str(blocker))
    rc = guarded("ingest", DS, lambda: delta.ensure_table(spark, settings, "ingest_rejects"))
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    line = err.strip()
    assert line.startswith("ingest ds=2026-11-24: error: ") and "\tat " not in line
    assert str(blocker) in line and ("Exception" in line or "Error" in line), line


def test_a_signed_feed_url_keeps_its_format_and_content_tells_it_otherwise(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from adstage.errors import FeedFormatError

    signed = ("https://feeds.example.com/2026-11-24/feed.jsonl?X-Amz-Algorithm=AWS4-HMAC-SHA256"
              "&X-Amz-Credential=AKIAEXAMPLE%2F20261124&X-Amz-Signature=0a1b2c3d")
    assert ingest.feed_format(signed) == "jsonl"
    assert ingest.feed_format("s3a://bucket/feeds/feed.csv?versionId=3") == "csv"
    pq.write_table(pa.table({"product_id": ["1"]}), tmp_path / "feed")
    assert ingest.feed_format(str(tmp_path / "feed")) == "parquet"
    (tmp_path / "export").write_text('\ufeff{"product_id": "1"}\n')
    assert ingest.feed_format(str(tmp_path / "export")) == "jsonl"
    assert ingest.feed_format(str(tmp_path / "export"), "jsonl") == "jsonl"
    with pytest.raises(FeedFormatError) as err:
        ingest.feed_format("https://feeds:hunter2@feeds.example.com/export?sig=0a1b2c3d")
    assert "hunter2" not in str(err.value) and "0a1b2c3d" not in str(err.value)
    assert "--format" in str(err.value)


# ---- 4. no signed or credentialed URL in clear in the tables ---------------------------------

class _Photos(BaseHTTPRequestHandler):
    body = b""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        ok = self.path.startswith("/ok")
        data = self.body if ok else b"no"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_signed_and_credentialed_urls_are_stored_masked(spark, tmp_path):
    """catalog_images.source_uri and every column of ingest_rejects (detail, image_uri, the
    original record) hold the URL with its signature, credential, token and password
    masked; a user:password@ URL is refused before any lookup."""
    _Photos.body = png(tmp_path / "served.png").read_bytes()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Photos)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    secrets = ("AKIASECRET1", "sig-secret-2", "tok-secret-3", "hunter2pw", "sas-secret-4")
    signed = (f"{base}/ok/a.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIASECRET1"
              f"%2F20261124&X-Amz-Security-Token=tok-secret-3&X-Amz-Signature=sig-secret-2")
    try:
        feed = write_feed(tmp_path / "catalog" / "feed.jsonl", [
            product("signed", signed),
            product("missing", f"{base}/gone/b.png?sv=2024&sig=sas-secret-4"),
            product("creds", f"http://admin:hunter2pw@127.0.0.1:{httpd.server_address[1]}/ok/c.png"),
        ])
        settings = make_settings(tmp_path, allowed_roots=str(tmp_path / "catalog"),
                                 http_allowed_hosts="127.0.0.1")
        ingest.run(spark, settings, DS, str(feed))
    finally:
        httpd.shutdown()
        httpd.server_close()

    catalog = read_table(settings, "catalog_images")
    rejects = read_table(settings, "ingest_rejects").set_index("product_id")
    assert list(catalog["product_id"]) == ["signed"]
    assert "X-Amz-Signature=***" in catalog["source_uri"].iloc[0]
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in catalog["source_uri"].iloc[0]
    assert rejects.loc["missing", "reason"] == "not_found"
    assert rejects.loc["creds", "reason"] == "credentials_in_url"
    stored = " ".join(str(v) for df in (catalog, rejects.reset_index()) for v in df.to_numpy().ravel())
    assert [s for s in secrets if s in stored] == []
    # The image's identity is the masked URL: tomorrow's signature is the same image.
    from adstage.feed import image_id
    assert catalog["image_id"].iloc[0] == image_id("signed", "primary", catalog["source_uri"].iloc[0])


# ---- 6. rows of images no longer in the feed are not current ---------------------------------

def test_last_seen_ds_tells_the_current_images_from_the_ones_that_left(spark, tmp_path):
    """A product that left the feed, or whose image URI changed, kept its old row "current"
    forever. last_seen_ds moves with every feed that lists the image (content changed or
    not); the rows that left keep theirs. A re-run changes nothing, a backfill of an older
    date moves nothing back."""
    cat = tmp_path / "catalog"
    a, b, b2, c = (str(png(cat / f"{n}.png", colour=col)) for n, col in
                   (("a", (10, 20, 30)), ("b", (40, 50, 60)), ("b2", (70, 80, 90)),
                    ("c", (100, 110, 120))))
    feed = cat / "feed.jsonl"
    settings = make_settings(tmp_path, allowed_roots=str(cat))
    D1, D2 = DS, "2026-11-25"
    write_feed(feed, [product("a", a), product("b", b), product("c", c)])
    ingest.run(spark, settings, D1, str(feed))
    write_feed(feed, [product("a", a), product("b", b2)])       # b's URI changed, c left
    result = ingest.run(spark, settings, D2, str(feed))
    assert (result.inserted, result.updated, result.seen_again) == (1, 0, 1)

    def seen():
        df = read_table(settings, "catalog_images")
        return {(r.product_id, r.source_uri.rsplit("/", 1)[-1]): str(r.last_seen_ds)
                for r in df.itertuples()}

    expected = {("a", "a.png"): D2, ("b", "b.png"): D1, ("b", "b2.png"): D2, ("c", "c.png"): D1}
    assert seen() == expected
    current = read_table(settings, "catalog_images")
    current = current[current["last_seen_ds"].astype(str) == D2]
    assert sorted(current["product_id"]) == ["a", "b"]
    again = ingest.run(spark, settings, D2, str(feed))
    assert (again.inserted, again.updated, again.seen_again) == (0, 0, 0) and seen() == expected
    write_feed(feed, [product("a", a), product("b", b), product("c", c)])
    ingest.run(spark, settings, D1, str(feed))                 # a late backfill of D1
    assert seen() == expected
