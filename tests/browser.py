"""Test helper: a headless Chromium driven through chromedriver's W3C WebDriver HTTP API (urllib only).

    with Browser() as b:
        check = b.check_page(tmp_path / "index.html", "gallery")
        assert check.ok, check.problems()

``check_page`` loads a local page, waits for it and its images, then reports every image that
did not resolve, every ``<video>`` that errored or never got its metadata, and every local link
(``<a href>``, ``<source src>``, ``poster``) to a file that does not exist; it keeps a PNG
screenshot in the artefact directory: ``$ADSTAGE_TEST_ARTIFACTS`` when set, else
``<repo>/test-artifacts/`` (gitignored).  Chromium and chromedriver are Debian's ``chromium`` and
``chromium-driver`` (``make browser`` installs them); when they are missing ``Browser`` raises
``BrowserMissing`` so that the tests fail rather than skip.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROME_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--hide-scrollbars")


class BrowserMissing(RuntimeError):
    """chromium or chromedriver is not installed."""


class WebDriverError(RuntimeError):
    """An error answer from chromedriver (its W3C error code and message)."""


def artifacts_dir() -> Path:
    """Where screenshots (and the chromedriver log) are kept; created on demand."""
    d = Path(os.environ.get("ADSTAGE_TEST_ARTIFACTS") or REPO / "test-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


def find_binaries() -> tuple[str, str]:
    """(chromium, chromedriver) paths on PATH; BrowserMissing with the fix otherwise."""
    chromium = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    driver = shutil.which("chromedriver")
    missing = [n for n, p in (("chromium", chromium), ("chromedriver", driver)) if not p]
    if missing:
        raise BrowserMissing(f"{' and '.join(missing)} not found on PATH: run `make browser` (installs Debian's "
                             "chromium and chromium-driver packages) before the browser tests")
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_path(url: str) -> Path | None:
    """The file a ``file://`` URL names (query and fragment dropped); None for other schemes."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    return Path(url2pathname(unquote(parts.path)))


@dataclass
class PageCheck:
    """What ``Browser.check_page`` found on one page."""

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


# Runs in the page (W3C "execute sync" awaits a returned promise).  Lazy images are switched to
# eager so that every image is requested, then waited for; videos get up to `videoMs` to reach
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


class Browser:
    """chromedriver on a free port plus one headless Chromium session; a context manager that
    always deletes the session and stops the driver (and anything it started)."""

    def __init__(self, *, window: tuple[int, int] = (1280, 2000), timeout: float = 30.0,
                 artifacts: str | Path | None = None):
        self.window = window
        self.timeout = timeout
        self.artifacts = Path(artifacts) if artifacts else artifacts_dir()
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.session = ""

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> "Browser":
        chromium, driver = find_binaries()
        self.artifacts.mkdir(parents=True, exist_ok=True)
        try:
            self._start_driver(driver)
            caps = {"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "pageLoadStrategy": "normal",
                "goog:chromeOptions": {"binary": chromium, "args": [
                    *CHROME_ARGS, f"--window-size={self.window[0]},{self.window[1]}"]}}}}
            value = self._call("POST", "/session", caps)
            self.session = value["sessionId"]
            self._call("POST", self._s("/timeouts"),
                       {"script": int(self.timeout * 1000), "pageLoad": int(self.timeout * 1000)})
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start_driver(self, driver: str) -> None:
        log = self.artifacts / "chromedriver.log"
        for _ in range(3):                     # a port taken between the probe and the bind: retry
            port = _free_port()
            self.base = f"http://127.0.0.1:{port}"
            self.proc = subprocess.Popen([driver, f"--port={port}", f"--log-path={log}"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if self._call("GET", "/status", timeout=2).get("ready"):
                        return
                except (OSError, WebDriverError):
                    pass
                time.sleep(0.1)
            self._stop_driver()
        raise RuntimeError(f"chromedriver did not start (log: {log})")

    def _stop_driver(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        # Its own process group (start_new_session): the driver and any browser it left behind.
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue

    def close(self) -> None:
        if self.session:
            try:
                self._call("DELETE", self._s(""), timeout=10)
            except (OSError, WebDriverError):
                pass
            self.session = ""
        self._stop_driver()

    # -- WebDriver calls -----------------------------------------------------------------------
    def _s(self, path: str) -> str:
        return f"/session/{self.session}{path}"

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout + 15) as r:
                answer = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                v = json.loads(e.read()).get("value", {})
            except ValueError:
                v = {}
            raise WebDriverError(f"{method} {path}: {v.get('error', e.code)}: {v.get('message', e.reason)}") from None
        return answer.get("value")

    def get(self, url: str | Path) -> None:
        """Navigate (a Path becomes a ``file://`` URL); returns when the page has loaded."""
        if isinstance(url, Path):
            url = url.resolve().as_uri()
        self._call("POST", self._s("/url"), {"url": url})
        self.wait_for("return document.readyState === 'complete'")

    def execute(self, script: str, *args):
        """Run a function body in the page and return its value (a returned promise is awaited)."""
        return self._call("POST", self._s("/execute/sync"), {"script": script, "args": list(args)})

    def wait_for(self, script: str, *args, timeout: float | None = None, poll: float = 0.05):
        """Poll ``script`` until it returns something truthy; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            v = self.execute(script, *args)
            if v:
                return v
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for: {script}")
            time.sleep(poll)

    def _set_viewport_height(self, height: int) -> None:
        # Window rect = viewport + frame, and headless Chromium's frame changes after the first
        # resize: measure, resize, correct by what is still missing (twice at most).
        for _ in range(3):
            inner = self.execute("return window.innerHeight")
            if inner == height:
                return
            rect = self._call("GET", self._s("/window/rect"))
            self._call("POST", self._s("/window/rect"), {"width": rect["width"], "height": rect["height"] + height - inner})

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        """Save a PNG of the viewport as ``<artefacts>/<name>.png``; with ``full_page`` the viewport
        is first made as tall as the document (up to 10000 px) and restored after."""
        old = None
        if full_page:
            old, doc = self.execute("return [window.innerHeight, document.documentElement.scrollHeight]")
            if doc > old:
                self._set_viewport_height(min(doc, 10000))
            else:
                old = None
        try:
            png = base64.b64decode(self._call("GET", self._s("/screenshot")))
        finally:
            if old:
                self._set_viewport_height(old)
        path = self.artifacts / f"{name}.png"
        path.write_bytes(png)
        return path

    def check_page(self, url: str | Path, name: str, *, image_timeout: float = 10.0,
                   video_timeout: float = 5.0) -> PageCheck:
        """Load ``url``, wait for its images (and videos' metadata), report what did not resolve,
        and keep a screenshot named ``name``."""
        self.get(url)
        r = self.execute(_CHECK_JS, int(image_timeout * 1000), int(video_timeout * 1000))
        missing = []
        for u in dict.fromkeys(r["urls"]):
            p = local_path(u)
            if p is not None and not p.exists():
                missing.append(u)
        self.execute("window.scrollTo(0, 0)")
        return PageCheck(url=self.execute("return location.href"), title=r["title"],
                         broken_images=r["brokenImages"], broken_videos=r["brokenVideos"],
                         missing_files=missing, screenshot=self.screenshot(name))
