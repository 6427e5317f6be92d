"""Gallery: escaped text, relative links to files that exist, worst first, the clip's markup.

In a real browser: tests/test_gallery_browser.py."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from adstage.staging.gallery_page import write_gallery


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.hrefs, self.sources, self.videos, self.anchors = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.srcs.append(a["src"])
        if tag == "a":
            self.hrefs.append(a["href"])
            self.anchors.append(a)
        if tag == "source":
            self.sources.append(a)
        if tag == "video":
            self.videos.append(a)


def test_gallery_escapes_links_existing_files_and_sorts_worst_first(tmp_path: Path):
    (tmp_path / "img").mkdir()
    items = []
    for pid, iou in (("good", 0.9), ("bad <b>", 0.2), ("mid", 0.5)):
        names = {k: f"img/{pid.split()[0]} {k}.png" for k in ("before", "donor", "result", "sq", "ls")}
        for n in names.values():
            (tmp_path / n).write_bytes(b"png")
        for ext in ("mp4", "webm", "gif"):
            (tmp_path / f"img/{pid.split()[0]}.{ext}").write_bytes(ext.encode())
        items.append({"product_id": pid, "title": '<script>alert("x")</script> & co',
                      "before": names["before"], "donor": names["donor"], "result": names["result"],
                      "crops": {"square": names["sq"], "landscape": names["ls"]},
                      "video": f"img/{pid.split()[0]}.mp4", "webm": f"img/{pid.split()[0]}.webm",
                      "gif": f"img/{pid.split()[0]}.gif", "scores": {"fit_iou": iou, "gap_share": 1 - iou}})
    page = write_gallery(tmp_path, "2026-11-24", items)
    text = page.read_text()
    assert page == tmp_path / "index.html" and "2026-11-24" in text
    assert "<script>alert" not in text and "&lt;script&gt;alert(&quot;x&quot;)" in text
    assert "bad &lt;b&gt;" in text
    parser = Links()
    parser.feed(text)
    assert len(parser.srcs) == 15                               # the GIFs are fallbacks, not <img>
    assert [s["type"] for s in parser.sources] == ["video/webm"] * 3
    assert all("muted" in v and "loop" in v and v["data-gif"].endswith(".gif") for v in parser.videos)
    assert [a["href"].rsplit(".", 1)[1] for a in parser.anchors if "download" in a] == ["mp4"] * 3
    for src in (parser.srcs + parser.hrefs + [s["src"] for s in parser.sources]
                + [v["data-gif"] for v in parser.videos]):
        assert not re.match(r"^[a-z]+:|^/", src)
        assert (tmp_path / unquote(src)).is_file(), src
    order = [text.index(f"<h2>{p}") for p in ("bad &lt;b&gt;", "mid", "good")]
    assert order == sorted(order)                               # worst fit first
    gap_first = write_gallery(tmp_path / "g", "d", items, sort_by="gap_share").read_text()
    assert gap_first.index("<h2>bad") < gap_first.index("<h2>good")   # larger gap = worse


def test_gallery_refuses_absolute_links(tmp_path: Path):
    for uri in ("/etc/passwd", "https://example.com/a.png", "javascript:alert(1)", "//host/a.png"):
        with pytest.raises(ValueError):
            write_gallery(tmp_path, "d", [{"product_id": "p", "result": uri}])
    with pytest.raises(ValueError):
        write_gallery(tmp_path, "d", [{"title": "no id"}])


def test_gallery_clip_without_webm_shows_the_gif(tmp_path: Path):
    text = write_gallery(tmp_path, "d", [{"product_id": "p", "video": "p.mp4", "gif": "p 1.gif"},
                                         {"product_id": "q", "video": "q.mp4"}]).read_text()
    parser = Links()
    parser.feed(text)
    assert parser.srcs == ["p%201.gif"] and not parser.videos and not parser.sources
    assert [a["href"] for a in parser.anchors] == ["p.mp4", "p%201.gif", "q.mp4"]
    with pytest.raises(ValueError):
        write_gallery(tmp_path, "d", [{"product_id": "p", "webm": "https://cdn/p.webm"}])
