"""adstage.imaging: probe / decode / encode_png on well-formed and hostile images.

Every input is generated here (numpy, OpenCV, Pillow): no binary fixtures.
"""
from __future__ import annotations

import hashlib
import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from adstage import imaging
from adstage.imaging import ImageInfo, decode, encode_png, probe
from adstage.reasons import Reason, Rejected

LIMITS = dict(max_pixels=40_000_000, min_side=32, max_side=12_000)  # Settings defaults
RED_BGR = (0, 0, 255)


# ---- generators ----------------------------------------------------------------------------

def gradient_rgb(w: int = 96, h: int = 64) -> np.ndarray:
    """A smooth RGB image: compresses like a photo, unlike noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (w + h)]).astype(np.uint8)


def pil_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def cv_bytes(arr: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, arr, params or [])
    assert ok
    return buf.tobytes()


def marker_image(w: int = 60, h: int = 40) -> Image.Image:
    """White RGB image with a red 10x10 block in the stored top-left corner."""
    arr = np.full((h, w, 3), 255, np.uint8)
    arr[:10, :10] = (255, 0, 0)
    return Image.fromarray(arr)


def exif_with_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        out.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return out


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR is patched (CRC fixed) to claim width x height."""
    chunks = png_chunks(cv_bytes(np.zeros((8, 8), np.uint8), ".png"))
    ihdr = struct.pack(">II", width, height) + chunks[0][1][8:]
    rest = b"".join(png_chunk(kind, body) for kind, body in chunks[1:])
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + rest


def jpeg_with_declared_size(width: int, height: int) -> bytes:
    """A small JPEG whose SOF0 frame header is patched to claim width x height."""
    data = bytearray(cv_bytes(gradient_rgb(), ".jpg"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def reject_reason(fn, *args, **kw) -> Reason:
    with pytest.raises(Rejected) as exc_info:
        fn(*args, **kw)
    assert exc_info.value.detail  # every refusal says why
    return exc_info.value.reason


def assert_close(pixel, expected, tol: int = 6) -> None:
    diff = np.abs(np.asarray(pixel, int) - np.asarray(expected, int))
    assert np.all(diff <= tol), (pixel, expected)


# ---- probe ---------------------------------------------------------------------------------

def test_probe_reports_header_facts_without_decoding(monkeypatch):
    data = pil_bytes(Image.fromarray(gradient_rgb(96, 64)), "JPEG")
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("probe must not decode"))
    info = probe(data, max_pixels=LIMITS["max_pixels"])
    assert info == ImageInfo(format="jpeg", width=96, height=64, mode="RGB", orientation=1,
                             sha256=hashlib.sha256(data).hexdigest())


def test_probe_swaps_sides_for_rotating_orientation():
    data = pil_bytes(marker_image(60, 40), "JPEG", exif=exif_with_orientation(6))
    info = probe(data, max_pixels=10**6)
    assert (info.width, info.height, info.orientation) == (40, 60, 6)


def test_probe_png_does_not_load_pixels_for_exif(monkeypatch):
    # PngImageFile.getexif() would run a full decode when there is no eXIf chunk.
    data = cv_bytes(gradient_rgb(), ".png")
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("pixels loaded"))
    assert probe(data, max_pixels=10**6).orientation == 1


@pytest.mark.parametrize("data, reason", [
    (b"", Reason.EMPTY_FILE),
    (b"this is a text file that someone named product.jpg\n", Reason.NOT_AN_IMAGE),
    (np.random.default_rng(7).bytes(4096), Reason.NOT_AN_IMAGE),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", Reason.NOT_AN_IMAGE),
], ids=["empty", "text-named-jpg", "random-bytes", "svg"])
def test_probe_refuses_non_images(data, reason):
    assert reject_reason(probe, data, max_pixels=10**6) is reason
    assert reject_reason(decode, data, **LIMITS) is reason


def test_formats_outside_the_allow_list_are_not_images():
    # Pillow reads ICO and PPM, but they are not product-photo formats: refused up front.
    for fmt in ("ICO", "PPM"):
        data = pil_bytes(Image.fromarray(gradient_rgb(64, 64)), fmt)
        assert reject_reason(probe, data, max_pixels=10**6) is Reason.NOT_AN_IMAGE


@pytest.mark.parametrize("magic", [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a",
                                   b"II*\x00", b"RIFF\x00\x10\x00\x00WEBP"])
