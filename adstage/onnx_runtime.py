"""onnxruntime sessions for Spark workers: one cached session per model per Python process.

Models travel to executors as bytes (captured in the task closure or broadcast), so an executor
never needs the driver's file system or MLflow; the cache key is the bytes' sha256 (with the
device and, on CUDA, the GPU: inside a Spark task with a GPU resource, the one Spark assigned).

Session settings (:class:`OrtOptions`, from ``Settings.onnx_*``) were chosen by measurement
(``bench/onnx_sessions.py``, docs/benchmarks.md): intra-op threads = the Spark task's CPUs
(``spark.task.cpus``; 1 by default, so two tasks on a 2-core executor do not fight over the
cores), inter-op 1, full graph optimisation, CPU memory arena and memory pattern on.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from adstage.config import Settings

log = logging.getLogger(__name__)

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
_SESSIONS: dict[tuple, object] = {}
GRAPH_LEVELS = ("disable", "basic", "extended", "all")


@dataclass(frozen=True)
class OrtOptions:
    """The ``SessionOptions`` a worker's sessions get.

    :param threads: intra-op threads; 0 = the CPUs of the Spark task running this code
        (``TaskContext.cpus()``, i.e. ``spark.task.cpus`` or the stage's resource profile), 1
        outside Spark.
    :param graph_optimization: ``disable`` | ``basic`` | ``extended`` | ``all``.
    :param cpu_arena: onnxruntime's CPU memory arena (keeps freed buffers for the next call).
    :param mem_pattern: pre-plan buffers from the first call's shapes (a win when every call
        has the same shape, as the fixed-size gap crops do).
    """

    threads: int = 0
    graph_optimization: str = "all"
    cpu_arena: bool = True
    mem_pattern: bool = True

    def __post_init__(self):
        if self.graph_optimization not in GRAPH_LEVELS:
            raise ValueError(f"onnx graph optimisation must be one of {GRAPH_LEVELS}, "
                             f"got {self.graph_optimization!r}")
        if self.threads < 0:
            raise ValueError(f"onnx intra-op threads must be >= 0, got {self.threads}")

    @classmethod
    def from_settings(cls, s: "Settings") -> "OrtOptions":
        return cls(s.onnx_intra_op_threads, s.onnx_graph_optimization, s.onnx_cpu_arena,
                   s.onnx_mem_pattern)

    def resolved_threads(self) -> int:
        return self.threads or task_cpus()

    def session_options(self):
        import onnxruntime as ort

        levels = ort.GraphOptimizationLevel
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.resolved_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = {
            "disable": levels.ORT_DISABLE_ALL, "basic": levels.ORT_ENABLE_BASIC,
            "extended": levels.ORT_ENABLE_EXTENDED, "all": levels.ORT_ENABLE_ALL,
        }[self.graph_optimization]
        opts.enable_cpu_mem_arena = self.cpu_arena
        opts.enable_mem_pattern = self.mem_pattern
        return opts


def task_cpus() -> int:
    """CPUs of the Spark task running this code (``spark.task.cpus``); 1 outside a task."""
    try:
        from pyspark import TaskContext
    except ImportError:  # pragma: no cover - pyspark is a dependency
        return 1
    ctx = TaskContext.get()
    return max(1, int(ctx.cpus())) if ctx is not None else 1


def providers(device: str = "auto", device_id: int | None = None) -> list:
    """``cpu`` -> CPU; ``cuda`` -> CUDA then CPU (error if absent); ``auto`` -> CUDA when offered.

    With ``device_id`` (a GPU index) the CUDA entry is ``(CUDA, {"device_id": id})``; without
    one, or on CPU, the list is plain provider names.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if device == "auto":
        if CUDA not in available:
            return [CPU]
    elif device == "cuda":
        if CUDA not in available:
            raise RuntimeError(f"onnx_device=cuda but onnxruntime offers only {available}")
    else:
        raise ValueError(f"onnx_device must be cpu|cuda|auto, got {device!r}")
    if device_id is None:
        return [CUDA, CPU]
    return [(CUDA, {"device_id": int(device_id)}), CPU]


def session_from_bytes(model: bytes, device: str = "auto", threads: int = 1,
                       device_id: int | None = None, options: OrtOptions | None = None,
                       fp16: bool = False):
    """The process's session for these model bytes (created on first use).

    Without ``options``: ``threads`` intra-op threads (1 by default: Spark already runs one
    Python worker per core) and onnxruntime's other defaults.  With ``options`` (the jobs pass
    ``OrtOptions.from_settings``) those settings, ``threads`` unused.
    ``device_id`` picks the CUDA device; left out, inside a Spark task that holds a GPU
    (``adstage.resources``) it is that GPU's address.  On CPU it plays no part.
    ``fp16``: run :func:`float16_model` of the model when the CUDA provider leads; on the CPU
    it is ignored (onnxruntime's CPU kernels compute fp16 slower than fp32).
    """
    import onnxruntime as ort

    if device_id is None and device != "cpu":
        from adstage.resources import task_gpu_id

        device_id = task_gpu_id()
    chosen = providers(device, device_id)
    cuda_id = chosen[0][1]["device_id"] if isinstance(chosen[0], tuple) else None
    # Without options: onnxruntime's defaults (full optimisation, arena, memory pattern) are
    # OrtOptions' defaults, so only the thread count differs.
    options = options or OrtOptions(threads=threads)
    opts_key = (options.resolved_threads(), options.graph_optimization, options.cpu_arena,
                options.mem_pattern)
    half = fp16 and (chosen[0] == CUDA or isinstance(chosen[0], tuple))
    key = (hashlib.sha256(model).hexdigest(), device, cuda_id, opts_key, half)
    sess = _SESSIONS.get(key)
    if sess is None:
        if fp16 and not half:
            log.info("fp16 asked for, but %s has no CUDA provider: fp32 on the CPU", chosen)
        opts = options.session_options()
        sess = ort.InferenceSession(float16_model(model) if half else model, sess_options=opts,
                                    providers=chosen)
        _SESSIONS[key] = sess
        log.info("onnxruntime session %s%s on %s, %s", key[0][:12], " (fp16)" if half else "",
                 sess.get_providers(), options)
    return sess


def is_cuda(sess) -> bool:
    """Whether ``sess`` actually runs on CUDA (asking for it is not enough: onnxruntime falls
    back to the CPU when the CUDA libraries do not load)."""
    return sess.get_providers()[0] == CUDA


def float16_model(model: bytes) -> bytes:
    """An fp16 copy of an fp32 ONNX model with fp32 inputs and outputs (casts at the edges),
    so that callers feed and read exactly what they did before.

    onnxruntime's own converter (``onnxruntime.transformers.float16``; ``onnxconverter-common``
    is not a dependency).  The IR version is kept: onnxruntime refuses the ``onnx`` package's
    newest default.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    src = onnx.load_from_string(model)
    half = convert_float_to_float16(src, keep_io_types=True, disable_shape_infer=False)
    half.ir_version = src.ir_version
    return half.SerializeToString()


def run_batched(sess, inputs: Sequence[np.ndarray], batch: int = 32) -> np.ndarray:
    """Run a one-input, one-output model over a list of equally shaped CHW arrays."""
    if not inputs:
        return np.zeros((0,), np.float32)
    name = sess.get_inputs()[0].name
    outs = [sess.run(None, {name: np.stack(inputs[i:i + batch]).astype(np.float32)})[0]
            for i in range(0, len(inputs), batch)]
    return np.concatenate(outs)
