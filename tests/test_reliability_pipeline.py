"""Hostile inputs carried through the whole pipeline, and model faults that must stop a job
before it writes.

One small catalog per module (six demo products, a few of them with staged photos, plus every
kind of hostile row and image, and images that pass ingest but are degenerate for the later
stages), run once through ingest -> classify -> cutouts -> shape index -> pairing ->
copy-paste and vanilla staging on the session's Spark. Then the checks: each stage sees only
what the stage before accepted, and each stage's accounting holds (in = out + rejected, with a
reason); then broken models (a registered name without @champion, a corrupt champion) fail
with an error naming the model while no Delta table version moves.
"""
from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adstage import ingest, registry
from adstage.demo.catalog import generate_catalog
from adstage.registry import ModelLoadError
from adstage.report import read_table
from adstage.staging import copy_paste, vanilla
from adstage.vision import classify, cutouts, pair_donors, shape_index
from conftest import make_settings
from test_imaging import (cv_bytes, exif_with_orientation, gradient_rgb, marker_image,
                          pil_bytes, png_with_declared_size)

DS = "2026-11-24"


class _Slow(http.server.BaseHTTPRequestHandler):
    """An allow-listed host that answers too late: a fetch_timeout, never a stuck task."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        time.sleep(3)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def object_on_white(h: int, w: int, box: tuple[int, int, int, int], colour=(40, 90, 160)):
    img = np.full((h, w, 3), 255, np.uint8)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = colour
    return img


def hostile_rows(cat: Path, slow_url: str, dead_url: str) -> tuple[list[dict], dict]:
    """Feed rows for every hostile case, and what must become of each product id."""
    img = cat / "hostile"
    img.mkdir(parents=True)
    (cat.parent / "secret.png").write_bytes(cv_bytes(gradient_rgb(), ".png"))
    rgba = np.dstack([object_on_white(80, 80, (20, 20, 60, 60)), np.full((80, 80), 200, np.uint8)])
    files = {
        # refused at ingest
        "zero.png": b"",
        "bomb.png": png_with_declared_size(30000, 30000),
        "wide.png": png_with_declared_size(20000, 40),
        "words.jpg": b"just some text with an image name",
        "cut.jpg": cv_bytes(object_on_white(96, 96, (20, 20, 70, 70)), ".jpg")[:400],
        "dot.png": cv_bytes(np.zeros((1, 1, 3), np.uint8), ".png"),
        # accepted and normalised at ingest, staged or refused later with a reason
        "deep.png": cv_bytes(object_on_white(96, 96, (20, 30, 76, 80)).astype(np.uint16) * 257,
                             ".png"),
        "cmyk.jpg": pil_bytes(Image.new("CMYK", (96, 96), (0, 0, 0, 0)), "JPEG"),
        "grey.png": cv_bytes(object_on_white(96, 96, (25, 15, 70, 85))[..., 0], ".png"),
        "alpha.png": cv_bytes(rgba, ".png"),
        "rotated.jpg": pil_bytes(marker_image(96, 64), "JPEG", exif=exif_with_orientation(6)),
        "white.png": cv_bytes(np.full((96, 96, 3), 255, np.uint8), ".png"),
        "hair.png": cv_bytes(object_on_white(96, 96, (48, 10, 49, 86), (0, 0, 0)), ".png"),
        "sliver.png": cv_bytes(object_on_white(40, 2400, (100, 8, 2300, 32)), ".png"),
    }
    for name, data in files.items():
        (img / name).write_bytes(data)

    def row(pid, uri, title="Lamp", category="lamp"):
        return {"product_id": pid, "title": title, "category": category, "image_uri": uri,
                "feed_date": DS}

    rows = [row(f"x-{Path(n).stem}", f"hostile/{n}") for n in files]
    rows += [
        row("x-traversal", "hostile/../../secret.png"),
        row("x-absolute", str(cat.parent / "secret.png")),
        row("x-slow", slow_url),
        row("x-dead", dead_url),
        row("x-ftp", "ftp://files.example.invalid/x.png"),
        row("lámpara-北京 #1", "hostile/deep.png", title="Unicode id"),
        row("x-conflict", "hostile/grey.png", title="First"),
        row("x-conflict", "hostile/grey.png", title="Second"),
        row("x-twice", "hostile/alpha.png"), row("x-twice", "hostile/alpha.png"),
        {"product_id": "x-nocolumns", "title": "No category nor image"},
        row("../../etc/passwd", "hostile/deep.png"),
    ]
    refused_images = {"x-zero": "empty_file", "x-bomb": "decompression_bomb",
                      "x-wide": "too_large", "x-words": "not_an_image",
                      "x-cut": "corrupt_image", "x-dot": "too_small",
                      "x-traversal": "outside_allowed_root", "x-absolute": "outside_allowed_root",
                      "x-slow": "fetch_timeout", "x-dead": "fetch_error",
                      "x-ftp": "unsupported_scheme"}
    refused_rows = {"x-conflict": "conflicting_duplicate", "x-twice": "duplicate_row",
                    "x-nocolumns": "missing_field"}
    accepted = {"x-deep", "x-cmyk", "x-grey", "x-alpha", "x-rotated", "x-white", "x-hair",
                "x-sliver", "lámpara-北京 #1", "../../etc/passwd",
                "x-twice"}  # its first row; the repeat is refused
    return rows, {"refused_images": refused_images, "refused_rows": refused_rows,
                  "accepted": accepted}


def delta_versions(settings) -> dict[str, int]:
    """Every Delta table under the warehouse and its latest version, from the logs on disk."""
    out = {}
    for log_dir in Path(settings.warehouse_uri).glob("*/_delta_log"):
        commits = [int(f.stem) for f in log_dir.glob("*.json") if f.stem.isdigit()]
        out[log_dir.parent.name] = max(commits)
    return out


@pytest.fixture(scope="module")
def night(spark, tmp_path_factory):
    home = tmp_path_factory.mktemp("reliability")
    cat = home / "catalog"
    summary = generate_catalog(cat, 6, seed=7, ds=DS, unstaged_size=128, staged_size=(256, 192))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows, expected = hostile_rows(cat, f"http://127.0.0.1:{server.server_address[1]}/slow.png",
                                  "http://localhost:9/dead.png")  # discard port: refused
    feed = Path(summary["feed"])
    with feed.open("a", encoding="utf-8") as out:
        out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        out.write('{"product_id": "x-malformed", "title": \n')
    settings = make_settings(home, allowed_roots=str(cat), onnx_device="cpu",
                             http_allowed_hosts="127.0.0.1,localhost", fetch_timeout_s="0.5",
                             staging_methods="copy_paste,hard_paste,vanilla",
                             eval_holdout_share="0")
    try:
        result = ingest.run(spark, settings, DS, str(feed))
    finally:
        server.shutdown()
    for stage in (classify, cutouts, shape_index, pair_donors, copy_paste, vanilla):
        stage.run(spark, settings, DS)
    return settings, result, expected, summary


def test_ingest_refuses_each_hostile_input_with_its_reason(night):
    settings, result, expected, summary = night
    assert result.feed_rows == result.rows_accepted + result.rows_rejected
    assert result.images_in == result.images_accepted + result.images_rejected
    rejects = read_table(settings, "ingest_rejects", ds=DS)
    named = rejects[rejects.product_id.notna()]
    got = set(zip(named.product_id, named.reason))
    want = {*expected["refused_images"].items(), *expected["refused_rows"].items()}
    assert got == want
    assert set(rejects.loc[rejects.product_id.isna(), "reason"]) == {"malformed_record"}
    assert rejects["detail"].str.len().gt(0).all()
    demo = {f"demo-{i:04d}" for i in range(1, summary["n_products"] + 1)}
    assert set(read_table(settings, "catalog_images")["product_id"]) == demo | expected["accepted"]


def test_each_stage_sees_only_what_the_one_before_accepted_and_accounts_for_all(night):
    settings, _, expected, _ = night
    refused = (set(expected["refused_images"]) | set(expected["refused_rows"])) - \
        expected["accepted"]
    catalog = read_table(settings, "catalog_images")
    labels = read_table(settings, "image_labels", ds=DS)
    assert sorted(labels["image_id"]) == sorted(catalog["image_id"])      # in = out, 1:1
    assert (labels["label"].notna() ^ labels["reason"].notna()).all()      # label xor reason
    labelled = set(labels.loc[labels.label.notna(), "image_id"])
    cutouts = read_table(settings, "product_cutouts", ds=DS)
    slots = read_table(settings, "donor_slots", ds=DS)
    assert set(cutouts["image_id"]) | set(slots["image_id"]) == labelled
    assert not set(cutouts["image_id"]) & set(slots["image_id"])
    assert cutouts["image_id"].is_unique
    assert (cutouts["ok"] | cutouts["flags"].map(len).gt(0) | cutouts["reason"].notna()).all()

    products = set(cutouts["product_id"])
    pairs = read_table(settings, "donor_pairs", ds=DS)
    unpaired = read_table(settings, "pairing_rejects", ds=DS)
    assert set(pairs["product_id"]) | set(unpaired["product_id"]) == products
    assert not set(pairs["product_id"]) & set(unpaired["product_id"])
    assert unpaired["reason"].notna().all() and unpaired["detail"].str.len().gt(0).all()

    staged = read_table(settings, "staged_images", ds=DS)
    refusals = read_table(settings, "staging_rejects", ds=DS)
    for method in ("copy_paste", "hard_paste", "vanilla"):
        done = set(staged.loc[staged.method == method, "product_id"])
        no = refusals[refusals.method == method]
        assert done | set(no["product_id"]) == products, method           # in = out + rejects
        assert not done & set(no["product_id"]) and no["product_id"].is_unique, method
        assert no["reason"].notna().all() and no["detail"].str.len().gt(0).all(), method
    assert not staged.duplicated(["product_id", "method"]).any()
    for table in (labels, cutouts, slots, pairs, unpaired, staged, refusals):
        assert not set(table["product_id"]) & refused


def test_degenerate_images_that_pass_ingest_end_as_a_later_stage_reason(night):
    """All white (no product), a 1-px-wide line and a 60:1 sliver are valid images; the cutout
    stage flags what it cannot cut out, and no stage dies on them."""
    settings, _, _, _ = night
    cutouts = read_table(settings, "product_cutouts", ds=DS).set_index("product_id")
    assert "empty" in list(cutouts.loc["x-white", "flags"]) and not cutouts.loc["x-white", "ok"]
    staged = read_table(settings, "staged_images", ds=DS)
    refusals = read_table(settings, "staging_rejects", ds=DS)
    for pid in ("x-white", "x-hair", "x-sliver"):
        outcome = (set(staged.loc[staged.product_id == pid, "method"])
                   | set(refusals.loc[refusals.product_id == pid, "method"]))
        assert outcome == {"copy_paste", "hard_paste", "vanilla"}, pid
    assert set(refusals.loc[refusals.product_id == "x-white", "method"]) >= {"copy_paste",
                                                                           "hard_paste"}


SHIPPED_CLASSIFIER = registry.MODELS_DIR / "classifier" / "classifier.onnx"


@pytest.mark.parametrize("setting, stage, broken", [
    ("classifier_model", classify, "unpromoted"),
    ("salient_model", cutouts, "corrupt"),  # the donor slots' mask net (slot_source detector)
    ("inpaint_model", copy_paste, "corrupt"),  # loaded when EdgeConnect fills the gaps
    ("pix2pix_model", vanilla, "unpromoted"),
])
def test_a_broken_model_fails_by_name_before_any_table_moves(night, spark, tmp_path, setting,
                                                             stage, broken):
    """A registered model without @champion (versions registered, none promoted), or a
    champion whose file is not ONNX: the job stops with an error naming the model, and every
    Delta table keeps its version."""
    settings = night[0]
    name = f"adstage-test-{broken}-{setting.replace('_', '-')}"
    onnx = tmp_path / "model.onnx"
    if broken == "corrupt":
        onnx.write_bytes(SHIPPED_CLASSIFIER.read_bytes()[:300])  # a cut-off upload
        registry.register_onnx(settings, onnx, name, {})
        error, match = ModelLoadError, rf"models:/{name}@champion: registry version 1 .*not a "
    else:
        onnx.write_bytes(SHIPPED_CLASSIFIER.read_bytes())
        registry.register_onnx(settings, onnx, name, {}, alias="candidate")
        error, match = LookupError, rf"models:/{name}@champion: .*versions \[1\].*no alias"
    before = delta_versions(settings)
    assert len(before) >= 9
    with pytest.raises(error, match=match):
        # The generators are loaded only when they fill the gaps (not with Telea, the default).
        extra = {"staging_gap_fill": "edgeconnect"} if setting == "inpaint_model" else {}
        stage.run(spark, dataclasses.replace(settings, **{setting: name}, **extra), DS)
    assert delta_versions(settings) == before


@pytest.mark.slow
def test_refused_candidates_and_int8_versions_fall_back_to_the_shipped_model(tmp_path):
    """Not errors: a first candidate its promotion gate refused, or an int8 version quantized
    from the shipped fp32 model, leaves no champion; the shipped model that ran before still
    runs. An untagged version without a champion is an error."""
    from mlflow import MlflowClient

    settings = make_settings(tmp_path)
    client = MlflowClient(settings.tracking_uri)
    name = "adstage-test-refused-classifier"
    version = registry.register_onnx(settings, SHIPPED_CLASSIFIER, name, {}, alias="candidate")
    with pytest.raises(LookupError, match="no alias 'champion'"):  # untagged: someone forgot
        registry.resolve(settings, name, "classifier", "classifier.onnx")
    client.set_model_version_tag(name, version, registry.REFUSED_TAG, registry.REFUSED)
    version = registry.register_onnx(settings, SHIPPED_CLASSIFIER, name, {}, alias="int8")
    client.set_model_version_tag(name, version, registry.PRECISION_TAG, "int8")
    model = registry.resolve(settings, name, "classifier", "classifier.onnx")
    assert (model.source, model.name) == ("shipped", name)
    assert registry.resolve(settings, name, "classifier", "classifier.onnx", "int8").version == "2"
