"""int8 generators: static quantization of the exported ONNX graphs, and the quality gate that
decides whether the int8 model may stand in for its fp32 original.

numpy + onnxruntime only (no MLflow, no Spark): bytes in, bytes out; outputs in, verdict out.
The registry side (register, tag, move the ``int8`` alias) is :mod:`adstage.generative.quantize_job`.

* **Quantization** (:func:`quantize_bytes`): ``onnxruntime.quantization.quantize_static`` with
  MinMax calibration on feeds recorded from the real runners (:class:`Recorder`), weights int8
  per output channel, convolutions only (:data:`DEFAULT_OPS`). QDQ is the default format: on this project's CPUs (AVX2, no VNNI) the QDQ
  graph ran faster than the QOperator one (``QLinearConv``), measured side by side in
  ``bench/edgeconnect_inference.py`` (docs/benchmarks.md). Which operators run on integer
  kernels is reported by :func:`quantized_ops`: the convolutions; InstanceNormalization, the
  reflection pads, the residual adds and ConvTranspose stay fp32.
* **Quality gate** (:func:`gate`): on a fixed evaluation set the int8 outputs' Fréchet distance
  (to the ground truth, named extractor) and L1 inside the holes (to the ground truth) must stay
  within ``tolerance`` (relative, either direction) of the fp32 outputs' own figures. The verdict carries every figure and a one-line reason.
"""
from __future__ import annotations

import collections
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

FORMATS = ("qdq", "qoperator")
DEFAULT_FORMAT = "qdq"
# Only convolutions are quantized. Measured on the shipped EdgeConnect pair (31 demo gap crops,
# docs/benchmarks.md): every quantizable op (the default of quantize_static: also Add, Mul,
# ConvTranspose, InstanceNormalization inputs) moved the output's FD by +2.8%, Conv +
# ConvTranspose by +2.3%, Conv alone by -0.3% (L1 -0.2%). The decoder's transposed
# convolutions have no int8 CPU kernel anyway: quantizing around them only adds rounding.
DEFAULT_OPS = ("Conv",)
# Relative change of each gated figure (int8 vs fp32) that still passes.
DEFAULT_TOLERANCE = 0.02
GATED = ("fd", "l1")

Feeds = Mapping[str, np.ndarray]


class Recorder:
    """An onnxruntime session stand-in that keeps a copy of every feed it is run with.

    Wrapping the fp32 sessions of the nightly runners (``EdgeConnectInpainter``,
    ``Pix2PixStager``) records calibration inputs exactly as production builds them (Canny,
    padding, masking, the edge model's output as the inpainting model's input) without a
    second copy of that preprocessing here.
    """

    def __init__(self, session):
        self.session = session
        self.feeds: list[dict[str, np.ndarray]] = []

    def run(self, output_names, feeds: Feeds, *args, **kwargs):
        self.feeds.append({k: np.array(v, copy=True) for k, v in feeds.items()})
        return self.session.run(output_names, feeds, *args, **kwargs)

    def __getattr__(self, name):  # get_inputs, get_providers, ... of the wrapped session
        return getattr(self.session, name)


class _Reader(CalibrationDataReader):
    """``CalibrationDataReader`` over a list of feed dicts (one calibration call each)."""

    def __init__(self, feeds: Sequence[Feeds]):
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)


