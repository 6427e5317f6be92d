"""onnxruntime runners for the nightly staging job: numpy in / numpy out, no torch.

``EdgeConnectInpainter`` fills copy-paste holes with the exported EdgeConnect pair;
``Pix2PixStager`` renders a vanilla-staging scene from a product on white.  Both take
onnxruntime sessions (from :mod:`adstage.generative.registry` or :func:`session`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from adstage.generative import edges as edges_mod
from adstage.onnx_runtime import providers

def session(path: str | Path, device: str = "cpu", threads: int = 0):
    """An ``onnxruntime.InferenceSession`` for a local ``.onnx`` file."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers(device))


def _pad_to(a: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    h, w = a.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        a = np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    return a, (h, w)


class EdgeConnectInpainter:
    """Copy-paste gap filling: Canny (``edges.canny``) -> G1 edges -> G2 image.

    :param edge_session: session of the exported edge model (inputs grey, edges, hole).
    :param inpaint_session: session of the exported inpaint model (image, edges, hole).
    :param sigma: Canny sigma the model was trained with (see its model card).
    :param multiple: spatial multiple the networks need (4).
    """

    def __init__(self, edge_session, inpaint_session, sigma: float = edges_mod.DEFAULT_SIGMA, multiple: int = 4):
        self.edge, self.inpaint = edge_session, inpaint_session
        self.sigma, self.multiple = sigma, multiple

    def __call__(self, images: Sequence[np.ndarray], holes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Fill ``holes`` (uint8 HxW, non-zero = hole) in RGB uint8 ``images``; same sizes out.

        Images of one call may differ in size; each is run on its own (batch of 1) after
        edge-padding to the size multiple.
        """
        return [self.fill(img, hole) for img, hole in zip(images, holes)]

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        padded, (h, w) = _pad_to(np.asarray(image)[..., :3], self.multiple)
        mask, _ = _pad_to((np.asarray(hole) > 0).astype(np.uint8), self.multiple)
        grey = edges_mod.to_grey(padded).astype(np.float32)[None, None] / 255.0
        edge = edges_mod.canny(padded, self.sigma, hole=mask)[None, None]
        m = mask.astype(np.float32)[None, None]
        merged = self.edge.run(None, {"grey": grey, "edges": edge, "hole": m})[0]
        rgb = padded.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
        out = self.inpaint.run(None, {"image": rgb, "edges": merged.astype(np.float32), "hole": m})[0]
        out = (out[0].transpose(1, 2, 0) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)[:h, :w]
        # Known pixels are returned bit-exact (the graph composites in float).
        keep = np.asarray(hole)[:h, :w] == 0
        out[keep] = np.asarray(image)[..., :3][keep]
        return out


class Pix2PixStager:
    """Vanilla staging: product on white -> generated scene at the model's resolution.

    :param pix2pix_session: session of the exported pix2pix model (input ``product``).
    :param size: square resolution the model was trained at (model card ``resolution``).
    """

    def __init__(self, pix2pix_session, size: int):
        self.session, self.size = pix2pix_session, size

    def __call__(self, products: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 images (any size; resized to ``size²``) -> ``N x size x size x 3`` uint8."""
        import cv2

        batch = np.stack([cv2.resize(np.asarray(p)[..., :3], (self.size, self.size), interpolation=cv2.INTER_AREA)
                          for p in products]).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        out = self.session.run(None, {"product": batch})[0]
        return (out.transpose(0, 2, 3, 1) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
