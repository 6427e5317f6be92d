"""Content-addressed image store under the warehouse (a local path or an object-store URI).

Objects are named by the sha256 of their source bytes and hold the normalised PNG, so a re-run
writes nothing new and two products sharing one photo share one object.
"""
from __future__ import annotations

import hashlib
import uuid

import numpy as np
import pyarrow.fs as pafs


def object_sha256(uri: str) -> str:
    """The sha256 an object's URI is named by (the inverse of ``ImageStore.uri_for``)."""
    return uri.rsplit("/", 1)[-1].split(".", 1)[0]


class ImageStore:
    def __init__(self, root_uri: str):
        self.root_uri = root_uri.rstrip("/")
        self._fs, self._root = pafs.FileSystem.from_uri(self.root_uri) if "://" in self.root_uri \
            else (pafs.LocalFileSystem(), self.root_uri)

    def uri_for(self, sha256: str, ext: str = "png") -> str:
        return f"{self.root_uri}/{sha256[:2]}/{sha256}.{ext}"

    def _path(self, uri: str) -> str:
        if not uri.startswith(self.root_uri + "/"):
            raise ValueError(f"{uri} is not in the image store {self.root_uri}")
        return self._root + uri[len(self.root_uri):]

    def exists(self, uri: str) -> bool:
        return self._fs.get_file_info(self._path(uri)).type == pafs.FileType.File

    def put(self, sha256: str, data: bytes, ext: str = "png") -> str:
        """Write once; a temporary name then a rename, so readers never see half a file."""
        uri = self.uri_for(sha256, ext)
        if self.exists(uri):
            return uri
        path = self._path(uri)
        self._fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with self._fs.open_output_stream(tmp) as out:
            out.write(data)
        self._fs.move(tmp, path)
        return uri

    def get(self, uri: str) -> bytes:
        with self._fs.open_input_stream(self._path(uri)) as f:
            return f.read()

    def put_bytes(self, data: bytes, ext: str) -> str:
        """Store bytes under their own sha256 (outputs: a re-run that renders the same pixels
        writes nothing new)."""
        return self.put(hashlib.sha256(data).hexdigest(), data, ext)

    def put_image(self, image: np.ndarray, fmt: str = "png", quality: int = 90) -> str:
        """Encode a BGR or single-channel uint8 array as PNG (lossless), or as JPEG of
        ``quality`` (``fmt="jpg"``: pictures without alpha that nobody measures pixel by
        pixel, e.g. ad crops), and store it."""
        import cv2

        if fmt not in ("png", "jpg"):
            raise ValueError(f"images are stored as png or jpg, not {fmt!r}")
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpg" else []
        ok, buf = cv2.imencode(f".{fmt}", image, params)
        if not ok:
            raise ValueError(f"cannot encode a {image.dtype} {image.shape} array as {fmt}")
        return self.put_bytes(buf.tobytes(), fmt)

    def get_image(self, uri: str, grey: bool = False) -> np.ndarray:
        """Decode a stored PNG: BGR uint8, or one channel when ``grey`` (masks)."""
        import cv2

        flags = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
        img = cv2.imdecode(np.frombuffer(self.get(uri), np.uint8), flags)
        if img is None:
            raise ValueError(f"{uri} is not a decodable image")
        return img

    def get_image_and_mask(self, image_uri: str, mask_uri: str) -> tuple[np.ndarray, np.ndarray]:
        """An image and its one-channel mask, refused unless they are the same size."""
        image, mask = self.get_image(image_uri), self.get_image(mask_uri, grey=True)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
        return image, mask
