"""A night's output size (issue 18 item 12): the gallery keeps previews, not copies, of the
store's pictures and no MP4; clips are MP4 + WebM unless GIF is asked for; the settings that
choose this are validated; the output-size bench attributes every file to a kind. No Spark."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from adstage.config import Settings, SettingsError
from adstage.imagestore import ImageStore
from adstage.staging import codes
from adstage.staging.animate import AnimateWorker
from adstage.staging.parallax import CameraMove, write_clips, write_gif
from adstage.staging.gallery import Assets, build_items
from test_bench_pipeline import load

bench = load("output_size")


def _photo(h=600, w=900, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    cv2.rectangle(img, (w // 4, h // 4), (w // 2, h // 2), (20, 200, 240), -1)
    return img


def _frames(n=12, h=101, w=161):
    out = []
    for i in range(n):
        f = np.full((h, w, 3), (60, 120, 180), np.uint8)
        cv2.rectangle(f, (20 + 6 * i, 30), (60 + 6 * i, 90), (30, 200, 240), -1)
        out.append(f)
    return out


def test_gallery_previews_pictures_copies_clips_and_leaves_mp4_in_the_store(tmp_path):
    store = ImageStore(str(tmp_path / "store"))
    photo = store.put_image(_photo())
    webm = store.put_bytes(b"\x1a\x45\xdf\xa3 webm", "webm")
    mp4 = store.put_bytes(b"\0\0\0\x18ftypmp42", "mp4")
    assets = Assets(store, tmp_path / "gallery", "preview", side=400, quality=85)
    link = assets(photo)
    assert link.startswith("../assets/") and link.endswith("-s400q85.jpg")
    jpg = tmp_path / "gallery" / "assets" / link.rsplit("/", 1)[-1]
    preview = cv2.imread(str(jpg))
    assert preview.shape[:2] == (267, 400)                      # longer side 900 -> 400
    assert jpg.stat().st_size < len(store.get(photo)) / 4
    assert assets(webm) == f"../assets/{webm.rsplit('/', 1)[-1]}" and assets(mp4) is None
    assert assets(photo) == link and assets.copied == 2           # kept once
    # Other preview settings never reuse a preview made with these.
    assert Assets(store, tmp_path / "gallery", "preview", side=200, quality=85)(photo) != link
    # copy mode: byte for byte, MP4 included, as before.
    copy = Assets(store, tmp_path / "g2", "copy")
    for uri in (photo, webm, mp4):
        name = copy(uri).rsplit("/", 1)[-1]
        assert (tmp_path / "g2" / "assets" / name).read_bytes() == store.get(uri)
    with pytest.raises(ValueError):
        Assets(store, tmp_path / "g3", "link")


def test_preview_keeps_alpha_as_png_and_never_upscales(tmp_path):
    store = ImageStore(str(tmp_path / "store"))
    bgra = np.dstack([_photo(100, 80), np.full((100, 80), 128, np.uint8)])
    ok, buf = cv2.imencode(".png", bgra)
    uri = store.put_bytes(buf.tobytes(), "png")
    link = Assets(store, tmp_path / "g", "preview", side=800)(uri)
    assert link.endswith(".png")
    img = cv2.imread(str(tmp_path / "g" / "assets" / link.rsplit("/", 1)[-1]), cv2.IMREAD_UNCHANGED)
    assert img.shape == (100, 80, 4)


def test_gallery_items_without_gif_or_mp4(tmp_path):
    staged = [{"product_id": "p", "method": codes.COPY_PASTE, "category": "chair",
               "product_image_uri": "a", "output_uri": "b", "seam_score": 0.1}]
    clips = [{"product_id": "p", "method": codes.COPY_PASTE, "mp4_uri": None,
              "webm_uri": "w.webm", "gif_uri": None}]
    item = build_items(staged, clips, lambda u: u)[0]
    assert item["webm"] == "w.webm" and item["gif"] is None and item["video"] is None
    assert item["title"] == "chair · copy_paste"
    staged[0]["slot_id"] = "s-3"   # the id a reviewer blocks (adstage block-slot)
    assert build_items(staged, clips, lambda u: u)[0]["title"] == "chair · copy_paste · slot s-3"


def test_clips_are_written_in_the_formats_asked_for(tmp_path):
    frames = _frames()
    paths = write_clips(frames, tmp_path, "c", 12, ("mp4", "webm"))
    assert sorted(paths) == ["mp4", "webm"] and not (tmp_path / "c.gif").exists()
    with pytest.raises(ValueError):
        write_clips(frames, tmp_path, "c", 12, ("avi",))
    gif = Image.open(write_clips(frames, tmp_path, "g", 12, ("gif",))["gif"])
    assert gif.n_frames == 12 and gif.size == (161, 101) and gif.info["loop"] == 0
    gif.seek(11)
    rgb = np.asarray(gif.convert("RGB")).astype(int)
    assert np.abs(rgb - frames[11][..., ::-1]).max() < 40     # one palette still fits the colours


def test_animate_worker_leaves_unwritten_formats_null(tmp_path):
    store = ImageStore(str(tmp_path / "store"))
    img = _photo(64, 96)
    alpha = np.zeros((64, 96), np.uint8)
    alpha[20:40, 30:60] = 255
    rec = {"product_id": "p", "method": codes.COPY_PASTE, "output_uri": store.put_image(img),
           "product_mask_uri": store.put_image(alpha)}
    worker = AnimateWorker(store, lambda crops, masks: crops, CameraMove(seconds=0.5, fps=8), 32,
                           ["m@1"])
    out = worker.animate(rec)
    assert out.get("reason") is None, out
    assert out["gif_uri"] is None and store.get(out["mp4_uri"])[4:8] == b"ftyp"
    assert store.get(out["webm_uri"])[:4] == b"\x1a\x45\xdf\xa3"
    with_gif = AnimateWorker(store, lambda crops, masks: crops, CameraMove(seconds=0.5, fps=8), 32,
                             ["m@1"], ("gif",)).animate(rec)
    assert store.get(with_gif["gif_uri"])[:3] == b"GIF" and with_gif["mp4_uri"] is None


def test_output_settings_are_validated():
    s = Settings.load(environ={})
    assert s.parallax_formats == ("mp4", "webm") and s.gallery_assets == "preview"
    assert Settings.load({"parallax_formats": "mp4,webm,gif"}, environ={}).parallax_formats[-1] == "gif"
    for bad in ({"parallax_formats": "mp4,avi"}, {"parallax_formats": ""},
                {"gallery_assets": "link"}, {"gallery_preview_quality": "101"},
                {"gallery_preview_side": "0"}):
        with pytest.raises(SettingsError):
            Settings.load(bad, environ={})


def test_bench_attributes_every_file_to_a_kind():
    rows = {"catalog_images": [{"image_uri": "s/aa/a.png"}],
            "staged_images": [{"method": "copy_paste", "output_uri": "s/bb/b.png",
                               "product_mask_uri": "s/cc/c.png", "box_mask_uri": "s/cc/c.png"}],
            "animations": [{"mp4_uri": "s/dd/d.mp4", "gif_uri": None}]}
    kinds = bench.kinds_by_uri(rows)
    assert kinds["s/bb/b.png"] == "staged_images.output_uri [copy_paste]"
    assert kinds["s/cc/c.png"] == "staged_images.product_mask_uri [copy_paste]"  # first wins
    assert bench.store_kind("zz/z.png", kinds, "s") == "unreferenced"
    by_name = {bench.object_name(u): k for u, k in kinds.items()}
    assert bench.gallery_kind("2026-11-24/index.html", by_name) == "page"
    assert bench.gallery_kind("assets/b.png", by_name) == "staged_images.output_uri [copy_paste] (copy)"
    assert bench.gallery_kind("assets/b-s800q90.jpg", by_name).endswith("(preview)")
    files = [("image store", "catalog_images.image_uri", 100), ("image store", "animations.mp4_uri", 50),
             ("gallery", "animations.webm_uri (copy)", 7),
             ("gallery", "page", 10), ("gallery", "page", 5)]
    t = bench.totals(files)
    assert t["all"] == {"files": 5, "bytes": 172} and t["animations (store)"]["bytes"] == 50
    kinds_out = bench.tally(files)
    assert ("gallery", "page", 2) in [(k.place, k.kind, k.files) for k in kinds_out]
    md = bench.markdown({"meta": {"products": 2, "when": "now"}, "kinds": [vars(k) for k in kinds_out],
                         "totals": t, "extensions": {}})
    assert "| image store | catalog_images.image_uri | 1 | 100 B | 50 B |" in md


def test_a_warehouse_with_not_null_gif_uri_takes_clips_without_gif(spark, settings, monkeypatch):
    """animations tables made before GIFs were opt-in hold gif_uri NOT NULL: the next write
    drops the constraint (delta._add_new_columns) instead of failing on a null GIF."""
    import dataclasses

    from pyspark.sql import functions as F

    from adstage import delta, tables

    contract = tables.spec("animations")
    old = dataclasses.replace(contract, columns=tuple(
        dataclasses.replace(c, nullable=False) if c.name.endswith(("mp4_uri", "webm_uri", "gif_uri"))
        else c for c in contract.columns))
    monkeypatch.setattr(delta, "spec", lambda name: old if name == "animations" else tables.spec(name))
    uri = delta.ensure_table(spark, settings, "animations")
    assert not {f.name: f for f in spark.read.format("delta").load(uri).schema}["gif_uri"].nullable
    monkeypatch.undo()
    delta._CURRENT.discard(uri)
    row = {"product_id": "p", "method": "copy_paste", "staged_uri": "s", "mp4_uri": "m",
           "webm_uri": "w", "gif_uri": None, "plate_uri": "pl", "frames": 24, "fps": 12,
           "width": 8, "height": 6, "model_versions": ["m@1"], "mlflow_run_id": "r",
           "input_fingerprint": None}
    df = (spark.createDataFrame([row], schema=tables.ddl(
        [(c.name, c.type) for c in contract.columns if c.name != "ds"]))
        .withColumn("ds", F.lit("2026-11-24").cast("date")))
    delta.replace_date(spark, df, settings, "animations", "2026-11-24")
    got = spark.read.format("delta").load(uri)
    assert got.count() == 1 and got.first()["gif_uri"] is None
    assert {f.name: f for f in got.schema}["gif_uri"].nullable


def test_ad_crops_are_jpeg_by_default_and_the_staged_image_stays_png(tmp_path):
    from adstage.staging.outputs import store_outputs

    store = ImageStore(str(tmp_path / "store"))
    img = _photo(300, 400)
    alpha = np.zeros((300, 400), np.float32)
    alpha[100:200, 150:250] = 1.0
    gen = np.zeros((300, 400), np.uint8)
    out = store_outputs(store, img, alpha, gen, (150, 100, 250, 200))
    assert out["output_uri"].endswith(".png") and out["product_mask_uri"].endswith(".png")
    assert out["crop_square_uri"].endswith(".jpg") and out["crop_wide_uri"].endswith(".jpg")
    sq = store.get_image(out["crop_square_uri"])
    assert sq.shape[0] == sq.shape[1] and np.array_equal(store.get_image(out["output_uri"]), img)
    png = store_outputs(store, img, alpha, gen, (150, 100, 250, 200), "png")
    assert png["crop_square_uri"].endswith(".png")
    assert np.abs(store.get_image(png["crop_square_uri"]).astype(int) - sq).mean() < 3
    assert len(store.get(out["crop_square_uri"])) < len(store.get(png["crop_square_uri"]))
    with pytest.raises(SettingsError):
        Settings.load({"staging_crop_format": "webp"}, environ={})