def quantize_bytes(model: bytes, calibration: Sequence[Feeds], fmt: str = DEFAULT_FORMAT,
                   per_channel: bool = True, ops: Sequence[str] = DEFAULT_OPS) -> bytes:
    """Statically quantized copy of an fp32 ONNX model (int8 weights, 8-bit activations).

    :param model: the fp32 ONNX file's bytes.
    :param calibration: feed dicts for the model's inputs (a :class:`Recorder`'s ``feeds``);
        activation ranges are their min/max.
    :param fmt: ``qdq`` (QuantizeLinear/DequantizeLinear around fp32 ops, fused by
        onnxruntime) or ``qoperator`` (``QLinearConv`` and friends).
    :param per_channel: one weight scale per output channel (much smaller error on these
        small generators, whose channels differ in range by orders of magnitude).
    :param ops: operator types to quantize (:data:`DEFAULT_OPS`); the rest stays fp32.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    if fmt not in FORMATS:
        raise ValueError(f"quantization format must be one of {FORMATS}, got {fmt!r}")
    if not calibration:
        raise ValueError("static quantization needs at least one calibration feed")
    # One sample per calibration call: the histogram calibrators stack every call's tensors
    # and need equal shapes (a runner's last batch is smaller).
    reader = _Reader([{k: v[i:i + 1] for k, v in feeds.items()}
                      for feeds in calibration for i in range(len(next(iter(feeds.values()))))])
    # quantize_static works on paths and writes its temporary augmented model next to them:
    # keep all of it in a private folder, never in the working directory.
    with tempfile.TemporaryDirectory(prefix="adstage-quant-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(model)
        quantize_static(str(src), str(dst), reader,
                        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                        op_types_to_quantize=list(ops), per_channel=per_channel,
                        # onnxruntime's advice for x86-64: S8S8 in QDQ, U8S8 in QOperator
                        # (its S8S8 QLinearConv is a slow path there: 2.2x slower, measured).
                        activation_type=QuantType.QInt8 if fmt == "qdq" else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibration_providers=["CPUExecutionProvider"])
        return dst.read_bytes()


def quantized_ops(model: bytes) -> dict[str, dict[str, int]]:
    """Compute operators by precision: ``{"int8": {op: n}, "fp32": {op: n}}``.

    QOperator graphs name their integer ops (``QLinearConv``, ...). In a QDQ graph an op is
    int8 when it is a whole node unit that onnxruntime fuses into an integer kernel: an input
    comes from ``DequantizeLinear`` and every output goes only into ``QuantizeLinear``. An op
    between the pairs that is not such a unit (ConvTranspose, InstanceNormalization, ...) runs
    in fp32.
    """
    import onnx

    plumbing = {"Constant", "Reshape", "Shape", "Slice", "Concat", "Cast", "Transpose",
                "ConstantOfShape", "Pad", "Gather", "Unsqueeze", "Squeeze", "QuantizeLinear",
                "DequantizeLinear", "DynamicQuantizeLinear"}
    graph = onnx.load_from_string(model).graph
    from_dq = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    consumers: dict[str, list[str]] = collections.defaultdict(list)
    for n in graph.node:
        for i in n.input:
            consumers[i].append(n.op_type)
    graph_outputs = {o.name for o in graph.output}
    out: dict[str, collections.Counter] = {"int8": collections.Counter(),
                                           "fp32": collections.Counter()}
    for n in graph.node:
        quantized_out = all(o not in graph_outputs and consumers[o] and
                            set(consumers[o]) == {"QuantizeLinear"} for o in n.output)
        if n.op_type.startswith(("QLinear", "ConvInteger", "MatMulInteger")):
            out["int8"][n.op_type] += 1
        elif n.op_type in plumbing:
            continue
        elif quantized_out and any(i in from_dq for i in n.input):
            out["int8"][n.op_type] += 1
        else:
            out["fp32"][n.op_type] += 1
    return {k: dict(sorted(v.items())) for k, v in out.items()}


# ---- evaluation sets ------------------------------------------------------------------------
@dataclass(frozen=True)
class CropSet:
    """Inpainting crops as the staging job cuts them, with the ground truth under the holes.

    :param crops: ``N x S x S x 3`` uint8 RGB, the complete (unholed) crops = the truth.
    :param holes: ``N x S x S`` uint8, 255 = hole.
    :param sources: the room each crop comes from (for the record).
    """

    crops: np.ndarray
    holes: np.ndarray
    sources: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.crops)


def gap_crops(rooms: Sequence[tuple[str, np.ndarray]], bank, seed: int, crop_size: int = 256,
              holes_per_room: int = 1) -> CropSet:
    """Copy-paste holes on real room photos, cut into crops exactly as the staging job cuts gaps.

    Each room gets ``holes_per_room`` silhouette-difference holes (``bank.random_gap_mask``: a
    similar-shaped pair of product silhouettes, as retrieval gives; the shape the generators
    were trained on), then ``staging.gap.crop_boxes`` / ``extract_crops`` at ``crop_size``.
    The room is its own ground truth. Deterministic: the RNG of room ``i`` is seeded
    ``(seed, i)``, so adding rooms never changes the earlier rooms' holes.

    :param rooms: ``(room_id, BGR uint8 image)``.
    :param bank: a ``masks.SilhouetteBank``.
    """
    from adstage.staging import gap as gap_mod

    crops, holes, sources = [], [], []
    for i, (room_id, room) in enumerate(rooms):
        rng = np.random.default_rng([seed, i])
        h, w = room.shape[:2]
        for _ in range(holes_per_room):
            hole = bank.random_gap_mask(h, w, rng)
            if not hole.any():
                continue
            c, m = gap_mod.extract_crops(room, hole, gap_mod.crop_boxes(hole, crop_size))
            crops.extend(c[..., ::-1])  # BGR room -> RGB, the runners' input
            holes.extend(m)
            sources.extend([room_id] * len(c))
    if not crops:
        return CropSet(np.zeros((0, crop_size, crop_size, 3), np.uint8),
                       np.zeros((0, crop_size, crop_size), np.uint8))
    return CropSet(np.ascontiguousarray(np.stack(crops)), np.stack(holes), tuple(sources))


# ---- the quality gate ------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """The gate's decision on one int8 model (or the int8 EdgeConnect pair).

    :param passed: True when every gated figure stays within ``tolerance``.
    :param reason: one line: why it passed or which figures failed, with their values.
    :param figures: fp32 and int8 figures, their relative changes and the int8-vs-fp32 drift.
    """

    passed: bool
    reason: str
    figures: dict[str, float] = field(default_factory=dict)
    tolerance: float = DEFAULT_TOLERANCE


def figures(outputs: np.ndarray, truth: np.ndarray, regions: np.ndarray,
            embed: Callable[[np.ndarray], np.ndarray], truth_features: np.ndarray) -> dict[str, float]:
    """Fréchet distance to the truth (``embed`` features) and L1 over ``regions``, in [0, 1].

    :param outputs: ``N x H x W x 3`` uint8 RGB. :param truth: same shape.
    :param regions: ``N x H x W`` bool, the pixels L1 is measured on (the holes).
    :param embed: uint8 RGB images -> ``N x D`` features.
    """
    from adstage.generative.fid import frechet_distance

    out = outputs.astype(np.float32) / 255.0
    l1 = float(np.abs(out - truth.astype(np.float32) / 255.0)[regions].mean())
    return {"fd": frechet_distance(embed(outputs), truth_features), "l1": l1}


def gate(fp32: Mapping[str, float], int8: Mapping[str, float], drift_l1: float,
         tolerance: float = DEFAULT_TOLERANCE) -> Verdict:
    """Pass when each of :data:`GATED` moved by at most ``tolerance`` of its fp32 value.

    Either direction counts: an int8 model that scores very differently from its original,
    better or worse, is not the model that was evaluated and promoted.

    :param drift_l1: mean |int8 - fp32| inside the holes (reported, not gated: the figures
        against the truth are what a reviewer judges).
    """
    figs: dict[str, float] = {"drift_l1": float(drift_l1)}
    failed = []
    for name in GATED:
        a, b = float(fp32[name]), float(int8[name])
        rel = (b - a) / a if a > 0 else (0.0 if b == a else float("inf"))
        figs.update({f"fp32_{name}": a, f"int8_{name}": b, f"rel_{name}": rel})
        if not (np.isfinite(b) and abs(rel) <= tolerance):
            failed.append(f"{name} {a:.4g} -> {b:.4g} ({rel:+.1%})")
    if failed:
        reason = f"refused: {', '.join(failed)} beyond ±{tolerance:.0%} of fp32"
    else:
        reason = ("passed: " + ", ".join(f"{n} {figs[f'rel_{n}']:+.2%}" for n in GATED)
                  + f" within ±{tolerance:.0%} of fp32")
    return Verdict(not failed, reason, figs, tolerance)


def compare(fp32_out: np.ndarray, int8_out: np.ndarray, truth: np.ndarray, regions: np.ndarray,
            embed: Callable[[np.ndarray], np.ndarray],
            tolerance: float = DEFAULT_TOLERANCE) -> Verdict:
    """The gate on one evaluation set: both precisions' outputs against the same truth."""
    real = embed(truth)
    drift = float(np.abs(int8_out.astype(np.float32) - fp32_out.astype(np.float32))[regions].mean()
                  / 255.0)
    verdict = gate(figures(fp32_out, truth, regions, embed, real),
                   figures(int8_out, truth, regions, embed, real), drift, tolerance)
    verdict.figures["eval_images"] = float(len(truth))
    return verdict
