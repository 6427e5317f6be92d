"""onnxruntime sessions for Spark workers: one cached session per model per Python process.

Models travel to executors as bytes (captured in the task closure or broadcast), so an executor
never needs the driver's file system or MLflow; the cache key is the bytes' sha256 (with the
device and, on CUDA, the GPU: inside a Spark task with a GPU resource, the one Spark assigned).
"""
from __future__ import annotations

import hashlib
import logging
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
_SESSIONS: dict[tuple[str, str, int | None], object] = {}


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
                       device_id: int | None = None):
    """The process's session for these model bytes (created on first use).

    One intra-op thread by default: Spark already runs one Python worker per core.
    ``device_id`` picks the CUDA device; left out, inside a Spark task that holds a GPU
    (``adstage.resources``) it is that GPU's address.  On CPU it plays no part.
    """
    import onnxruntime as ort

    if device_id is None and device != "cpu":
        from adstage.resources import task_gpu_id

        device_id = task_gpu_id()
    chosen = providers(device, device_id)
    cuda_id = chosen[0][1]["device_id"] if isinstance(chosen[0], tuple) else None
    key = (hashlib.sha256(model).hexdigest(), device, cuda_id)
    sess = _SESSIONS.get(key)
    if sess is None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(model, sess_options=opts, providers=chosen)
        _SESSIONS[key] = sess
        log.info("onnxruntime session %s on %s", key[0][:12], sess.get_providers())
    return sess


def run_batched(sess, inputs: Sequence[np.ndarray], batch: int = 32) -> np.ndarray:
    """Run a one-input, one-output model over a list of equally shaped CHW arrays."""
    if not inputs:
        return np.zeros((0,), np.float32)
    name = sess.get_inputs()[0].name
    outs = [sess.run(None, {name: np.stack(inputs[i:i + batch]).astype(np.float32)})[0]
            for i in range(0, len(inputs), batch)]
    return np.concatenate(outs)
