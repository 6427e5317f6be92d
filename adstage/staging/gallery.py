"""Gallery job: the creative teams' HTML gallery of one logical date (no Spark: delta-rs reads).

One card per staged product — product before, donor room, the copy-paste result beside the
hard paste and the vanilla (pix2pix) baseline, the ad crops, the scores and the parallax clip —
worst seam first (``staged_images.seam_score``, higher = more visibly pasted), so failures are
seen before an auditor sees them. What the page shows is kept next to it (relative links: the
folder can be zipped, mailed or served as is): by default (``gallery_assets=preview``) each
picture as a JPEG preview of at most ``gallery_preview_side`` px, the WebM (and, when written,
GIF) clips as they are and no MP4 (the browser cannot play it; it stays in the store);
``gallery_assets=copy`` copies every object byte for byte, as before issue 18 item 12. The page's path is logged
on this job's MLflow run and tagged on the staging run it shows (``adstage.gallery``).
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
from pathlib import Path

from adstage.config import Settings
from adstage.imagestore import ImageStore
from adstage.report import read_table
from adstage.staging import codes
from adstage.staging.gallery_page import write_gallery

log = logging.getLogger(__name__)

SCORES = ("seam_score", "fit_iou", "gap_share", "preservation_max", "object_expansion",
          "attempts")
SORT_BY = "seam_score"


def _rows(settings: Settings, name: str, ds: str) -> list[dict]:
    try:
        return read_table(settings, name, ds=ds).to_dict("records")
    except Exception as exc:  # a table a fresh warehouse has not created yet
        log.warning("gallery: %s unreadable for %s (%s); shown without it", name, ds, exc)
        return []


def _num(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


# Store objects a page shows as they are (the browser plays them) and those it leaves in the
# store in preview mode (an MP4 is a download the browser cannot play).
_CLIPS = ("webm", "gif")
_NOT_PREVIEWED = ("mp4",)


def preview_bytes(data: bytes, side: int, quality: int) -> tuple[bytes, str]:
    """A stored picture for a page: scaled so its longer side <= ``side`` (never up), JPEG of
    ``quality``; PNG when it has an alpha channel (JPEG has none). (bytes, extension)."""
    import cv2
    import numpy as np

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError("not a decodable image")
    h, w = img.shape[:2]
    k = side / max(h, w)
    if k < 1:
        img = cv2.resize(img, (max(1, round(w * k)), max(1, round(h * k))),
                         interpolation=cv2.INTER_AREA)
    if img.ndim == 3 and img.shape[2] == 4:
        ok, buf = cv2.imencode(".png", img)
        return buf.tobytes(), "png"
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"cannot encode a {img.shape} preview")
    return buf.tobytes(), "jpg"


class Assets:
    """Keeps what the pages show in ``<gallery>/assets/``, once each, shared by every date's
    page (store names are content addresses: a name never changes content, so a night that
    shows the same images writes nothing); returns links relative to a date's page.

    ``mode="copy"``: every object byte for byte under its store name. ``mode="preview"``:
    pictures as ``<sha256>-s<side>q<quality>.jpg`` previews (the name says how it was made,
    so other settings never reuse a stale preview), clips copied, MP4s not kept (None)."""

    def __init__(self, store: ImageStore, gallery_dir: Path, mode: str = "preview",
                 side: int = 800, quality: int = 90):
        if mode not in ("preview", "copy"):
            raise ValueError(f"gallery assets: preview or copy, not {mode!r}")
        self.store, self.dir = store, gallery_dir / "assets"
        self.mode, self.side, self.quality = mode, side, quality
        self.dir.mkdir(parents=True, exist_ok=True)
        self.copied = 0

    def __call__(self, uri) -> str | None:
        if not isinstance(uri, str) or not uri:
            return None
        name = uri.rsplit("/", 1)[-1]
        ext = name.rsplit(".", 1)[-1].lower()
        preview = self.mode == "preview" and ext not in _CLIPS
        if preview and ext in _NOT_PREVIEWED:
            return None
        if preview:
            stem = name.split(".", 1)[0]
            done = [p for p in (self.dir / f"{stem}-s{self.side}q{self.quality}.{e}"
                                for e in ("jpg", "png")) if p.exists()]
            if done:
                return f"../assets/{done[0].name}"
        target = self.dir / name
        if preview or not target.exists():
            try:  # a temporary name then a rename: a page never links half a file
                data = self.store.get(uri)
                if preview:
                    data, out_ext = preview_bytes(data, self.side, self.quality)
                    target = self.dir / f"{stem}-s{self.side}q{self.quality}.{out_ext}"
                part = target.with_name(f".{target.name}.{os.getpid()}.part")
                part.write_bytes(data)
                part.replace(target)
                self.copied += 1
            except Exception as exc:
                log.warning("gallery: %s not kept (%s)", uri, exc)
                return None
        return f"../assets/{target.name}"


def build_items(staged: list[dict], animations: list[dict], link) -> list[dict]:
    """Gallery items (``gallery_page.write_gallery``) from a date's staged_images and animations."""
    by_product: dict[str, dict[str, dict]] = {}
    for r in staged:
        by_product.setdefault(r["product_id"], {})[r["method"]] = r
    clips = {a["product_id"]: a for a in animations if a["method"] == codes.COPY_PASTE}
    items = []
    for pid, methods in sorted(by_product.items()):
        main = methods.get(codes.COPY_PASTE) or next(iter(methods.values()))
        # The donor slot's id is what `adstage block-slot` takes when a reviewer rejects it.
        slot = f" · slot {main['slot_id']}" if main.get("slot_id") else ""
        item = {"product_id": pid, "title": f"{main['category']} · {main['method']}{slot}",
                "before": link(main["product_image_uri"]), "donor": link(main.get("donor_image_uri")),
                "result": link(main["output_uri"]),
                "crops": {k: u for k, u in (("1:1", link(main.get("crop_square_uri"))),
                                            ("1.91:1", link(main.get("crop_wide_uri")))) if u},
                "scores": {k: _num(main.get(k)) for k in SCORES}}
        others = {"hard paste (no inpainting)": methods.get(codes.HARD_PASTE),
                  "vanilla (pix2pix)": methods.get(codes.VANILLA)}
        item["compare"] = {label: link(r["output_uri"]) for label, r in others.items()
                           if r is not None and r is not main}
        if codes.VANILLA in methods:
            item["scores"]["vanilla_object_expansion"] = _num(methods[codes.VANILLA]["object_expansion"])
        clip = clips.get(pid)
        if clip:
            item.update(video=link(clip.get("mp4_uri")), webm=link(clip.get("webm_uri")),
                        gif=link(clip.get("gif_uri")))
        items.append(item)
    return items


