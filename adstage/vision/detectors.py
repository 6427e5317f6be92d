"""Pretrained object detectors on onnxruntime, decoded in numpy (no torch, no TensorFlow).

The Open Images v4 SSD-MobileNetV2 that MediaPipe's Objectron ships
(``adstage-detector-oid-ssd`` in :mod:`adstage.model_catalog`; built by
``tools/build_models.py``) outputs raw tensors only: per anchor, four box encodings and one
logit per class. Everything after the network is here, after MediaPipe's own calculators
(``SsdAnchorsCalculator`` and ``TfLiteTensorsToDetectionsCalculator`` with the options of
``mediapipe/modules/objectron/object_detection_oid_v4_cpu.pbtxt``):

* :func:`ssd_input`: the whole photo squashed to 300 x 300 (the graph's STRETCH mode), RGB,
  ``x / 127.5 - 1``, NHWC;
* :func:`ssd_anchors`: 1 917 anchors on six feature maps (strides 16 to 512: 19², 10², 5², 3²,
  2², 1²), three anchors a cell in the lowest layer and six elsewhere;
* :func:`decode_boxes`: centre offsets / 10, log sizes / 5 on the anchors;
* :func:`decode_ssd`: sigmoid scores, a score threshold per class, class-aware NMS
  (:func:`nms`), boxes in photo pixels as :class:`Detection`.

MediaPipe keeps only the best class per anchor and one box per frame; here every class above
its threshold is a candidate (as in the TF Object Detection API's multi-class NMS), so a box
can be both "Chair" and "Table" when the network cannot decide.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import cv2
import numpy as np

SSD_SIZE = 300
BACKGROUND = "???"       # the label map's line 0: the SSD's background class


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]   # x0, y0, x1, y1 photo pixels (half-open, float)
    score: float
    label: str                               # the detector's own class name
    detector: str                            # registered model name


# --- input --------------------------------------------------------------------------------
def ssd_input(bgr: np.ndarray, size: int = SSD_SIZE) -> np.ndarray:
    """One BGR uint8 photo of any size -> (1, size, size, 3) float32 RGB in [-1, 1].

    The whole photo is resized (aspect ratio not kept), as MediaPipe's graph feeds it; bilinear,
    the interpolation of its ImageTransformationCalculator.
    """
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR image, got shape {bgr.shape}")
    small = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    return (rgb.astype(np.float32) / 127.5 - 1.0)[None]


# --- anchors ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SsdAnchorOptions:
    """MediaPipe's ``SsdAnchorsCalculatorOptions`` (the fields this model uses)."""

    input_size: tuple[int, int] = (SSD_SIZE, SSD_SIZE)          # (height, width)
    min_scale: float = 0.2
    max_scale: float = 0.95
    anchor_offset: tuple[float, float] = (0.5, 0.5)              # (x, y), in cells
    strides: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    reduce_boxes_in_lowest_layer: bool = True
    interpolated_scale_aspect_ratio: float = 1.0                 # the proto's default
    fixed_anchor_size: bool = False

    @property
    def num_layers(self) -> int:
        return len(self.strides)


OID_SSD_ANCHORS = SsdAnchorOptions()


def _scale(opts: SsdAnchorOptions, i: int) -> float:
    n = len(opts.strides)
    if n == 1:
        return (opts.min_scale + opts.max_scale) * 0.5
    return opts.min_scale + (opts.max_scale - opts.min_scale) * i / (n - 1.0)