def test_known_magic_followed_by_garbage_is_corrupt(magic):
    # The signature says "image we support", the rest is unreadable: damaged, not foreign.
    data = magic + np.random.default_rng(3).bytes(2000)
    assert reject_reason(decode, data, **LIMITS) is Reason.CORRUPT_IMAGE


# ---- decompression bombs -------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    png_with_declared_size(8000, 8000),      # 64 Mpx: over our 40 Mpx, under Pillow's ceiling
    png_with_declared_size(30000, 30000),    # 900 Mpx: Pillow's own DecompressionBombError
    jpeg_with_declared_size(65000, 65000),
], ids=["png-8000^2", "png-30000^2", "jpeg-65000^2"])
def test_bombs_are_refused_from_the_header_before_any_decode(data, monkeypatch):
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("bomb reached the decoder"))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("bomb loaded"))
    assert reject_reason(probe, data, max_pixels=LIMITS["max_pixels"]) is Reason.DECOMPRESSION_BOMB
    assert reject_reason(decode, data, **LIMITS) is Reason.DECOMPRESSION_BOMB


def test_pixel_limit_is_the_configured_one():
    data = cv_bytes(gradient_rgb(200, 100), ".png")  # 20 000 px
    assert probe(data, max_pixels=20_000).width == 200
    assert reject_reason(probe, data, max_pixels=19_999) is Reason.DECOMPRESSION_BOMB


# ---- sides ---------------------------------------------------------------------------------

def test_one_pixel_image_is_too_small():
    data = cv_bytes(np.zeros((1, 1, 3), np.uint8), ".png")
    assert reject_reason(decode, data, **LIMITS) is Reason.TOO_SMALL


def test_20000px_wide_strip_is_too_large_not_a_bomb():
    # 20000 x 40 = 800 000 px is well under max_pixels: the side limit is what refuses it.
    data = cv_bytes(np.full((40, 20000), 255, np.uint8), ".png")
    assert probe(data, max_pixels=LIMITS["max_pixels"]).width == 20000
    assert reject_reason(decode, data, **LIMITS) is Reason.TOO_LARGE


def test_20000px_square_is_a_bomb_because_pixels_are_checked_first():
    # 400 Mpx: refused by the pixel limit in probe, before the side limit is looked at.
    data = png_with_declared_size(20000, 20000)
    assert reject_reason(decode, data, **LIMITS) is Reason.DECOMPRESSION_BOMB


def test_side_limits_are_inclusive():
    data = cv_bytes(np.zeros((32, 64, 3), np.uint8), ".png")
    img, _ = decode(data, max_pixels=10**6, min_side=32, max_side=64)
    assert img.shape == (32, 64, 3)


# ---- truncated and corrupt -----------------------------------------------------------------

