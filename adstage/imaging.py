"""Validate and normalise one product image: header probe, decode, PNG encode.

Pure functions (no Spark, no I/O).  For bad data every function raises
:class:`~adstage.reasons.Rejected` and nothing else.

Who does what, and why:

* **Pillow** reads headers only (:func:`probe`): format, declared size, mode and the EXIF
  orientation, without decoding pixels, so decompression bombs are refused before any pixel
  buffer is allocated.
* **OpenCV** decodes pixels (``cv2.imdecode`` with ``IMREAD_UNCHANGED``): it is faster, keeps
  16-bit samples and alpha, and converts CMYK/YCCK JPEGs (Adobe-inverted) to BGR correctly.
  ``IMREAD_COLOR`` would apply EXIF orientation for us but silently drops alpha (so a
  transparent background would turn black instead of white) and 16-bit precision, hence
  UNCHANGED plus our own orientation step.  Exception, pinned by tests: libtiff-based
  readers (OpenCV's even under UNCHANGED, and Pillow's) orient TIFFs while decoding, so
  TIFFs are not rotated a second time.
* **Pillow decodes pixels** only for a format whose codec is missing from the installed
  OpenCV build (e.g. GIF before OpenCV 4.11); ``Image.load()`` raises on truncated files.
  When OpenCV has the codec and fails, the image is CORRUPT_IMAGE, with no Pillow retry.
* Truncation: some libjpeg builds return a grey-filled partial image for a truncated JPEG
  with only a warning, so JPEGs are checked for a complete marker stream ending in EOI
  before decoding.  OpenCV's PNG/WebP/GIF/BMP/TIFF readers fail on truncated input.
"""
from __future__ import annotations

import functools
import hashlib
import io
import re
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from adstage.reasons import Reason, Rejected

__all__ = ["ImageInfo", "probe", "decode", "encode_png", "SUPPORTED_FORMATS"]

# Pillow format name -> our name.  Everything else is NOT_AN_IMAGE: a short list of product
# photo formats keeps the decoder attack surface small (no PSD, ICO, EPS, SGI, ...).
# MPO is the multi-picture JPEG phones write; its first picture is an ordinary JPEG.
SUPPORTED_FORMATS: dict[str, str] = {
    "JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp",
    "BMP": "bmp", "TIFF": "tiff", "GIF": "gif",
}
# Plugins handed to Image.open(formats=...): MPO has no opener of its own (the JPEG plugin
# returns MPO files), so naming it there is a KeyError.
_PIL_OPENERS = tuple(name for name in SUPPORTED_FORMATS if name != "MPO")
_FORMAT_LIST = ", ".join(sorted(set(SUPPORTED_FORMATS.values())))
# TIFF readers built on libtiff (OpenCV's, even under IMREAD_UNCHANGED, and Pillow's) apply
# the Orientation tag while decoding, and Pillow reports a TIFF's size already oriented.
_DECODER_ORIENTS = frozenset({"tiff"})
_EXIF_ORIENTATION = 0x0112
# zlib level for stored PNGs: on a 12 Mpx photo level 3 is as fast as 1 and ~7% smaller;
# level 6 is ~4x slower for a further ~7%.
_PNG_COMPRESSION = 3


@dataclass(frozen=True)
class ImageInfo:
    """What the header says about an image.

    ``width``/``height`` are *after* applying ``orientation`` (i.e. as displayed);
    ``mode`` is the Pillow mode of the source ('RGB', 'L', 'RGBA', 'CMYK', 'I;16', 'P'...);
    ``sha256`` is the hex digest of the source bytes (the content address).
    """

    format: str
    width: int
    height: int
    mode: str
    orientation: int
    sha256: str


# ---- probe ---------------------------------------------------------------------------------

