"""Parallax clip: a readable MP4, WebM and GIF with the expected frames and no empty borders.

That the WebM plays in Chromium (and the MP4 does not): tests/test_gallery_browser.py."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from adstage.staging.composite import compose, opencv_inpainter
from adstage.staging.parallax import CameraMove, make_layers, parallax_clip, render_frames, write_webm


def staged(H=101, W=161):
    yy, xx = np.mgrid[0:H, 0:W]
    room = np.stack([60 + xx * 100 // W, 90 + yy * 80 // H, np.full_like(xx, 140)], axis=2).astype(np.uint8)
    m = np.zeros((H, W), np.uint8)
    cv2.rectangle(m, (60, 30), (100, 95), 255, -1)
    alpha = cv2.GaussianBlur(m, (0, 0), 0.8).astype(np.float32) / 255.0
    prod = np.zeros((H, W, 3), np.uint8)
    prod[alpha > 0] = (30, 200, 240)
    return compose(prod, alpha, room), prod, alpha


def test_layers_remove_the_product_from_the_plate():
    img, prod, alpha = staged()
    layers = make_layers(img, alpha, opencv_inpainter(), product_image=prod, crop_size=64)
    yellow = np.all(np.abs(layers.plate.astype(int) - (30, 200, 240)) < 40, axis=2)
    assert not yellow.any()
    assert np.array_equal(layers.plate[layers.hole == 0], img[layers.hole == 0])


def red_runs(frame: np.ndarray, rows: range) -> list[int]:
    """The widest run of red (the front bar's colour) in each of ``rows``."""
    red = np.all(np.abs(frame.astype(int) - (0, 0, 220)) < 30, axis=2)
    out = []
    for y in rows:
        xs = np.flatnonzero(red[y])
        runs = np.split(xs, np.flatnonzero(np.diff(xs) > 1) + 1) if xs.size else []
        out.append(max((len(r) for r in runs), default=0))
    return out


def grey_inpainter(crops: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Fills every hole flat grey, so that no colour of the scene leaks into the plate."""
    out = crops.copy()
    out[holes > 0] = 128
    return out


def test_pieces_in_front_stay_on_top_of_the_product_in_every_frame():
    """A bar standing in front of the product (a table leg before a chair): the product was
    pasted behind it (its alpha is 0 there). Moved with the plate, the bar would slide under the
    faster product layer and the product's cut would drift off it; it moves with the product."""
    img, prod, alpha = staged()
    front = np.zeros(alpha.shape, np.uint8)
    front[20:100, 76:86] = 255
    alpha = np.where(front > 0, 0.0, alpha).astype(np.float32)
    img = img.copy()
    img[front > 0] = (0, 0, 220)
    layers = make_layers(img, alpha, grey_inpainter, product_image=prod, front=front,
                         crop_size=64)
    assert not np.all(np.abs(layers.plate.astype(int) - (0, 0, 220)) < 30, axis=2).any()
    move = CameraMove(seconds=1.0, fps=12, pan=0.15)
    for i, f in enumerate(render_frames(layers, move)):
        assert min(red_runs(f, range(40, 90))) >= 9, i        # the bar is 10 px wide
    # Left in the plate, the bar is half covered by the product at the end of the move.
    flat = make_layers(img, alpha, grey_inpainter, product_image=prod, crop_size=64)
    assert min(red_runs(render_frames(flat, move)[-1], range(40, 90))) < 6


def test_a_front_mask_of_another_size_is_refused():
    img, prod, alpha = staged()
    with pytest.raises(ValueError, match="front mask"):
        make_layers(img, alpha, opencv_inpainter(), front=np.zeros((10, 10), np.uint8))


def test_clip_writes_readable_mp4_webm_and_gif_without_black_borders(tmp_path):
    img, prod, alpha = staged()
    move = CameraMove(seconds=1.0, fps=12)
    frames = render_frames(make_layers(img, alpha, opencv_inpainter(), product_image=prod, crop_size=64), move)
    assert len(frames) == 12 and all(f.shape == img.shape for f in frames)
    for f in frames:
        # No empty (black) border pixel: every border pixel keeps a bright channel (room or product).
        border = np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]])
        assert border.max(axis=1).min() >= 120
    assert not np.array_equal(frames[0], frames[-1])          # it moves

    paths = parallax_clip(img, alpha, opencv_inpainter(), tmp_path, "p1", product_image=prod, move=move,
                          crop_size=64)
    assert sorted(paths) == ["gif", "mp4", "webm"] and paths["webm"] == tmp_path / "p1.webm"
    for kind, fourcc in (("mp4", b"FMP4"), ("webm", b"VP90")):   # as FFmpeg's decoders name mp4v and VP9
        cap = cv2.VideoCapture(str(paths[kind]))
        assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == fourcc
        n = 0
        while True:
            ok, f = cap.read()
            if not ok:
                break
            n += 1
            assert f.shape == (102, 162, 3), kind              # odd sides padded to even, not cropped
            assert np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]]).max(axis=1).min() >= 100  # codec noise allowed
        cap.release()
        assert n == move.n_frames, kind
    gif = Image.open(paths["gif"])
    assert gif.n_frames == move.n_frames and gif.size == (161, 101)
    gif.seek(gif.n_frames - 1)
    rgb = np.asarray(gif.convert("RGB"))
    assert np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).max(axis=1).min() >= 100


def test_webm_writer_takes_vp8_and_refuses_other_codecs(tmp_path):
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(4)]
    cap = cv2.VideoCapture(str(write_webm(frames, tmp_path / "a.webm", 12, fourcc="VP80")))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"VP80"
    assert sum(1 for _ in iter(lambda: cap.read()[0], False)) == 4
    cap.release()
    with pytest.raises(ValueError):
        write_webm(frames, tmp_path / "b.webm", 12, fourcc="avc1")


@pytest.mark.parametrize("fourcc", ["VP90", "VP80"])
def test_same_frames_give_the_same_webm_bytes(tmp_path, fourcc):
    """Clips are stored under their content hash: a re-run must write the same bytes (FFmpeg's
    muxer draws a random track UID), and the file must still decode."""
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(4)]
    a = write_webm(frames, tmp_path / "a.webm", 12, fourcc=fourcc).read_bytes()
    b = write_webm(frames, tmp_path / "b.webm", 12, fourcc=fourcc).read_bytes()
    assert a == b
    cap = cv2.VideoCapture(str(tmp_path / "b.webm"))
    assert sum(1 for _ in iter(lambda: cap.read()[0], False)) == 4
    cap.release()
