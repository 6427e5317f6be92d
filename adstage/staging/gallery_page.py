"""A static HTML review page of one logical date's staged images (``write_gallery``).

One card per product: product before, donor room, result, ad crops, scores and the parallax
clip.  The clip plays in a ``<video>`` from its WebM (VP9: what Chromium plays of what OpenCV
writes, see ``adstage.staging.parallax``); when the WebM is missing or fails, the GIF is shown
instead; the MP4 (for the ad platforms; browsers do not play ``mp4v``) is a download link.
Cards are ordered worst first by one score (``sort_by``); a select box re-sorts them in the
browser by any score, the direction per score given by ``HIGHER_IS_BETTER``.  The page is
one self-contained file with relative links only (it can be copied with its images anywhere,
or served from object storage); every text is HTML-escaped and every link is checked to be
relative.  Copying the images next to it is the caller's business.

An item is a dict::

    {"product_id": "p1", "title": "Oak chair", "before": "img/p1.png", "donor": "img/d1.png",
     "result": "img/p1-staged.png", "crops": {"square": "img/p1-1x1.png", ...},
     "video": "vid/p1.mp4", "webm": "vid/p1.webm", "gif": "vid/p1.gif",
     "scores": {"fit_iou": 0.8, ...}}

``compare`` (optional) maps a caption to another method's result for the same product, e.g.
``{"vanilla (pix2pix)": "img/p1-vanilla.png"}``.  Only ``product_id`` is required; missing images are left out of the card.  ``video`` is the MP4
(the key predates the WebM); ``webm`` and ``gif`` are optional.
"""
from __future__ import annotations

import html
import json
import math
from pathlib import Path
from string import Template
from urllib.parse import quote, urlsplit

# Scores where a larger value is better; all others are sorted as "larger = worse".
HIGHER_IS_BETTER = frozenset({"fit_iou", "coverage", "quality"})

