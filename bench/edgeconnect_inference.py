"""EdgeConnect inpainting generator: torch eager vs onnxruntime (fp32, CPU), side by side in one
run, with FLOPs per call and the achieved rate as a share of this machine's measured matmul rate.

    python bench/edgeconnect_inference.py --size 256 --widths 16 64 --batch 1 --repeats 5

Timings are medians of `--repeats` calls after two warm-up calls, both engines with the same
thread count, on the same inputs. Only ratios measured in the same run are comparable.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def conv_flops(model, inputs) -> float:
    """Multiply-adds x2 of every (transposed) convolution, counted with forward hooks."""
    import torch
    from torch import nn

    total = 0.0

    def hook(module, args, out):
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):
            n, c_in, h, w = args[0].shape
            total += 2.0 * n * c_in * module.out_channels * k * h * w / module.groups
        else:
            n, c_out, h, w = out.shape
            total += 2.0 * n * c_out * module.in_channels * k * h * w / module.groups

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model(*inputs)
    for h in handles:
        h.remove()
    return total


def median_time(fn, repeats: int) -> float:
    fn(), fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_width(width: int, res_blocks: int, size: int, batch: int, threads: int,
                repeats: int, matmul: float) -> dict:
    import onnxruntime as ort
    import torch

    from adstage.generative.edgeconnect import InpaintGenerator
    from adstage.generative.export import InpaintExport
    from adstage.onnx_export import export_onnx

    torch.manual_seed(0)
    model = InpaintExport(InpaintGenerator(width, res_blocks)).eval()
    rng = np.random.default_rng(0)
    image = rng.random((batch, 3, size, size), dtype=np.float32)
    edges = (rng.random((batch, 1, size, size)) > 0.9).astype(np.float32)
    hole = np.zeros((batch, 1, size, size), np.float32)
    hole[:, :, size // 4: size // 2, size // 4: 3 * size // 4] = 1
    tensors = [torch.from_numpy(a) for a in (image, edges, hole)]
    flops = conv_flops(model, tensors)

    with torch.no_grad():
        t_torch = median_time(lambda: model(*tensors), repeats)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, [t[:1] for t in tensors], Path(tmp) / "g2.onnx",
                           ["image", "edges", "hole"], ["image_out"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(path), sess_options=opts,
                                    providers=["CPUExecutionProvider"])
        feeds = {"image": image, "edges": edges, "hole": hole}
        t_ort = median_time(lambda: sess.run(None, feeds), repeats)
        with torch.no_grad():
            err = float(np.abs(sess.run(None, feeds)[0] - model(*tensors).numpy()).max())
    row = {"base_channels": width, "res_blocks": res_blocks, "size": size, "batch": batch,
           "gflop_per_call": round(flops / 1e9, 2),
           "torch_ms": round(t_torch * 1e3, 1), "ort_ms": round(t_ort * 1e3, 1),
           "ort_speedup": round(t_torch / t_ort, 2),
           "torch_gflops": round(flops / t_torch / 1e9, 1), "ort_gflops": round(flops / t_ort / 1e9, 1),
           "ort_share_of_matmul": round(flops / t_ort / 1e9 / matmul, 2),
           "max_abs_err": err}
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="crop side (staging's crop size)")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64],
                        help="base channels: 16 = shipped CPU default, 64 = the paper's")
    parser.add_argument("--res-blocks", type=int, nargs="+", default=None,
                        help="residual blocks per width (default 4 for 16, 8 for 64)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    blocks = args.res_blocks or [4 if w <= 32 else 8 for w in args.widths]
    matmul = matmul_gflops()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"threads {args.threads}; numpy fp32 matmul {matmul:.0f} GFLOP/s")
    rows = [bench_width(w, b, args.size, args.batch, args.threads, args.repeats, matmul)
            for w, b in zip(args.widths, blocks)]
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    if args.out:
        args.out.write_text(json.dumps({"matmul_gflops": round(matmul, 1), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