@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".bmp", ".tiff", ".gif"])
def test_truncated_to_half_is_corrupt(ext):
    data = cv_bytes(cv2.cvtColor(gradient_rgb(256, 192), cv2.COLOR_RGB2BGR), ext)
    assert reject_reason(decode, data[:len(data) // 2], **LIMITS) is Reason.CORRUPT_IMAGE


def test_progressive_jpeg_truncated_is_corrupt():
    data = cv_bytes(gradient_rgb(256, 192), ".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    for cut in (0.3, 0.9, 0.999):
        assert reject_reason(decode, data[:int(len(data) * cut)], **LIMITS) is Reason.CORRUPT_IMAGE


def test_jpeg_completeness_is_checked_independently_of_the_decoder(monkeypatch):
    # Some libjpeg builds hand back a grey-filled partial image for truncated input; simulate
    # that decoder and check the marker walk still refuses the data.
    data = cv_bytes(gradient_rgb(256, 192), ".jpg")
    partial = np.full((192, 256, 3), 128, np.uint8)
    monkeypatch.setattr(cv2, "imdecode", lambda *a: partial)
    assert reject_reason(decode, data[:-2], **LIMITS) is Reason.CORRUPT_IMAGE
    assert reject_reason(decode, data[:len(data) // 2], **LIMITS) is Reason.CORRUPT_IMAGE


def test_jpeg_marker_walk():
    data = cv_bytes(gradient_rgb(256, 192), ".jpg")
    imaging._check_jpeg_complete(data)
    imaging._check_jpeg_complete(data + b"\x00trailer bytes after EOI")
    # An EOI inside an earlier segment (as in an EXIF thumbnail) is not the image's end.
    comment = b"thumb\xff\xd8...\xff\xd9"
    with_com = data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]
    imaging._check_jpeg_complete(with_com)
    for cut in (4, 30, len(with_com) // 2, len(with_com) - 2, len(with_com) - 1):
        with pytest.raises(Rejected) as exc_info:
            imaging._check_jpeg_complete(with_com[:cut])
        assert exc_info.value.reason is Reason.CORRUPT_IMAGE


def test_jpeg_with_trailer_after_eoi_decodes():
    data = cv_bytes(gradient_rgb(96, 64), ".jpg") + b"SEFT phone trailer"
    img, _ = decode(data, **LIMITS)
    assert img.shape == (64, 96, 3)


def test_png_with_short_but_well_formed_idat_is_corrupt():
    # Valid chunk structure and CRCs, but the zlib stream holds only half the rows.
    data = cv_bytes(gradient_rgb(128, 128), ".png")
    chunks = png_chunks(data)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    short = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", chunks[0][1])
             + png_chunk(b"IDAT", zlib.compress(raw[:len(raw) // 2])) + png_chunk(b"IEND", b""))
    assert reject_reason(decode, short, **LIMITS) is Reason.CORRUPT_IMAGE


def test_bit_flipped_images_never_raise_anything_but_rejected():
    rng = np.random.default_rng(11)
    sources = [cv_bytes(gradient_rgb(64, 48), ext) for ext in (".jpg", ".png", ".webp", ".gif")]
    for source in sources:
        for _ in range(25):
            data = bytearray(source)
            for pos in rng.integers(0, len(data), size=4):
                data[pos] = int(rng.integers(0, 256))
            try:
                img, _ = decode(bytes(data), max_pixels=10**6, min_side=1, max_side=10**4)
            except Rejected:
                continue
            assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


# ---- colour normalisation ------------------------------------------------------------------

def test_rgb_jpeg_decodes_to_bgr():
    arr = np.zeros((48, 48, 3), np.uint8)
    arr[:] = (255, 0, 0)  # red in RGB
    img, info = decode(pil_bytes(Image.fromarray(arr), "JPEG", quality=95), **LIMITS)
    assert (img.shape, img.dtype, info.format, info.mode) == ((48, 48, 3), np.uint8, "jpeg", "RGB")
    assert_close(img[24, 24], RED_BGR)


def test_cmyk_jpeg_red_square_decodes_red():
    cmyk_red = Image.new("CMYK", (48, 48), (0, 255, 255, 0))
    img, info = decode(pil_bytes(cmyk_red, "JPEG", quality=95), **LIMITS)
    assert info.mode == "CMYK"
    assert img.shape == (48, 48, 3)
    assert_close(img[24, 24], RED_BGR, tol=10)


def test_16bit_colour_png_is_scaled_to_8bit():
    arr = np.zeros((40, 40, 3), np.uint16)
    arr[..., 0], arr[..., 1], arr[..., 2] = 0, 257 * 100, 65535  # B, G, R
    img, _ = decode(cv_bytes(arr, ".png"), **LIMITS)
    assert img.dtype == np.uint8
    assert tuple(img[5, 5]) == (0, 100, 255)


def test_16bit_grey_png():
    arr = np.full((40, 40), 257 * 200, np.uint16)
    img, info = decode(cv_bytes(arr, ".png"), **LIMITS)
    assert info.mode.startswith("I")
    assert img.shape == (40, 40, 3) and tuple(img[0, 0]) == (200, 200, 200)


def test_grey_becomes_three_equal_channels():
    arr = np.tile(np.arange(64, dtype=np.uint8) * 4, (40, 1))
    img, info = decode(cv_bytes(arr, ".png"), **LIMITS)
    assert info.mode == "L"
    assert img.shape == (40, 64, 3)
    assert np.array_equal(img[..., 0], arr) and np.array_equal(img[..., 2], arr)


def test_rgba_is_composited_over_white():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:, :20] = (255, 0, 0, 0)        # fully transparent red -> white
    rgba[:, 20:30] = (255, 0, 0, 255)    # opaque red
    rgba[:, 30:] = (0, 0, 0, 128)        # half-transparent black -> mid grey
    img, info = decode(pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG"), **LIMITS)
    assert info.mode == "RGBA"
    assert tuple(img[0, 0]) == (255, 255, 255)
    assert tuple(img[0, 25]) == RED_BGR
    assert tuple(img[0, 35]) == (127, 127, 127)


def test_grey_alpha_is_composited_over_white():
    grey = Image.new("L", (40, 40), 0)
    alpha = Image.new("L", (40, 40), 255)
    alpha.paste(0, (0, 0, 20, 40))
    data = pil_bytes(Image.merge("LA", (grey, alpha)), "PNG")
    img, info = decode(data, **LIMITS)
    assert info.mode == "LA"
    assert tuple(img[0, 0]) == (255, 255, 255) and tuple(img[0, 30]) == (0, 0, 0)


def test_palette_png_with_transparency():
    im = Image.new("P", (40, 40), 1)
    im.putpalette([0, 0, 0, 0, 128, 255] + [0] * 762)
    im.paste(0, (0, 0, 10, 40))
    img, info = decode(pil_bytes(im, "PNG", transparency=0), **LIMITS)
    assert info.mode == "P"
    assert tuple(img[0, 0]) == (255, 255, 255)    # transparent index -> white
    assert tuple(img[0, 20]) == (255, 128, 0)     # RGB (0,128,255) in BGR


def test_gif_bmp_webp_tiff_decode():
    rgb = gradient_rgb(64, 48)
    expected = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for fmt, kw in [("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True})]:
        img, info = decode(pil_bytes(Image.fromarray(rgb), fmt, **kw), **LIMITS)
        assert info.format == fmt.lower()
        assert np.array_equal(img, expected), fmt
    img, info = decode(pil_bytes(Image.new("RGB", (64, 48), (255, 0, 0)), "GIF"), **LIMITS)
    assert info.format == "gif" and tuple(img[10, 10]) == RED_BGR


def test_pillow_fallback_when_opencv_lacks_the_codec(monkeypatch):
    data = pil_bytes(Image.new("RGB", (64, 48), (255, 0, 0)), "GIF")
    monkeypatch.setattr(cv2, "imdecode", lambda *a: None)
    monkeypatch.setattr(imaging, "_opencv_reads", lambda fmt: False)
    img, _ = decode(data, **LIMITS)
    assert img.shape == (48, 64, 3) and tuple(img[0, 0]) == RED_BGR
    noisy = pil_bytes(Image.fromarray(np.random.default_rng(1).integers(
        0, 255, (192, 256, 3), dtype=np.uint8)).convert("P"), "GIF")
    assert reject_reason(decode, noisy[:len(noisy) // 2], **LIMITS) is Reason.CORRUPT_IMAGE


def test_opencv_failure_with_codec_present_is_corrupt_not_retried(monkeypatch):
    data = cv_bytes(gradient_rgb(), ".png")
    assert imaging._opencv_reads.__wrapped__("png")
    monkeypatch.setattr(cv2, "imdecode", lambda *a: None)
    monkeypatch.setattr(imaging, "_decode_with_pillow", lambda d: pytest.fail("retried"))
    monkeypatch.setattr(imaging, "_opencv_reads", lambda fmt: True)
    assert reject_reason(decode, data, **LIMITS) is Reason.CORRUPT_IMAGE


def test_unexpected_decoder_exception_becomes_corrupt(monkeypatch):
    def boom(*args):
        raise cv2.error("simulated codec failure")
    monkeypatch.setattr(cv2, "imdecode", boom)
    with pytest.raises(Rejected) as exc_info:
        decode(cv_bytes(gradient_rgb(), ".png"), **LIMITS)
    assert exc_info.value.reason is Reason.CORRUPT_IMAGE
    assert "simulated codec failure" in exc_info.value.detail


# ---- orientation ---------------------------------------------------------------------------

@pytest.mark.parametrize("orientation, shape, marker_corner", [
    (3, (40, 60), "bottom-right"),   # rotated 180
    (6, (60, 40), "top-right"),      # stored rotated 90 CCW: display turns it clockwise
    (8, (60, 40), "bottom-left"),    # stored rotated 90 CW: display turns it counter-clockwise
])
def test_exif_rotated_jpeg_is_turned_upright_once(orientation, shape, marker_corner):
    data = pil_bytes(marker_image(60, 40), "JPEG", quality=95,
                     exif=exif_with_orientation(orientation))
    img, info = decode(data, max_pixels=10**6, min_side=8, max_side=1000)
    assert img.shape[:2] == shape and (info.height, info.width) == shape
    h, w = shape
    corners = {"top-left": (2, 2), "top-right": (2, w - 3),
               "bottom-left": (h - 3, 2), "bottom-right": (h - 3, w - 3)}
    for name, (y, x) in corners.items():
        expected = RED_BGR if name == marker_corner else (255, 255, 255)
        assert_close(img[y, x], expected, tol=12)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(fmt, orientation):
    # Lossless formats: exact comparison with Pillow's reference implementation.  TIFF is
    # the case where OpenCV rotates by itself, so this pins "exactly once" for it too.
    src = marker_image(60, 40)
    kw = {"lossless": True} if fmt == "WEBP" else {}
    data = pil_bytes(src, fmt, exif=exif_with_orientation(orientation), **kw)
    img, info = decode(data, max_pixels=10**6, min_side=8, max_side=1000)
    with Image.open(io.BytesIO(data)) as im:
        reference = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert info.orientation == orientation
    assert np.array_equal(img, cv2.cvtColor(reference, cv2.COLOR_RGB2BGR))


def test_out_of_range_orientation_is_ignored():
    data = pil_bytes(marker_image(60, 40), "PNG", exif=exif_with_orientation(9))
    img, info = decode(data, max_pixels=10**6, min_side=8, max_side=1000)
    assert info.orientation == 1 and img.shape == (40, 60, 3)


# ---- encode_png ----------------------------------------------------------------------------

def test_encode_png_is_deterministic_and_lossless():
    img, _ = decode(cv_bytes(gradient_rgb(), ".jpg"), **LIMITS)
    first, second = encode_png(img), encode_png(img.copy())
    assert first == second
    assert first.startswith(b"\x89PNG")
    back, info = decode(first, **LIMITS)
    assert info.format == "png" and np.array_equal(back, img)


@pytest.mark.parametrize("bad", [
    np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 5), np.uint8),
    np.zeros((0, 4, 3), np.uint8), [[0, 1]],
])
def test_encode_png_refuses_non_images(bad):
    with pytest.raises(ValueError):
        encode_png(bad)


# ---- odd but legitimate inputs -------------------------------------------------------------

def test_16bit_rgba_png_is_scaled_then_composited():
    arr = np.zeros((40, 40, 4), np.uint16)
    arr[:, :20] = (0, 0, 65535, 65535)     # opaque red (BGRA)
    arr[:, 20:] = (0, 0, 65535, 0)         # transparent
    img, _ = decode(cv_bytes(arr, ".png"), **LIMITS)
    assert tuple(img[0, 0]) == RED_BGR and tuple(img[0, 30]) == (255, 255, 255)


def test_mpo_from_a_phone_decodes_its_first_picture_as_jpeg():
    first = Image.new("RGB", (64, 48), (255, 0, 0))
    second = Image.new("RGB", (64, 48), (0, 0, 255))
    data = pil_bytes(first, "MPO", save_all=True, append_images=[second])
    img, info = decode(data, **LIMITS)
    assert info.format == "jpeg"
    assert_close(img[10, 10], RED_BGR)


def test_animated_gif_decodes_its_first_frame():
    frames = [Image.new("RGB", (64, 48), c) for c in ((255, 0, 0), (0, 255, 0))]
    data = pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    img, info = decode(data, **LIMITS)
    assert info.format == "gif" and tuple(img[0, 0]) == RED_BGR


def test_bytearray_and_memoryview_inputs():
    data = cv_bytes(gradient_rgb(), ".jpg")
    for view in (bytearray(data), memoryview(data)):
        img, info = decode(view, **LIMITS)
        assert img.shape == (64, 96, 3) and info.sha256 == hashlib.sha256(data).hexdigest()


def test_non_bytes_input_is_refused():
    assert reject_reason(probe, "not bytes", max_pixels=10**6) is Reason.NOT_AN_IMAGE


def test_alpha_blend_matches_exact_arithmetic():
    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, (32, 256, 4), dtype=np.uint8)
    img, _ = decode(cv_bytes(rgba, ".png"), max_pixels=10**6, min_side=1, max_side=1000)
    c, a = rgba[..., :3].astype(float), rgba[..., 3:].astype(float) / 255
    expected = c * a + 255 * (1 - a)
    assert np.abs(img.astype(float) - expected).max() <= 0.5 + 1e-9