_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>$title</title>
<style>
body{font-family:system-ui,sans-serif;margin:1rem;background:#f4f4f4}
.card{background:#fff;border-radius:6px;padding:.8rem;margin:0 0 1rem;box-shadow:0 1px 3px #0002}
.row{display:flex;gap:.6rem;flex-wrap:wrap;align-items:flex-start}
figure{margin:0}figure img,figure video{max-height:220px;max-width:320px;display:block}
figcaption{font-size:.75rem;color:#555}
table{font-size:.8rem;border-collapse:collapse}td{padding:0 .6rem 0 0}
</style>
<script>
// A clip that cannot play (WebM missing, unsupported or broken) is hidden and its GIF shown.
// Inline onerror handlers: a <source>'s error may fire before a script at the end would run.
function clipFallback(el) {
  const v = el.closest("video");
  if (!v || v.dataset.fellBack) return;
  v.dataset.fellBack = "1";
  if (!v.dataset.gif) return;
  const img = document.createElement("img");
  img.src = v.dataset.gif;
  img.alt = "parallax (GIF)";
  v.hidden = true;
  v.after(img);
}
</script></head><body>
<h1>$title</h1>
<p>$count products. Sort by <select id="sort">$options</select> (worst first)</p>
<main id="cards">
$cards
</main>
<script>
const higherIsBetter = $hib;
function sortCards(key) {
  const main = document.getElementById("cards");
  const cards = Array.from(main.children);
  const sign = higherIsBetter.includes(key) ? 1 : -1;
  const val = c => { const v = parseFloat(c.dataset["s_" + key]); return isNaN(v) ? Infinity : sign * v; };
  cards.sort((a, b) => val(a) - val(b)).forEach(c => main.appendChild(c));
}
document.getElementById("sort").addEventListener("change", e => sortCards(e.target.value));
</script>
</body></html>
""")


def _uri(uri: str) -> str:
    """A relative URI, percent-quoted and HTML-escaped; absolute ones are refused."""
    parts = urlsplit(str(uri))
    if parts.scheme or parts.netloc or str(uri).startswith(("/", "\\")):
        raise ValueError(f"gallery links must be relative, got {uri!r}")
    return html.escape(quote(str(uri), safe="/._-~%#?=&"), quote=True)


def _figure(uri: str | None, caption: str) -> str:
    if not uri:
        return ""
    return (f'<figure><img src="{_uri(uri)}" alt="{html.escape(caption)}" loading="lazy">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _clip(webm: str | None, gif: str | None) -> str:
    """The parallax clip: a muted looping ``<video>`` of the WebM (GIF when it fails), or the GIF."""
    if webm:
        fallback = f' data-gif="{_uri(gif)}"' if gif else ""
        return (f'<figure><video autoplay muted loop playsinline controls preload="metadata"{fallback} '
                f'onerror="clipFallback(this)"><source src="{_uri(webm)}" type="video/webm" '
                f'onerror="clipFallback(this)"></video><figcaption>parallax</figcaption></figure>')
    return _figure(gif, "parallax")


def _number(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _attr_key(key: str) -> str:
    # data-* attribute names: lowercase letters, digits, underscores (dataset keys stay equal).
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in key.lower())


def _card(item: dict) -> str:
    scores = item.get("scores") or {}
    data = " ".join(f'data-s_{_attr_key(k)}="{v}"' for k, v in
                    ((k, _number(v)) for k, v in scores.items()) if v is not None)
    crops = item.get("crops") or {}
    if isinstance(crops, (list, tuple)):
        crops = {f"crop {i + 1}": u for i, u in enumerate(crops)}
    figs = [_figure(item.get("before"), "product"), _figure(item.get("donor"), "donor room"),
            _figure(item.get("result"), "result")]
    figs += [_figure(u, label) for label, u in (item.get("compare") or {}).items()]
    figs += [_figure(u, f"crop {name}") for name, u in crops.items()]
    figs.append(_clip(item.get("webm"), item.get("gif")))
    links = []
    for key, label in (("video", "parallax MP4"), ("webm", "parallax WebM"), ("gif", "parallax GIF")):
        if item.get(key):
            # The MP4 is what goes to the ad platforms: a download, not something to open here.
            dl = " download" if key == "video" else ""
            links.append(f'<a href="{_uri(item[key])}"{dl}>{label}</a>')
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in scores.items())
    title = html.escape(str(item.get("title") or ""))
    pid = html.escape(str(item["product_id"]))
    return (f'<section class="card" data-pid="{pid}" {data}><h2>{pid} <small>{title}</small></h2>'
            f'<div class="row">{"".join(f for f in figs if f)}'
            f'<div><table>{rows}</table><p>{" · ".join(links)}</p></div></div></section>')


def _fmt(v) -> str:
    n = _number(v)
    return f"{n:.4g}" if n is not None else str(v)


def sort_items(items: list[dict], sort_by: str) -> list[dict]:
    """Worst first by ``scores[sort_by]``; items without that score go last, stable otherwise."""
    sign = 1.0 if sort_by in HIGHER_IS_BETTER else -1.0

    def key(it: dict) -> tuple[int, float]:
        v = _number((it.get("scores") or {}).get(sort_by))
        return (1, 0.0) if v is None else (0, sign * v)

    return sorted(items, key=key)


def write_gallery(out_dir: str | Path, ds: str, items: list[dict], sort_by: str = "fit_iou") -> Path:
    """Write ``out_dir/index.html`` for the logical date ``ds`` and return its path.

    :param items: one dict per product (module docstring); URIs relative to ``out_dir``.
    :param sort_by: the score ordering the cards, worst first.
    :raises ValueError: an absolute link, or an item without ``product_id``.
    """
    for it in items:
        if "product_id" not in it:
            raise ValueError("every gallery item needs a product_id")
    ordered = sort_items(items, sort_by)
    keys = sorted({k for it in items for k in (it.get("scores") or {})} | {sort_by})
    options = "".join(f'<option value="{html.escape(_attr_key(k))}"{" selected" if k == sort_by else ""}>'
                      f"{html.escape(k)}</option>" for k in keys)
    page = _PAGE.substitute(title=html.escape(f"adstage staging — {ds}"), count=len(items), options=options,
                            cards="\n".join(_card(it) for it in ordered),
                            hib=json.dumps(sorted(_attr_key(k) for k in HIGHER_IS_BETTER)))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