def run(settings: Settings, ds: str) -> dict[str, float]:
    """Write ``<gallery_dir>/<ds>/index.html``; the page is rebuilt from scratch on every run,
    its images copied into the shared ``assets/`` when not there yet."""
    page_dir = settings.gallery_path / ds
    if page_dir.exists():
        shutil.rmtree(page_dir)  # a re-run never keeps stale pictures of an older run
    staged = _rows(settings, "staged_images", ds)
    animations = _rows(settings, "animations", ds)
    assets = Assets(ImageStore(settings.image_store_uri), settings.gallery_path,
                    settings.gallery_assets, settings.gallery_preview_side,
                    settings.gallery_preview_quality)
    items = build_items(staged, animations, assets)
    page = write_gallery(page_dir, ds, items, sort_by=SORT_BY)
    _link_runs(settings, page, ds, {r["mlflow_run_id"] for r in staged + animations})
    log.info("gallery ds=%s: %d products, %d files -> %s", ds, len(items), assets.copied, page)
    print(f"gallery: {page}")
    return {"products": len(items), "files": assets.copied}


def contact_sheet(settings: Settings, ds: str, path: str | Path, n: int = 6,
                  worst: bool = True, tile: int = 180) -> Path:
    """A JPEG grid for docs and reviews: per product (the ``n`` worst or best copy-paste seams)
    the product, the donor room, the hard paste, the copy-paste result and the vanilla result."""
    import cv2
    import numpy as np

    store = ImageStore(settings.image_store_uri)
    staged = read_table(settings, "staged_images", ds=ds)
    cp = staged[staged.method == codes.COPY_PASTE].sort_values("seam_score", ascending=not worst)
    by = {(r.product_id, r.method): r for r in staged.itertuples()}

    def fit(uri) -> np.ndarray:
        img = store.get_image(uri) if isinstance(uri, str) else np.full((tile, tile, 3), 235, np.uint8)
        h, w = img.shape[:2]
        return cv2.resize(img, (max(1, round(w * tile / h)), tile), interpolation=cv2.INTER_AREA)

    rows = []
    for r in cp.head(n).itertuples():
        cells = [fit(r.product_image_uri), fit(r.donor_image_uri)]
        for m in (codes.HARD_PASTE, codes.COPY_PASTE, codes.VANILLA):
            other = by.get((r.product_id, m))
            cells.append(fit(other.output_uri if other is not None else None))
        row = np.hstack([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255) for c in cells])
        cv2.putText(row, f"{r.product_id} seam {r.seam_score:.2f}", (8, 20),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1, cv2.LINE_AA)
        rows.append(row)
    if not rows:
        raise ValueError(f"no copy-paste images staged on {ds}")
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                       for r in rows])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return path


