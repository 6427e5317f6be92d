"""The review gallery in a real headless Chromium (Debian's chromium + chromium-driver, `make browser`,
driven by Selenium: ``chromium`` and ``check_page`` in tests/conftest.py).

One gallery for a made-up date with real PNGs and real parallax clips (``adstage.staging.parallax``
writers); one browser session for the module.  Checked: it loads, every image resolves, the
WebM clips play (the MP4s are only download links: Chromium does not play ``mp4v``), a card
without a WebM shows its GIF, cards are worst first and the select box re-sorts them, and a
screenshot is kept (``conftest.artifacts_dir`` says where).  The negative test breaks a copy of the
gallery to show that the check can fail.  Missing chromium/chromedriver is an error, not a skip.
"""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from adstage.staging.gallery_page import write_gallery
from adstage.staging.parallax import write_gif, write_mp4, write_webm
from conftest import BrowserMissing, check_page, chromium, find_binaries

DS = "2031-02-03"
# product id -> scores; "p-noscore" has no fit_iou (goes last), "p-gif" has no WebM (GIF shown).
PRODUCTS = {
    "p-good": {"fit_iou": 0.92, "gap_share": 0.05},
    "p-bad": {"fit_iou": 0.15, "gap_share": 0.10},
    "p-mid": {"fit_iou": 0.55, "gap_share": 0.40},
    "p-gif": {"fit_iou": 0.35, "gap_share": 0.20},
    "p-noscore": {"gap_share": 0.30},
}
CLIP_SIZE = (161, 101)       # odd on purpose: the writers pad to even