def probe(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Identify ``data`` from its header alone, refusing empty, unknown and bomb inputs.

    Raises Rejected with EMPTY_FILE, NOT_AN_IMAGE, DECOMPRESSION_BOMB or CORRUPT_IMAGE.
    """
    data = _as_bytes(data)
    # Pillow warns about what it tolerates (DecompressionBombWarning, "Corrupt EXIF data"...);
    # our own checks decide and report, so its warnings would only be log noise multiplied
    # by millions of rows.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im = _open_header(data)
        try:
            fmt = SUPPORTED_FORMATS[im.format or ""]
            raw_w, raw_h = im.size
            if raw_w <= 0 or raw_h <= 0:
                raise Rejected(Reason.CORRUPT_IMAGE, f"header declares size {raw_w}x{raw_h}")
            _check_pixels(raw_w, raw_h, max_pixels)
            orientation = _read_orientation(im)
            mode = im.mode
        except Rejected:
            raise
        except Exception as exc:  # a plugin choking on a malformed header
            raise Rejected(Reason.CORRUPT_IMAGE,
                           f"bad header: {type(exc).__name__}: {exc}") from None
        finally:
            im.close()
    swap = orientation >= 5 and fmt not in _DECODER_ORIENTS
    width, height = (raw_h, raw_w) if swap else (raw_w, raw_h)
    return ImageInfo(format=fmt, width=width, height=height, mode=mode,
                     orientation=orientation, sha256=hashlib.sha256(data).hexdigest())


def _as_bytes(data: bytes) -> bytes:
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, bytes):
        raise Rejected(Reason.NOT_AN_IMAGE, f"expected bytes, got {type(data).__name__}")
    return data


def _open_header(data: bytes) -> Image.Image:
    """``Image.open`` (lazy: reads the header, no pixels) restricted to SUPPORTED_FORMATS."""
    if len(data) == 0:
        raise Rejected(Reason.EMPTY_FILE, "0 bytes")
    try:
        return Image.open(io.BytesIO(data), formats=_PIL_OPENERS)
    except Image.DecompressionBombError as exc:
        # Pillow's hard ceiling (2 x Image.MAX_IMAGE_PIXELS) tripped inside open().
        raise Rejected(Reason.DECOMPRESSION_BOMB, str(exc)) from None
    except UnidentifiedImageError:
        sniffed = _sniff_format(data)
        if sniffed:  # the right magic but no parsable header: damaged, not foreign
            raise Rejected(Reason.CORRUPT_IMAGE, f"{sniffed} signature but unreadable header "
                                                 "(truncated or damaged)") from None
        raise Rejected(Reason.NOT_AN_IMAGE,
                       f"not a supported image ({_FORMAT_LIST}); "
                       f"starts with {bytes(data[:8])!r}") from None
    except Exception as exc:
        raise Rejected(Reason.CORRUPT_IMAGE, f"bad header: {type(exc).__name__}: {exc}") from None


_SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF87a", "gif"),
    (b"GIF89a", "gif"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"BM", "bmp"),
)


def _sniff_format(data: bytes) -> str | None:
    """Supported format named by the leading magic bytes, if any."""
    head = bytes(data[:12])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((fmt for magic, fmt in _SIGNATURES if head.startswith(magic)), None)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise Rejected(Reason.DECOMPRESSION_BOMB,
                       f"declared {width}x{height} = {width * height} pixels > limit {max_pixels}")


def _read_orientation(im: Image.Image) -> int:
    """EXIF orientation 1..8 (1 when absent or out of range), without decoding pixels."""
    # PngImageFile.getexif() calls load() (a full decode) when no eXIf chunk precedes IDAT;
    # the base implementation only looks at what the header pass already collected.
    exif = Image.Image.getexif(im)
    value = exif.get(_EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# ---- decode --------------------------------------------------------------------------------

def decode(data: bytes, *, max_pixels: int, min_side: int,
           max_side: int) -> tuple[np.ndarray, ImageInfo]:
    """Decode ``data`` to an upright HxWx3 uint8 BGR array, plus its :class:`ImageInfo`.

    Normalisation: EXIF orientation applied once, 16-bit scaled to 8-bit, grey expanded to 3
    channels, alpha composited over white, palette and CMYK converted to colour.
    Raises Rejected (probe reasons, TOO_SMALL, TOO_LARGE, CORRUPT_IMAGE); never anything else.
    """
    data = _as_bytes(data)
    info = check(data, max_pixels=max_pixels, min_side=min_side, max_side=max_side)
    try:
        if info.format == "jpeg":
            _check_jpeg_complete(data)
        img = _to_bgr8(_decode_pixels(data, info))
        if info.format not in _DECODER_ORIENTS:
            img = _apply_orientation(img, info.orientation)
    except Rejected:
        raise
    except Exception as exc:  # cv2.error, MemoryError, numpy errors from odd decoder output
        raise Rejected(Reason.CORRUPT_IMAGE, f"{type(exc).__name__}: {exc}") from None
    if img.shape[:2] != (info.height, info.width):
        raise Rejected(Reason.CORRUPT_IMAGE, f"decoded {img.shape[1]}x{img.shape[0]} but header "
                                             f"says {info.width}x{info.height}")
    return np.ascontiguousarray(img), info


def check(data: bytes, *, max_pixels: int, min_side: int, max_side: int) -> ImageInfo:
    """The header and the limits, without decoding the pixels: all `decode` refuses before it
    decodes (what a known file, whose pixels were decoded once, can still fail on today)."""
    info = probe(_as_bytes(data), max_pixels=max_pixels)
    _check_sides(info, min_side, max_side)
    return info


def _check_sides(info: ImageInfo, min_side: int, max_side: int) -> None:
    short, long_ = min(info.width, info.height), max(info.width, info.height)
    if short < min_side:
        raise Rejected(Reason.TOO_SMALL, f"{info.width}x{info.height}: shorter side {short} "
                                         f"< min_side {min_side}")
    if long_ > max_side:
        raise Rejected(Reason.TOO_LARGE, f"{info.width}x{info.height}: longer side {long_} "
                                         f"> max_side {max_side}")


def _decode_pixels(data: bytes, info: ImageInfo) -> np.ndarray:
    """Raw decoder output: HxW or HxWxC in BGR/BGRA order, uint8 or uint16."""
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is not None:
        return pixels
    if _opencv_reads(info.format):
        # OpenCV has the codec and still failed: the data is bad (truncated, broken).  No
        # Pillow retry here: Pillow is laxer (it silently accepts a PNG whose IDAT stream
        # ends early), so a retry would let corrupt images through.
        raise Rejected(Reason.CORRUPT_IMAGE, f"OpenCV could not decode this {info.format}")
    return _decode_with_pillow(data)


@functools.cache
def _opencv_reads(fmt: str) -> bool:
    """Whether this OpenCV build can decode ``fmt``, found by decoding a 2x2 sample once.

    OpenCV offers no in-memory "is this codec compiled in" query (haveImageReader() sniffs
    a file on disk), and codecs vary between builds (GIF only since 4.11, WebP optional).
    """
    pil_name = next((k for k, v in SUPPORTED_FORMATS.items() if v == fmt), None)
    if pil_name is None:
        return True
    buf = io.BytesIO()
    try:
        Image.new("RGB", (2, 2), (200, 100, 50)).save(buf, pil_name)
    except Exception:
        return True  # Pillow cannot write a sample: assume OpenCV can read, the strict choice
    return cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED) is not None


def _decode_with_pillow(data: bytes) -> np.ndarray:
    """Decode with Pillow (strict: truncated data raises) into BGR/BGRA/grey, uint8/16."""
    with Image.open(io.BytesIO(data), formats=_PIL_OPENERS) as im:
        im.load()
        mode = im.mode
        if mode.startswith("I;16") or mode == "I":
            arr = np.asarray(im)
            return np.clip(arr, 0, 65535).astype(np.uint16)
        if mode == "F":
            raise Rejected(Reason.NOT_AN_IMAGE, "floating-point samples are not supported")
        has_alpha = "A" in mode or "transparency" in im.info
        arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    return cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA if has_alpha else cv2.COLOR_RGB2BGR)


# ---- pixel normalisation -------------------------------------------------------------------

def _to_bgr8(pixels: np.ndarray) -> np.ndarray:
    """Any decoder output (grey/grey+alpha/BGR/BGRA, 8/16-bit) -> HxWx3 uint8 BGR."""
    img = _to_uint8(pixels)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    channels = img.shape[2]
    if channels == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if channels == 2:  # grey + alpha
        grey = cv2.cvtColor(np.ascontiguousarray(img[:, :, 0]), cv2.COLOR_GRAY2BGR)
        return _composite_on_white(grey, img[:, :, 1])
    if channels == 3:
        return img
    if channels == 4:
        return _composite_on_white(img[:, :, :3], img[:, :, 3])
    raise Rejected(Reason.NOT_AN_IMAGE, f"unsupported channel count {channels}")


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        # Rounded x * 255/65535, so 65535 -> 255 exactly (a plain >> 8 would too, but
        # rounds every mid-tone down).
        return cv2.convertScaleAbs(pixels, alpha=255.0 / 65535.0)
    raise Rejected(Reason.NOT_AN_IMAGE, f"unsupported sample type {pixels.dtype}")


def _composite_on_white(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Blend over white: product photos are shown on white, so transparent -> white."""
    if int(alpha.min()) == 255:
        return np.ascontiguousarray(bgr)
    # c*a/255 + 255*(1 - a/255) == 255 - (255-c)*a/255: two inversions and one rounded,
    # saturating multiply, all in OpenCV (about 3x faster than the numpy uint16 version).
    alpha3 = cv2.cvtColor(np.ascontiguousarray(alpha), cv2.COLOR_GRAY2BGR)
    inverted = cv2.bitwise_not(np.ascontiguousarray(bgr))
    return cv2.bitwise_not(cv2.multiply(inverted, alpha3, scale=1.0 / 255.0))


def _apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright per EXIF orientation (same result as ImageOps.exif_transpose)."""
    if orientation == 2:
        return cv2.flip(img, 1)
    if orientation == 3:
        return cv2.rotate(img, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(img, 0)
    if orientation == 5:
        return cv2.transpose(img)
    if orientation == 6:
        return cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(img), -1)
    if orientation == 8:
        return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return img


# ---- JPEG completeness ---------------------------------------------------------------------

# Inside entropy-coded data 0xFF is stuffed as FF00 and restart markers are FFD0..FFD7; any
# other FFxx is the next real marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _check_jpeg_complete(data: bytes) -> None:
    """Refuse a JPEG whose marker stream ends before EOI (a truncated download/file).

    Walks the segments instead of testing ``data.endswith(b"\\xff\\xd9")``: trailing bytes
    after EOI are common (camera/phone trailers, MPO) and harmless, and an EOI of an
    embedded EXIF thumbnail must not count as the end of the main image.
    """
    n = len(data)
    pos = 2  # after SOI
    while pos < n:
        if data[pos] != 0xFF:  # garbage between segments: libjpeg resyncs, so do we
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        if pos + 1 >= n:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return
        if marker in _STANDALONE:
            pos += 2
            continue
        if pos + 4 > n:
            break
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:  # start of scan: skip the entropy-coded data
            match = _NEXT_MARKER.search(data, pos)
            if match is None:
                break
            pos = match.start()
    raise Rejected(Reason.CORRUPT_IMAGE, "truncated JPEG: no end-of-image marker")


# ---- encode --------------------------------------------------------------------------------

def encode_png(img: np.ndarray) -> bytes:
    """Lossless PNG of a uint8 grey/BGR/BGRA array; same pixels -> same bytes.

    Deterministic because OpenCV writes no timestamp or other metadata and zlib output is a
    pure function of input and settings (pinned here, not left to library defaults).
    Raises ValueError for an array that is not an 8-bit image (a caller bug, not bad data).
    """
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
        got = getattr(img, "dtype", type(img).__name__)
        raise ValueError(f"encode_png expects a uint8 ndarray, got {got}")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3, 4))) or img.size == 0:
        raise ValueError(f"encode_png expects HxW, HxWx1, HxWx3 or HxWx4, got shape {img.shape}")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img), [
        cv2.IMWRITE_PNG_COMPRESSION, _PNG_COMPRESSION,
        cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_DEFAULT,
    ])
    if not ok:
        raise ValueError(f"cv2.imencode failed for shape {img.shape}")
    return buf.tobytes()