def _link_runs(settings: Settings, page: Path, ds: str, run_ids: set[str]) -> None:
    """The page as an artifact of this run, and its path as a tag here and on the runs shown.

    Only runs of this date are tagged: rows carried forward from an earlier date keep the run
    that made them, and that run's tag must keep pointing at its own date's page."""
    import mlflow
    from mlflow import MlflowClient

    if mlflow.active_run():
        mlflow.set_tag("adstage.gallery", str(page))
        mlflow.log_artifact(str(page), artifact_path="gallery")
    client = MlflowClient()
    for run_id in sorted(r for r in run_ids if r and r != "none"):
        try:
            if client.get_run(run_id).data.tags.get("adstage.ds") != ds:
                continue
            client.set_tag(run_id, "adstage.gallery", str(page))
        except Exception as exc:  # a run from another tracking store: not worth failing for
            log.warning("gallery: could not tag run %s (%s)", run_id, exc)


def main(argv: list[str] | None = None) -> int:
    """CLI of the gallery job (`jobs/gallery.py`)."""
    from adstage.jobrunner import guarded, job_parser

    parser: argparse.ArgumentParser = job_parser("gallery", __doc__)
    parser.add_argument("--contact-sheet", metavar="PREFIX",
                        help="also write PREFIX-worst.jpg and PREFIX-best.jpg: the 6 worst and "
                             "best copy-paste seams beside their product, donor and the other "
                             "methods (for docs and reviews)")
    args = parser.parse_args(argv)
    return guarded("gallery", args.ds, lambda: _main(args))


def _main(args) -> int:
    from adstage import tracking
    from adstage.jobrunner import load_settings

    settings = load_settings(args)
    with tracking.job_run(settings, "gallery", args.ds):
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in run(settings, args.ds).items()})
        if args.contact_sheet:
            for worst, tag in ((True, "worst"), (False, "best")):
                sheet = contact_sheet(settings, args.ds, f"{args.contact_sheet}-{tag}.jpg", worst=worst)
                mlflow.log_artifact(str(sheet), artifact_path="gallery")
                print(f"contact sheet: {sheet}")
    return 0