def _png(path: Path, seed: int, size=(160, 120)) -> None:
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = rng.integers(40, 220, 3)
    cv2.rectangle(img, (w // 4, h // 4), (3 * w // 4, 3 * h // 4), [int(c) for c in rng.integers(0, 255, 3)], -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def _frames(seed: int, n: int = 12) -> list[np.ndarray]:
    w, h = CLIP_SIZE
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:] = (60 + 10 * seed, 120, 180)
        cv2.rectangle(f, (20 + 6 * i, 30), (60 + 6 * i, 90), (30, 200, 240), -1)
        out.append(f)
    return out


def build_gallery(root: Path) -> Path:
    items = []
    for k, (pid, scores) in enumerate(PRODUCTS.items()):
        names = {key: f"img/{pid} {key}.png" for key in ("before", "donor", "result", "square", "landscape")}
        for j, n in enumerate(names.values()):
            _png(root / n, 10 * k + j, (160, 160) if "square" in n else (200, 120))
        frames = _frames(k)
        (root / "vid").mkdir(exist_ok=True)
        item = {"product_id": pid, "title": f"Chair #{k} <oak & ash>", "before": names["before"],
                "donor": names["donor"], "result": names["result"],
                "crops": {"square": names["square"], "landscape": names["landscape"]},
                "video": write_mp4(frames, root / "vid" / f"{pid}.mp4", 12).relative_to(root).as_posix(),
                "gif": write_gif(frames, root / "vid" / f"{pid}.gif", 12).relative_to(root).as_posix(),
                "scores": scores}
        if pid != "p-gif":
            item["webm"] = write_webm(frames, root / "vid" / f"{pid}.webm", 12).relative_to(root).as_posix()
        items.append(item)
    return write_gallery(root, DS, items)


def expected_order(key: str, higher_is_better: bool) -> list[str]:
    have = [p for p in PRODUCTS if key in PRODUCTS[p]]
    worst_first = sorted(have, key=lambda p: PRODUCTS[p][key], reverse=not higher_is_better)
    return worst_first + [p for p in PRODUCTS if key not in PRODUCTS[p]]


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    return build_gallery(tmp_path_factory.mktemp("gallery") / DS)


CARD_ORDER = "return Array.from(document.querySelectorAll('#cards > section.card')).map(s => s.dataset.pid)"


def test_gallery_loads_every_image_resolves_and_a_screenshot_is_kept(browser, gallery):
    check = check_page(browser, gallery, f"gallery-{DS}")
    assert check.ok, check.problems()
    assert DS in check.title
    assert DS in browser.execute_script("return document.querySelector('h1').textContent")
    assert browser.execute_script(CARD_ORDER) and len(browser.execute_script(CARD_ORDER)) == len(PRODUCTS)
    n_img, n_broken_alt = browser.execute_script(
        "const i = Array.from(document.images); return [i.length, i.filter(x => !x.naturalWidth).length]")
    assert (n_img, n_broken_alt) == (5 * len(PRODUCTS) + 1, 0)      # 5 pictures a card + p-gif's GIF
    assert "<oak & ash>" in browser.execute_script("return document.querySelector('h2 small').textContent")

    shot = check.screenshot
    assert shot.is_file() and shot.name == f"gallery-{DS}.png" and shot.stat().st_size > 10_000
    img = Image.open(io.BytesIO(shot.read_bytes()))
    img.verify()
    rgb = np.asarray(Image.open(shot).convert("RGB"))
    assert rgb.shape[1] == 1280 and rgb.shape[0] >= 1000
    assert rgb.reshape(-1, 3).std(axis=0).max() > 20               # not a blank page
    assert len(np.unique(rgb.reshape(-1, 3)[::97], axis=0)) > 50


def test_webm_clips_play_gif_and_mp4_links_resolve(browser, gallery):
    browser.get(gallery.as_uri())
    assert browser.execute_script("return document.createElement('video').canPlayType('video/webm; codecs=\"vp9\"')") \
        == "probably"
    clips = browser.execute_script("""return (async () => {
      const out = [];
      for (const v of document.querySelectorAll("video")) {
        v.muted = true;
        let err = null;
        try { await v.play(); } catch (e) { err = String(e); }
        const t0 = performance.now();
        while (performance.now() - t0 < 5000 && !(v.readyState >= 2 && v.currentTime > 0.2)) {
          await new Promise(r => setTimeout(r, 50));
        }
        out.push({pid: v.closest("section").dataset.pid, src: v.currentSrc, err,
                  error: v.error && v.error.code, readyState: v.readyState, t: v.currentTime,
                  w: v.videoWidth, h: v.videoHeight, fellBack: v.dataset.fellBack || null});
      }
      return out;
    })()""")
    assert sorted(c["pid"] for c in clips) == sorted(p for p in PRODUCTS if p != "p-gif")
    for c in clips:
        assert c["err"] is None and c["error"] is None and c["fellBack"] is None, c
        assert c["src"].endswith(".webm") and c["readyState"] >= 2 and c["t"] > 0.2, c
        assert (c["w"], c["h"]) == (162, 102), c                      # padded to even, not cropped
    gif = browser.execute_script("""const s = document.querySelector('section[data-pid="p-gif"]');
      return Array.from(s.querySelectorAll("img")).filter(i => i.src.endsWith(".gif"))
                  .map(i => [i.naturalWidth, i.naturalHeight])""")
    assert gif == [list(CLIP_SIZE)]
    links = browser.execute_script("return Array.from(document.querySelectorAll('a[download]')).map(a => a.href)")
    assert len(links) == len(PRODUCTS) and all(u.endswith(".mp4") for u in links)
    # Resolving links to existing files is check_page's job (tested above and below).


def test_cards_are_worst_first_and_the_select_resorts_them(browser, gallery):
    browser.get(gallery.as_uri())
    assert browser.execute_script("return document.getElementById('sort').value") == "fit_iou"
    assert browser.execute_script(CARD_ORDER) == expected_order("fit_iou", higher_is_better=True)
    resort = """const s = document.getElementById('sort'); s.value = arguments[0];
                s.dispatchEvent(new Event('change', {bubbles: true}));"""
    browser.execute_script(resort, "gap_share")
    assert browser.execute_script(CARD_ORDER) == expected_order("gap_share", higher_is_better=False)
    browser.execute_script(resort, "fit_iou")
    assert browser.execute_script(CARD_ORDER) == expected_order("fit_iou", higher_is_better=True)


def test_a_broken_gallery_is_reported(browser, gallery, tmp_path):
    broken = tmp_path / DS
    shutil.copytree(gallery.parent, broken)
    (broken / "img" / "p-mid result.png").unlink()
    (broken / "vid" / "p-good.webm").unlink()
    (broken / "vid" / "p-bad.mp4").unlink()
    check = check_page(browser, broken / "index.html", f"gallery-{DS}-broken")
    assert not check.ok
    assert [i["src"] for i in check.broken_images] == ["img/p-mid%20result.png"]
    assert [v["sources"] for v in check.broken_videos] == [[(broken / "vid" / "p-good.webm").as_uri()]]
    assert sorted(check.missing_files) == sorted(
        [(broken / "vid" / "p-bad.mp4").as_uri(), (broken / "vid" / "p-good.webm").as_uri()])
    # The page itself falls back to the GIF for the clip that cannot play.
    fallback = browser.execute_script("""const s = document.querySelector('section[data-pid="p-good"]');
      const v = s.querySelector("video");
      const g = Array.from(s.querySelectorAll("img")).find(i => i.src.endsWith(".gif"));
      return [v.hidden, v.dataset.fellBack || null, g ? g.naturalWidth : null]""")
    assert fallback == [True, "1", CLIP_SIZE[0]]


def test_missing_browser_is_an_error_naming_make_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserMissing, match="make browser"):
        find_binaries()
    with pytest.raises(BrowserMissing, match="chromium and chromedriver"):
        with chromium():
            pass
