"""2.5-D parallax clip of a staged image (the paper's third task): the product moves against the room.

Two layers: the product (colour + soft alpha, as pasted) and a background plate (the staged
image with the product removed and its hole filled by the injected ``inpaint_fn``, the same
crop machinery as the gap).  A short camera move shifts and zooms the product layer more than
the plate — near things move faster — which reads as depth.  The plate is overscanned
(scaled up about the centre) just enough that its shift never exposes a border, and warped
with mirrored borders as a second guard, so no frame has an empty edge.  The product's contact
shadow lives in the plate (it stays on the floor), so keep the move small.

A staged image whose donor kept pieces in front of the product (``staged_images.front_mask_uri``:
a table before a chair, an ottoman before a sofa) has a third layer: those pieces, cut from the
staged image and moved with the product layer, on top of it.  Moved with the plate instead, the
product would slide out from behind them and show the straight edge where its hidden part was
cut off; moved with the product they keep hiding exactly what they hid, and the plate is filled
under them as it is under the product (only the strip the move uncovers shows).

Written up to three ways (``write_clips``; the nightly job writes ``Settings.parallax_formats``,
MP4 and WebM by default): MP4 (OpenCV ``mp4v``, MPEG-4 Part 2) for the ad platforms, which
ingest MP4; WebM (OpenCV ``VP90``, VP9) for browsers, i.e. the review gallery's ``<video>``;
and, opt-in, a looping GIF (Pillow) as the fallback for places that play neither (at 1024x768
a GIF was 3x the MP4 and WebM together and a third of the image store; docs/reliability.md,
item 12).  Which codec plays where was measured
with the pinned opencv-python-headless 5.0 (its wheel bundles FFmpeg) and Debian's Chromium 156
(``tests/test_gallery_browser.py`` checks that the gallery's WebM plays there):

* OpenCV writes ``mp4v`` (.mp4), ``VP80`` and ``VP90`` (.webm/.mkv).  It cannot write H.264:
  ``avc1``/``H264``/``X264`` fail to open because the wheel's FFmpeg has only the hardware
  ``h264_v4l2m2m`` encoder (no libx264/openh264); ``AV01`` and ``THEO`` have no encoder either.
* Chromium does not play MPEG-4 Part 2: ``canPlayType('video/mp4; codecs="mp4v.20.8"')`` is
  empty and the element fails with MEDIA_ERR_SRC_NOT_SUPPORTED.  It plays VP8 and VP9 WebM.
  (It would play H.264 MP4, which OpenCV cannot write.)
* VP9 over VP8: about the same PSNR (~38 dB), 2.5x smaller files, 2.4x the encode time
  (24 frames of 1024x768 on 2 cores: VP9 1.9 s / 83 KiB, VP8 0.8 s / 213 KiB, mp4v 0.1 s / 95 KiB).
  Both crop odd sides (hence ``_even``).  OpenCV prints ``tag ... is not supported with codec id
  ... and format 'webm'`` on every WebM writer: WebM has no codec-tag table; the file is fine.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from adstage.staging.composite import InpaintFn, inpaint_gap
from adstage.staging.placement import as_alpha


@dataclass
class Layers:
    """``product`` BGR uint8 and ``alpha`` float32 [0, 1] (room-sized); ``plate`` BGR uint8,
    the room without the product (and without the front pieces); ``hole`` uint8 (255 = what was
    filled in the plate); ``front`` float32 [0, 1], the pieces kept in front of the product
    (their colours are ``front_image``), or None."""

    product: np.ndarray
    alpha: np.ndarray
    plate: np.ndarray
    hole: np.ndarray
    front: np.ndarray | None = None
    front_image: np.ndarray | None = None


@dataclass(frozen=True)
class CameraMove:
    """``seconds`` x ``fps`` frames; ``pan``: the product's horizontal travel, share of the width;
    ``zoom``: the product's extra scale over the move; ``bg_speed``: the plate's share of both."""

    seconds: float = 2.0
    fps: int = 12
    pan: float = 0.05
    zoom: float = 0.06
    bg_speed: float = 0.4

    @property
    def n_frames(self) -> int:
        return max(2, int(round(self.seconds * self.fps)))


def make_layers(staged: np.ndarray, product_alpha: np.ndarray, inpaint_fn: InpaintFn, *,
                product_image: np.ndarray | None = None, front: np.ndarray | None = None,
                dilate_px: int = 3, crop_size: int = 256) -> Layers:
    """Split a staged image into product layer, front layer and filled background plate.

    :param staged: BGR uint8 staged image. :param product_alpha: the product's alpha (room-sized).
    :param product_image: the product's straight colours (``StagedResult.product_image``); the
        staged pixels are used when None (the soft rim then carries some background colour).
    :param front: uint8 ``H x W``, 255 = pieces of the room standing in front of the product
        (the donor slot's front mask), or None.
    :param dilate_px: the hole is the product's (and front's) support dilated by this much (a
        rim and the blend around it must not stay in the plate as a ghost).
    """
    alpha = as_alpha(product_alpha)
    if front is not None and front.shape != alpha.shape:
        raise ValueError(f"front mask {front.shape} is not the staged image's size {alpha.shape}")
    has_front = front is not None and bool((front > 0).any())
    support = np.where((alpha > 0) | (front > 0 if has_front else False), 255, 0).astype(np.uint8)
    if dilate_px > 0:
        k = 2 * dilate_px + 1
        support = cv2.dilate(support, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    plate, _ = inpaint_gap(staged, support, inpaint_fn, crop_size)
    product = staged if product_image is None else product_image
    return Layers(product=product.copy(), alpha=alpha, plate=plate, hole=support,
                  front=(front > 0).astype(np.float32) if has_front else None,
                  front_image=staged if has_front else None)


def _premultiplied(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return np.concatenate([colour.astype(np.float32) * a, a], axis=2)


def _affine(scale: float, dx: float, w: int, h: int) -> np.ndarray:
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    return np.array([[scale, 0, (1 - scale) * cx + dx], [0, scale, (1 - scale) * cy]], np.float32)


def render_frames(layers: Layers, move: CameraMove = CameraMove()) -> list[np.ndarray]:
    """BGR uint8 frames of the move, room-sized."""
    H, W = layers.alpha.shape
    n = move.n_frames
    bg_pan = move.pan * move.bg_speed
    # Overscan: a shift of d pixels needs a scale of 1 + 2d/W about the centre; +1% and 2 px slack.
    base = 1.0 + bg_pan + 0.01 + 4.0 / W
    fg = _premultiplied(layers.product, layers.alpha)
    near = None if layers.front is None else _premultiplied(layers.front_image, layers.front)
    frames = []
    for i in range(n):
        u = i / (n - 1)
        e = 0.5 - 0.5 * np.cos(np.pi * u)  # ease in and out
        t = e - 0.5
        m_bg = _affine(base * (1.0 + move.zoom * move.bg_speed * e), bg_pan * W * t, W, H)
        m_fg = _affine(base * (1.0 + move.zoom * e), move.pan * W * t, W, H)
        bg = cv2.warpAffine(layers.plate, m_bg, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        f = cv2.warpAffine(fg, m_fg, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        fa = np.clip(f[..., 3:4], 0.0, 1.0)
        out = f[..., :3] + bg.astype(np.float32) * (1.0 - fa)
        if near is not None:  # the front pieces move with the product, on top of it
            g = cv2.warpAffine(near, m_fg, (W, H), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            out = g[..., :3] + out * (1.0 - np.clip(g[..., 3:4], 0.0, 1.0))
        frames.append(np.clip(np.round(out), 0, 255).astype(np.uint8))
    return frames


def _even(frame: np.ndarray) -> np.ndarray:
    # Most MP4 codecs want even sides; replicate one edge row/column rather than drop one.
    h, w = frame.shape[:2]
    return cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE) if (h % 2 or w % 2) else frame


def _write_video(frames: list[np.ndarray], path: str | Path, fps: int, fourcc: str) -> Path:
    path = Path(path)
    first = _even(frames[0])
    h, w = first.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV could not open a {fourcc} writer for {path} (no FFmpeg in this build?)")
    try:
        for f in frames:
            writer.write(_even(f))
    finally:
        writer.release()
    return path


def write_mp4(frames: list[np.ndarray], path: str | Path, fps: int) -> Path:
    """Write BGR frames as MP4 (``mp4v``, what ad platforms ingest; browsers do not play it);
    raises RuntimeError when OpenCV cannot open a writer."""
    return _write_video(frames, path, fps, "mp4v")


def write_webm(frames: list[np.ndarray], path: str | Path, fps: int, fourcc: str = "VP90") -> Path:
    """Write BGR frames as WebM (VP9 by default, ``fourcc="VP80"`` for VP8), the format the
    gallery's ``<video>`` plays in Chromium; raises RuntimeError when OpenCV cannot open a writer."""
    if fourcc not in ("VP90", "VP80"):
        raise ValueError(f"WebM holds VP8 or VP9 here, not {fourcc!r}")
    path = _write_video(frames, path, fps, fourcc)
    path.write_bytes(fixed_track_uid(path.read_bytes()))
    return path