def ssd_anchors(opts: SsdAnchorOptions = OID_SSD_ANCHORS) -> np.ndarray:
    """(N, 4) float32 anchors ``[x_center, y_center, w, h]``, normalised to the input (0..1).

    The order is the network's: layer by layer, row-major cells, the anchors of a cell in turn.
    Layers with the same stride share cells (their anchors are merged), as in MediaPipe.
    """
    out: list[np.ndarray] = []
    n = len(opts.strides)
    layer = 0
    while layer < n:
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        while last < n and opts.strides[last] == opts.strides[layer]:
            scale = _scale(opts, last)
            if last == 0 and opts.reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                for ar in opts.aspect_ratios:
                    ratios.append(ar)
                    scales.append(scale)
                if opts.interpolated_scale_aspect_ratio > 0.0:
                    nxt = 1.0 if last == n - 1 else _scale(opts, last + 1)
                    scales.append(math.sqrt(scale * nxt))
                    ratios.append(opts.interpolated_scale_aspect_ratio)
            last += 1
        r = np.sqrt(np.asarray(ratios, np.float64))
        s = np.asarray(scales, np.float64)
        h, w = s / r, s * r
        if opts.fixed_anchor_size:
            h, w = np.ones_like(h), np.ones_like(w)
        stride = opts.strides[layer]
        fh = math.ceil(opts.input_size[0] / stride)
        fw = math.ceil(opts.input_size[1] / stride)
        ys, xs = np.meshgrid((np.arange(fh) + opts.anchor_offset[1]) / fh,
                             (np.arange(fw) + opts.anchor_offset[0]) / fw, indexing="ij")
        k = len(ratios)
        grid = np.empty((fh, fw, k, 4), np.float64)
        grid[..., 0] = xs[..., None]
        grid[..., 1] = ys[..., None]
        grid[..., 2] = w
        grid[..., 3] = h
        out.append(grid.reshape(-1, 4))
        layer = last
    return np.concatenate(out).astype(np.float32)


# --- decoding -----------------------------------------------------------------------------
@dataclass(frozen=True)
class BoxCoder:
    """MediaPipe's ``TfLiteTensorsToDetectionsCalculatorOptions`` scales for this model."""

    y_scale: float = 10.0
    x_scale: float = 10.0
    h_scale: float = 5.0
    w_scale: float = 5.0


OID_SSD_CODER = BoxCoder()
_ANCHORS_CACHE: dict[SsdAnchorOptions, np.ndarray] = {}


def _anchors(opts: SsdAnchorOptions) -> np.ndarray:
    a = _ANCHORS_CACHE.get(opts)
    if a is None:
        a = _ANCHORS_CACHE[opts] = ssd_anchors(opts)
    return a


def decode_boxes(raw: np.ndarray, anchors: np.ndarray,
                 coder: BoxCoder = OID_SSD_CODER) -> np.ndarray:
    """Raw box encodings ``(N, 4)`` or ``(1, N, 4)``, ``[ty, tx, th, tw]`` -> ``(N, 4)``
    float32 ``[x0, y0, x1, y1]`` normalised to the input (not clipped)."""
    raw = np.asarray(raw, np.float32).reshape(-1, 4)
    if raw.shape[0] != anchors.shape[0]:
        raise ValueError(f"{raw.shape[0]} box encodings for {anchors.shape[0]} anchors")
    ax, ay, aw, ah = anchors.T
    xc = raw[:, 1] / coder.x_scale * aw + ax
    yc = raw[:, 0] / coder.y_scale * ah + ay
    h = np.exp(raw[:, 2] / coder.h_scale) * ah
    w = np.exp(raw[:, 3] / coder.w_scale) * aw
    return np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return (1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))).astype(np.float32)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (M, 4) with every box in ``b`` (K, 4), ``[x0, y0, x1, y1]``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])      # (M, K, 2): x0, y0 of the overlap
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])      # x1, y1
    iw, ih = np.clip(hi - lo, 0, None).transpose(2, 0, 1)
    inter = iw * ih
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5,
        classes: np.ndarray | None = None, max_keep: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression; the indices kept, best score first.

    A box is dropped when its IoU with a kept, higher-scoring box *of the same class* exceeds
    ``iou_threshold`` (``classes=None``: all boxes are one class). Ties keep the lower index.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if boxes.shape[0] != scores.shape[0]:
        raise ValueError(f"{boxes.shape[0]} boxes but {scores.shape[0]} scores")
    cls = (np.zeros(len(scores), np.int64) if classes is None
           else np.asarray(classes).reshape(-1))
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(scores), bool)
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(int(i))
        if max_keep is not None and len(keep) >= max_keep:
            break
        rest = order[pos + 1:]
        rest = rest[~suppressed[rest] & (cls[rest] == cls[i])]
        if rest.size:
            over = iou_matrix(boxes[i:i + 1], boxes[rest])[0] > iou_threshold
            suppressed[rest[over]] = True
    return np.asarray(keep, np.int64)


