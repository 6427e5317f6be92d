"""EdgeConnect gap-crop inpainting on a GPU: CPU fp32 vs CUDA fp32 (plain ``run``) vs CUDA fp32
with I/O binding vs CUDA fp16 with I/O binding, side by side in one run, per crop batch size.

    PYTHONPATH=. python bench/gpu_inference.py --batches 1 8 32 64 --repeats 10

Runs only where onnxruntime offers the CUDA provider and a session really lands on it
(``onnxruntime-gpu`` and a visible GPU); otherwise it prints ``skipped: <reason>`` and exits 0.
Every variant goes through ``EdgeConnectInpainter`` (Canny included), on the shipped generators
and seeded 256x256 crops with a hole; the I/O-bound variants are what the nightly job runs on
CUDA (``adstage.generative.inference``), the plain one is the same sessions without binding.
Parity: max abs difference of the uint8 outputs against CPU fp32.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent / "models" / "generative"


def cuda_unavailable() -> str:
    """Why the GPU variants cannot run here; empty when they can."""
    import onnxruntime as ort

    from adstage.onnx_runtime import CUDA, is_cuda

    available = ort.get_available_providers()
    if CUDA not in available:
        return (f"onnxruntime {ort.__version__} offers no {CUDA} (providers: "
                f"{', '.join(available)}); install the gpu extra (onnxruntime-gpu) on a GPU host")
    try:
        sess = ort.InferenceSession(str(MODELS / "edgeconnect_inpaint.onnx"),
                                    providers=[CUDA, "CPUExecutionProvider"])
    except Exception as exc:  # a broken CUDA install raises rather than falls back
        return f"a CUDA session could not be created: {exc}"
    if not is_cuda(sess):
        return f"the CUDA provider did not load (session fell back to {sess.get_providers()})"
    return ""


def _crops():
    spec = importlib.util.spec_from_file_location("onnx_sessions", HERE / "onnx_sessions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.crops


def variants(batch: int) -> dict:
    from adstage.generative.inference import EdgeConnectInpainter
    from adstage.onnx_runtime import session_from_bytes

    blobs = [(MODELS / f"edgeconnect_{k}.onnx").read_bytes() for k in ("edge", "inpaint")]
    cpu = EdgeConnectInpainter(*(session_from_bytes(b, "cpu", threads=os.cpu_count() or 1)
                                 for b in blobs), batch=batch)
    fp32 = [session_from_bytes(b, "cuda", device_id=0) for b in blobs]
    fp16 = [session_from_bytes(b, "cuda", device_id=0, fp16=True) for b in blobs]
    return {"cpu_fp32": cpu,
            "cuda_fp32_run": EdgeConnectInpainter(*fp32, batch=batch, io_binding=False),
            "cuda_fp32_iobinding": EdgeConnectInpainter(*fp32, batch=batch),
            "cuda_fp16_iobinding": EdgeConnectInpainter(*fp16, batch=batch)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--size", type=int, default=256, help="crop side")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)

    reason = cuda_unavailable()
    if reason:
        print(f"skipped: {reason}")
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"skipped": reason}))
        return 0
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; CPU variant with {os.cpu_count()} threads")
    images, holes = _crops()(max(args.batches), args.size, 0)
    rows = []
    for b in args.batches:
        runners = variants(b)
        ref = runners["cpu_fp32"](images[:b], holes[:b])
        for name, run in runners.items():
            out = run(images[:b], holes[:b])           # warm-up, and the parity sample
            times = []
            for _ in range(args.repeats if name != "cpu_fp32" else max(2, args.repeats // 5)):
                t = time.perf_counter()
                run(images[:b], holes[:b])
                times.append(time.perf_counter() - t)
            ms = statistics.median(times) * 1e3
            rows.append({"variant": name, "batch": b, "ms_per_call": round(ms, 2),
                         "ms_per_crop": round(ms / b, 3),
                         "max_abs_diff_vs_cpu": int(max(np.abs(o.astype(int) - r.astype(int)).max()
                                                        for o, r in zip(out, ref)))})
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