# Matroska's TrackUID element (ID 0x73C5, 8-byte payload) as FFmpeg writes it.
_TRACK_UID = b"\x73\xc5\x88"
_FIXED_UID = (1).to_bytes(8, "big")


def fixed_track_uid(webm: bytes) -> bytes:
    """The same WebM with its track UID set to 1.

    FFmpeg's muxer draws the UID at random (OpenCV offers no ``bitexact`` flag), so the same
    frames gave other bytes, hence another content address, on every run: a re-run of a date
    then did not reproduce its rows. The UID also stands in the tags (TagTrackUID), so every copy
    of it is replaced; it only has to be unique within the file, which holds one track."""
    at = webm.find(_TRACK_UID)
    if at < 0:
        return webm
    uid = webm[at + 3:at + 11]
    return webm.replace(uid, _FIXED_UID) if len(uid) == 8 else webm


def write_gif(frames: list[np.ndarray], path: str | Path, fps: int, max_side: int = 480) -> Path:
    """Write BGR frames as a looping GIF (Pillow), downscaled so the longer side <= ``max_side``.

    One 256-colour palette for the whole clip (median cut over the first, middle and last
    frame), so that Pillow stores each frame after the first as the rectangle that changed
    and the palette once, instead of a palette of its own per frame (which made every frame
    differ everywhere)."""
    from PIL import Image

    path = Path(path)
    h, w = frames[0].shape[:2]
    k = min(1.0, max_side / max(h, w))
    size = (max(1, int(round(w * k))), max(1, int(round(h * k))))
    rgb = [np.ascontiguousarray((cv2.resize(f, size, interpolation=cv2.INTER_AREA) if k < 1 else f)[..., ::-1])
           for f in frames]
    keys = sorted({0, len(rgb) // 2, len(rgb) - 1})
    palette = Image.fromarray(np.concatenate([rgb[i] for i in keys], axis=0)).quantize(
        256, method=Image.Quantize.MEDIANCUT)
    imgs = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in rgb]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(round(1000 / fps)), loop=0,
                 optimize=True)
    return path


