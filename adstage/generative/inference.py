"""onnxruntime runners for the nightly staging job: numpy in / numpy out, no torch.

``EdgeConnectInpainter`` fills copy-paste holes with the exported EdgeConnect pair;
``Pix2PixStager`` renders a vanilla-staging scene from a product on white.  Both take
onnxruntime sessions (from :mod:`adstage.generative.registry` or :func:`session`).

On CUDA sessions ``EdgeConnectInpainter`` uses I/O binding: the inputs are copied to the GPU
once, the edge model's output stays there as the inpainting model's input (the hole too is
uploaded once for both), and only the result comes back.  Same interface and results (up to
float rounding) as on the CPU; an fp16 session (``onnx_runtime.session_from_bytes(fp16=True)``)
keeps fp32 inputs and outputs, so it goes through the same code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from adstage.generative import edges as edges_mod
from adstage.onnx_runtime import CUDA, is_cuda, providers

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
    :param batch: images per network call in ``__call__``.
    :param io_binding: bind inputs and outputs on the sessions' device and hand the edge
        output to the inpainting model there; default (None) on CUDA only, where it saves the
        copies (on the CPU it saves nothing; True there runs the same code, as the tests do).
        False: plain ``run`` with numpy in and out (compared in ``bench/gpu_inference.py``).
    """

    def __init__(self, edge_session, inpaint_session, sigma: float = edges_mod.DEFAULT_SIGMA,
                 multiple: int = 4, batch: int = 8, io_binding: bool | None = None):
        self.edge, self.inpaint = edge_session, inpaint_session
        self.sigma, self.multiple, self.batch = sigma, multiple, batch
        # Both sessions on one GPU, or none: the edge output is handed over on that device.
        cuda = _cuda_device(inpaint_session) if is_cuda(edge_session) else None
        bind = cuda is not None if io_binding is None else io_binding
        self.bind_device = (("cuda", cuda) if cuda is not None else ("cpu", 0)) if bind else None

    def __call__(self, images: Sequence[np.ndarray], holes: Sequence[np.ndarray],
                 batch: int | None = None) -> list[np.ndarray]:
        """Fill ``holes`` (uint8 HxW, non-zero = hole) in RGB uint8 ``images``; same sizes out.

        Images of one size run together, ``batch`` (default: the constructor's) at a time (the
        staging job's gap crops are all one size); sizes are edge-padded to the networks'
        multiple.
        """
        batch = batch or self.batch
        out: list[np.ndarray | None] = [None] * len(images)
        by_shape: dict[tuple, list[int]] = {}
        for i, img in enumerate(images):
            by_shape.setdefault(np.asarray(img).shape[:2], []).append(i)
        for idx in by_shape.values():
            for s in range(0, len(idx), batch):
                part = idx[s:s + batch]
                for i, filled in zip(part, self.fill_batch([images[i] for i in part],
                                                           [holes[i] for i in part])):
                    out[i] = filled
        return out  # type: ignore[return-value]

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return self.fill_batch([image], [hole])[0]

    def fill_batch(self, images: Sequence[np.ndarray], holes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One network call for equally sized images."""
        padded, masks = [], []
        for image, hole in zip(images, holes):
            p, (h, w) = _pad_to(np.asarray(image)[..., :3], self.multiple)
            m, _ = _pad_to((np.asarray(hole) > 0).astype(np.uint8), self.multiple)
            padded.append(p)
            masks.append(m)
        grey = np.stack([edges_mod.to_grey(p) for p in padded]).astype(np.float32)[:, None] / 255.0
        edge = np.stack([edges_mod.canny(p, self.sigma, hole=m) for p, m in zip(padded, masks)])[:, None]
        m = np.stack(masks).astype(np.float32)[:, None]
        rgb = np.stack(padded).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        if self.bind_device is None:
            merged = self.edge.run(None, {"grey": grey, "edges": edge.astype(np.float32),
                                          "hole": m})[0]
            res = self.inpaint.run(None, {"image": rgb, "edges": merged.astype(np.float32),
                                          "hole": m})[0]
        else:
            res = self._run_bound(grey, edge.astype(np.float32), m, rgb)
        res = (res.transpose(0, 2, 3, 1) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
        out = []
        for r, image, hole in zip(res, images, holes):
            image = np.asarray(image)[..., :3]
            r = r[:image.shape[0], :image.shape[1]].copy()
            # Known pixels are returned bit-exact (the graph composites in float).
            keep = np.asarray(hole) == 0
            r[keep] = image[keep]
            out.append(r)
        return out

    def _run_bound(self, grey: np.ndarray, edges: np.ndarray, hole: np.ndarray,
                   rgb: np.ndarray) -> np.ndarray:
        """Both networks with I/O binding on ``bind_device``; returns the inpainted NCHW
        float32 on the CPU."""
        from onnxruntime import OrtValue

        dev = self.bind_device
        on_gpu = {k: OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v), *dev)
                  for k, v in (("grey", grey), ("edges", edges), ("hole", hole), ("image", rgb))}
        g1 = self.edge.io_binding()
        for name in ("grey", "edges", "hole"):
            g1.bind_ortvalue_input(name, on_gpu[name])
        g1.bind_output(self.edge.get_outputs()[0].name, *dev)
        self.edge.run_with_iobinding(g1)
        g2 = self.inpaint.io_binding()
        g2.bind_ortvalue_input("image", on_gpu["image"])
        g2.bind_ortvalue_input("edges", g1.get_outputs()[0])
        g2.bind_ortvalue_input("hole", on_gpu["hole"])
        g2.bind_output(self.inpaint.get_outputs()[0].name, *dev)
        self.inpaint.run_with_iobinding(g2)
        return g2.copy_outputs_to_cpu()[0]


def _cuda_device(sess) -> int | None:
    """The CUDA device id ``sess`` runs on; None on the CPU."""
    if not is_cuda(sess):
        return None
    return int(sess.get_provider_options().get(CUDA, {}).get("device_id", 0))


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