def _thresholds(labels: Sequence[str], min_score: float | Mapping[str, float]) -> np.ndarray:
    if isinstance(min_score, Mapping):
        unknown = set(min_score) - set(labels)
        if unknown:
            raise ValueError(f"thresholds for labels the detector lacks: {sorted(unknown)}")
        # Labels not named are off (threshold above any sigmoid).
        return np.asarray([float(min_score.get(lb, 2.0)) for lb in labels], np.float32)
    return np.full(len(labels), float(min_score), np.float32)


def decode_ssd(outputs: Sequence[np.ndarray], photo_hw: tuple[int, int], *,
               labels: Sequence[str], detector: str,
               min_score: float | Mapping[str, float] = 0.3, iou_threshold: float = 0.5,
               max_detections: int = 100, ignore: Sequence[str] = (BACKGROUND,),
               anchors: SsdAnchorOptions = OID_SSD_ANCHORS,
               coder: BoxCoder = OID_SSD_CODER) -> list[Detection]:
    """The SSD's raw outputs -> detections in photo pixels, best score first.

    :param outputs: ``[box_encodings (1, N, 4), class_predictions (1, N, C)]`` (logits).
    :param photo_hw: the photo's (height, width): boxes are scaled to it and clipped.
    :param labels: the C class names, column by column (column 0 is the background "???").
    :param min_score: one threshold for every class, or ``{label: threshold}`` (labels not
        named are not reported).
    :param iou_threshold: class-aware NMS overlap above which the lower score is dropped.
    :param ignore: labels never reported (the background).
    """
    box_enc, logits = outputs[0], outputs[1]
    logits = np.asarray(logits, np.float32)
    logits = logits.reshape(-1, logits.shape[-1])
    if logits.shape[1] != len(labels):
        raise ValueError(f"{logits.shape[1]} class columns but {len(labels)} labels")
    boxes = decode_boxes(box_enc, _anchors(anchors), coder)
    thr = _thresholds(labels, min_score)
    for name in ignore:
        if name in labels:
            thr[list(labels).index(name)] = np.inf
    probs = sigmoid(logits)                       # (N, C): 1917 x 24 is cheap
    rows, cols = np.nonzero(probs >= thr[None, :])
    if rows.size == 0:
        return []
    scores = probs[rows, cols]
    h, w = photo_hw
    px = boxes[rows] * np.asarray([w, h, w, h], np.float32)
    px = np.clip(px, 0.0, np.asarray([w, h, w, h], np.float32))
    ok = (px[:, 2] > px[:, 0]) & (px[:, 3] > px[:, 1])
    px, cols, scores = px[ok], cols[ok], scores[ok]
    keep = nms(px, scores, iou_threshold, classes=cols, max_keep=max_detections)
    return [Detection(tuple(float(v) for v in px[i]), float(scores[i]), labels[cols[i]],
                      detector) for i in keep]


# --- COCO CenterNet (human-models' MobileNetV3 CenterNet, TF.js -> ONNX) -------------------
CENTERNET_SIZE = 512


def centernet_input(bgr: np.ndarray, size: int = CENTERNET_SIZE) -> np.ndarray:
    """One BGR uint8 photo -> (1, size, size, 3) float32 RGB 0..255, the whole photo squashed
    (bilinear), as the ``human`` library feeds it."""
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR image, got shape {bgr.shape}")
    small = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)[None]