# Clip formats by name (Settings.parallax_formats).
WRITERS = {"mp4": write_mp4, "webm": write_webm, "gif": write_gif}


def write_clips(frames: list[np.ndarray], out_dir: str | Path, stem: str, fps: int,
                formats: tuple[str, ...] = ("mp4", "webm")) -> dict[str, Path]:
    """``{format: out_dir/stem.<format>}`` for each of ``formats`` (``WRITERS``' names)."""
    unknown = [f for f in formats if f not in WRITERS]
    if unknown or not formats:
        raise ValueError(f"clip formats {list(formats)}: each one of {', '.join(WRITERS)}")
    return {f: WRITERS[f](frames, Path(out_dir) / f"{stem}.{f}", fps) for f in formats}


def parallax_clip(staged: np.ndarray, product_alpha: np.ndarray, inpaint_fn: InpaintFn, out_dir: str | Path,
                  stem: str, *, product_image: np.ndarray | None = None,
                  front: np.ndarray | None = None, move: CameraMove = CameraMove(),
                  crop_size: int = 256, formats: tuple[str, ...] = ("mp4", "webm", "gif")
                  ) -> dict[str, Path]:
    """Layers, frames and a file per format, e.g.
    ``{"mp4": out_dir/stem.mp4, "webm": out_dir/stem.webm, "gif": out_dir/stem.gif}``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = make_layers(staged, product_alpha, inpaint_fn, product_image=product_image,
                         front=front, crop_size=crop_size)
    frames = render_frames(layers, move)
    return write_clips(frames, out_dir, stem, move.fps, formats)
