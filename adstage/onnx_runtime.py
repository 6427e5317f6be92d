"""onnxruntime sessions for Spark workers: one cached session per model per Python process.

Models travel to executors as bytes (captured in the task closure or broadcast), so an executor
never needs the driver's file system or MLflow; the cache key is the bytes' sha256.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
_SESSIONS: dict[tuple[str, str], object] = {}


def providers(device: str = "auto") -> list[str]:
    """``cpu`` -> CPU; ``cuda`` -> CUDA then CPU (error if absent); ``auto`` -> CUDA when offered."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if device == "auto":
        return [CUDA, CPU] if CUDA in available else [CPU]
    if device == "cuda":
        if CUDA not in available:
            raise RuntimeError(f"onnx_device=cuda but onnxruntime offers only {available}")
        return [CUDA, CPU]
    raise ValueError(f"onnx_device must be cpu|cuda|auto, got {device!r}")


def session_from_bytes(model: bytes, device: str = "auto", threads: int = 1):
    """The process's session for these model bytes (created on first use).

    One intra-op thread by default: Spark already runs one Python worker per core.
    """
    import onnxruntime as ort

    key = (hashlib.sha256(model).hexdigest(), device)
    sess = _SESSIONS.get(key)
    if sess is None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(model, sess_options=opts, providers=providers(device))
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