def decode_centernet(outputs: Sequence[np.ndarray], photo_hw: tuple[int, int], *,
                     labels: Sequence[str], detector: str,
                     min_score: float | Mapping[str, float] = 0.3, iou_threshold: float = 0.5,
                     max_detections: int = 100, size: int = CENTERNET_SIZE) -> list[Detection]:
    """CenterNet's ``(1, 100, 6)`` rows ``[x1, y1, x2, y2, score, class]`` (input pixels, class
    a 0-based index into the 80 COCO labels; top-100 heat-map peaks, no NMS) -> detections in
    photo pixels after class-aware NMS, best score first."""
    rows = np.asarray(outputs[0], np.float32).reshape(-1, 6)
    cls = rows[:, 5].round().astype(np.int64)
    ok = (cls >= 0) & (cls < len(labels))
    rows, cls = rows[ok], cls[ok]
    thr = _thresholds(labels, min_score)
    keep = rows[:, 4] >= thr[cls]
    rows, cls = rows[keep], cls[keep]
    if not len(rows):
        return []
    h, w = photo_hw
    scale = np.asarray([w, h, w, h], np.float32) / float(size)
    px = np.clip(rows[:, :4] * scale, 0.0, np.asarray([w, h, w, h], np.float32))
    ok = (px[:, 2] > px[:, 0]) & (px[:, 3] > px[:, 1])
    px, cls, scores = px[ok], cls[ok], rows[ok, 4]
    kept = nms(px, scores, iou_threshold, classes=cls, max_keep=max_detections)
    return [Detection(tuple(float(v) for v in px[i]), float(scores[i]), labels[cls[i]],
                      detector) for i in kept]


# --- session wrapper ----------------------------------------------------------------------
def dotted(path: str) -> Callable:
    """The function a catalog entry names (``package.module.function``)."""
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


class Detector:
    """An onnxruntime session of a catalogued detector plus its spec's input and decoding.

    ``Detector(model_bytes, spec)``: the bytes as :func:`adstage.model_catalog.resolve` or
    the shipped file give them; ``Detector.shipped(name)`` reads ``models/<folder>/<file>``.
    The spec's ``preprocess`` is called as ``f(bgr) -> input tensor`` and its ``decode`` as
    ``f(outputs, photo_hw, *, labels, detector, min_score, iou_threshold, max_detections)
    -> list[Detection]`` (:func:`decode_ssd`'s signature), so another detector needs only a
    catalog entry and those two functions.
    """

    def __init__(self, model: bytes, spec, device: str = "cpu", threads: int = 1,
                 options=None):
        from adstage.onnx_runtime import session_from_bytes

        if spec.role != "detector":
            raise ValueError(f"{spec.name} is a {spec.role}, not a detector")
        self.spec = spec
        self.session = session_from_bytes(model, device, threads, options=options)
        self._input = self.session.get_inputs()[0].name
        self._preprocess = dotted(spec.preprocess)
        self._decode = dotted(spec.decode)

    @classmethod
    def shipped(cls, name: str = "adstage-detector-oid-ssd", **kw) -> "Detector":
        from adstage import model_catalog
        from adstage.registry import MODELS_DIR

        spec = model_catalog.get(name)
        return cls((MODELS_DIR / spec.folder / spec.file).read_bytes(), spec, **kw)

    def raw(self, bgr: np.ndarray) -> list[np.ndarray]:
        """The network's outputs for one BGR photo (before decoding)."""
        return self.session.run(None, {self._input: self._preprocess(bgr)})

    def detect(self, bgr: np.ndarray, min_score: float | Mapping[str, float] = 0.3,
               iou_threshold: float = 0.5, max_detections: int = 100) -> list[Detection]:
        """Detections in ``bgr``'s pixels, best score first (the background never reported)."""
        return self._decode(self.raw(bgr), bgr.shape[:2], labels=self.spec.classes,
                            detector=self.spec.name, min_score=min_score,
                            iou_threshold=iou_threshold, max_detections=max_detections)
