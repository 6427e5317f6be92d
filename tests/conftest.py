"""Shared fixtures: one local Spark session for the whole run (after Delta's own test utils),
a fresh Settings and warehouse per test, and small hand-made catalog feeds; a headless Chromium
(Selenium) with a page check for the gallery tests; the test tiers.

Tiers (markers registered in setup.cfg; ``make test-fast`` is ``-m "unit and not slow"``):

* ``e2e``   marked by hand (``@pytest.mark.e2e``): spark-submit, a standalone cluster, Airflow
  runs (``airflow tasks test``, a scheduler and backfills).
* ``spark`` given here to every test whose fixtures include ``spark`` (the local session), and
  by hand to tests that run a job in a local Python process (``python jobs/<job>.py``).
* ``unit``  given here to every other test: no Spark, no Airflow run, no spark-submit.
* ``slow``  by hand, on unit tests that take seconds (a model run, a fresh interpreter, many
  property examples). ``make test-fast`` runs ``-m "unit and not slow"``; ``make test`` all.

The unit tier cannot drift into a slow one unnoticed: while a unit test runs, creating a
SparkSession or starting spark-submit, ``airflow``, ``java`` or a job script (other than with
``--help``) fails the test with the marker to add; and a unit test not marked slow that takes
more than FAST_BUDGET_S seconds is named at the end of the run (a warning, not a failure:
timings depend on the machine's load).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import pytest

from adstage.config import Settings

# Workers and spark-submit must run this interpreter (and see this checkout).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")] if p)


def make_settings(home: Path, **overrides: str) -> Settings:
    """Settings for a test: defaults + overrides only (a developer's ADSTAGE_* env never leaks)."""
    base = {"home": str(home), "allowed_roots": str(home), "shuffle_partitions": "2",
            "jars_dir": os.environ.get("ADSTAGE_JARS_DIR", "")}
    base.update(overrides)
    return Settings.load({k: v for k, v in base.items() if v != ""}, environ={})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from adstage.spark import get_session

    s = get_session(make_settings(tmp_path_factory.mktemp("spark")), "adstage-tests")
    yield s
    s.stop()


# ---- tiers -----------------------------------------------------------------------------------
TIERS = ("unit", "spark", "e2e")


def pytest_collection_modifyitems(config, items):
    for item in items:
        marked = {m.name for m in item.iter_markers() if m.name in TIERS}
        if "spark" in item.fixturenames and "e2e" not in marked:
            marked.add("spark")
        if not marked:
            item.add_marker(pytest.mark.unit)
        elif "spark" in marked and item.get_closest_marker("spark") is None:
            item.add_marker(pytest.mark.spark)
        if len(marked) > 1:
            raise pytest.UsageError(f"{item.nodeid}: one tier only, got {sorted(marked)}")


_JOBS = Path(__file__).resolve().parents[1] / "jobs"
_REFUSED = ("spark-submit", "spark-class", "airflow", "java")


def _not_unit(what: str) -> str:
    return (f"a unit-tier test {what}: mark it @pytest.mark.spark (local Spark, a job in a "
            "local process) or @pytest.mark.e2e (spark-submit, Airflow), see tests/conftest.py")


class _UnitPopen(subprocess.Popen):
    def __init__(self, args, *a, **kw):
        argv = [str(x) for x in ([args] if isinstance(args, (str, bytes, os.PathLike)) else args)]
        for arg in argv:
            name = Path(arg.split()[0] if arg.strip() else arg).name
            if name in _REFUSED:
                raise RuntimeError(_not_unit(f"started {name}"))
            if arg.endswith(".py") and Path(arg).resolve().parent == _JOBS and "--help" not in argv:
                raise RuntimeError(_not_unit(f"ran the job {Path(arg).name}"))
        super().__init__(args, *a, **kw)


@pytest.fixture(autouse=True)
def _unit_tier_guard(request, monkeypatch):
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    # Import pyspark before Popen is patched: java_gateway binds ``from subprocess import Popen``
    # at import time, and a first import here would keep the guard's Popen for later Spark tests.
    try:
        import pyspark.java_gateway  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError:
        SparkSession = None
    monkeypatch.setattr(subprocess, "Popen", _UnitPopen)
    if SparkSession is not None:
        def refuse(self):
            raise RuntimeError(_not_unit("created a SparkSession"))
        monkeypatch.setattr(SparkSession.Builder, "getOrCreate", refuse)
    yield


FAST_BUDGET_S = 5.0
_over_budget: dict[str, float] = {}


def pytest_runtest_logreport(report):
    if "unit" in report.keywords and "slow" not in report.keywords and report.when != "teardown":
        _over_budget[report.nodeid] = _over_budget.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    slow = sorted(((s, n) for n, s in _over_budget.items() if s > FAST_BUDGET_S), reverse=True)
    if slow:
        terminalreporter.section("unit tests over the fast tier's budget")
        terminalreporter.write_line(f"these took over {FAST_BUDGET_S:.0f} s (setup + call): mark "
                                    "them @pytest.mark.slow or make them faster")
        for s, n in slow:
            terminalreporter.write_line(f"  {s:6.1f} s  {n}")


# ---- a headless Chromium (Selenium) and a page check ------------------------------------------
# Debian's chromium + chromium-driver (`make browser`), driven by Selenium; Selenium Manager is
# never asked for a driver (both paths are given), so nothing is downloaded.  Missing binaries
# raise BrowserMissing: the browser tests fail rather than skip.
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROME_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--hide-scrollbars")


class BrowserMissing(RuntimeError):
    """chromium or chromedriver is not installed."""


def artifacts_dir() -> Path:
    """Where screenshots and the chromedriver log are kept: $ADSTAGE_TEST_ARTIFACTS, else
    <repo>/test-artifacts/ (gitignored); created on demand."""
    d = Path(os.environ.get("ADSTAGE_TEST_ARTIFACTS")
             or Path(__file__).resolve().parents[1] / "test-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


def find_binaries() -> tuple[str, str]:
    """(chromium, chromedriver) paths on PATH; BrowserMissing with the fix otherwise."""
    browser = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    driver = shutil.which("chromedriver")
    missing = [n for n, p in (("chromium", browser), ("chromedriver", driver)) if not p]
    if missing:
        raise BrowserMissing(f"{' and '.join(missing)} not found on PATH: run `make browser` (installs Debian's "
                             "chromium and chromium-driver packages) before the browser tests")
    return browser, driver


@contextmanager
def chromium(window: tuple[int, int] = (1280, 2000), timeout: float = 30.0):
    """A Selenium ``webdriver.Chrome`` on a headless Chromium, quit on the way out."""
    browser, driver_path = find_binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (*CHROME_ARGS, f"--window-size={window[0]},{window[1]}"):
        options.add_argument(arg)
    service = Service(executable_path=driver_path, log_output=str(artifacts_dir() / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_script_timeout(timeout)
        driver.set_page_load_timeout(timeout)
        yield driver
    finally:
        driver.quit()


def local_path(url: str) -> Path | None:
    """The file a ``file://`` URL names (query and fragment dropped); None for other schemes."""
    parts = urlsplit(url)
    return Path(url2pathname(unquote(parts.path))) if parts.scheme == "file" else None


@dataclass
class PageCheck:
    """What ``check_page`` found on one page."""

    url: str
    title: str
    broken_images: list[dict] = field(default_factory=list)
    broken_videos: list[dict] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def ok(self) -> bool:
        return not (self.broken_images or self.broken_videos or self.missing_files)

    def problems(self) -> str:
        return json.dumps({"url": self.url, "broken_images": self.broken_images,
                           "broken_videos": self.broken_videos, "missing_files": self.missing_files}, indent=1)


# Runs in the page (WebDriver awaits a returned promise).  Lazy images are switched to eager so
# that every image is requested, then waited for; videos get up to `videoMs` to reach
# HAVE_METADATA or fail.
_CHECK_JS = r"""
const [imageMs, videoMs] = arguments;
return (async () => {
const until = (ms, done) => new Promise(res => {
  const t0 = performance.now();
  (function poll() { if (done() || performance.now() - t0 > ms) res(); else setTimeout(poll, 50); })();
});
const imgs = Array.from(document.images);
imgs.forEach(i => { if (i.loading === "lazy") i.loading = "eager"; });
await until(imageMs, () => imgs.every(i => i.complete));
const vids = Array.from(document.querySelectorAll("video"));
vids.forEach(v => { if (v.preload === "none") v.preload = "metadata"; });
await until(videoMs, () => vids.every(v => v.readyState >= 1 || v.error || v.networkState === 3));
const brokenImages = imgs.filter(i => !i.complete || i.naturalWidth === 0)
  .map(i => ({src: i.getAttribute("src"), url: i.src, complete: i.complete, naturalWidth: i.naturalWidth}));
const brokenVideos = vids.filter(v => v.error || v.networkState === 3 || v.readyState < 1)
  .map(v => ({currentSrc: v.currentSrc, readyState: v.readyState, networkState: v.networkState,
              error: v.error ? (v.error.code + " " + v.error.message) : null,
              sources: Array.from(v.querySelectorAll("source")).map(s => s.src)}));
const urls = [];
document.querySelectorAll("a[href]").forEach(a => urls.push(a.href));
document.querySelectorAll("source[src], video[src], audio[src]").forEach(s => urls.push(s.src));
document.querySelectorAll("video[poster]").forEach(v => urls.push(v.poster));
return {title: document.title, brokenImages, brokenVideos, urls};
})();
"""


def screenshot(driver, name: str, max_height: int = 10000) -> Path:
    """A PNG of the whole page (up to ``max_height`` px) as ``<artefacts>/<name>.png``."""
    import base64

    width, height = driver.execute_script(
        "const e = document.documentElement; return [e.clientWidth, Math.max(e.scrollHeight, innerHeight)]")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, max_height), "scale": 1}})
    path = artifacts_dir() / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def check_page(driver, url: str | Path, name: str, *, image_timeout: float = 10.0,
               video_timeout: float = 5.0) -> PageCheck:
    """Load ``url`` (a Path becomes a file:// URL), wait for its images (and videos' metadata),
    report what did not resolve and every local link to a missing file, and keep a screenshot
    named ``name``."""
    driver.get(url.resolve().as_uri() if isinstance(url, Path) else url)
    r = driver.execute_script(_CHECK_JS, int(image_timeout * 1000), int(video_timeout * 1000))
    missing = [u for u in dict.fromkeys(r["urls"]) if (p := local_path(u)) is not None and not p.exists()]
    driver.execute_script("window.scrollTo(0, 0)")
    return PageCheck(url=driver.current_url, title=r["title"], broken_images=r["brokenImages"],
                     broken_videos=r["brokenVideos"], missing_files=missing,
                     screenshot=screenshot(driver, name))
