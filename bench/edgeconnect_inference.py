"""EdgeConnect generators per gap crop: torch eager vs onnxruntime fp32 vs onnxruntime int8 (QDQ
and QOperator), side by side in one run, with FLOPs, the achieved rate as a share of this
machine's matmul rate measured in the same run, and the cost per staged image.

    python bench/edgeconnect_inference.py --size 256 --widths 16 64 --batch 1 --repeats 5

Per crop the staging job runs both generators (G1 edges, then G2 image), so a row's time is
G1 + G2. Each engine's time is the median of ``--repeats`` rounds after two warm-up rounds; the
engines take turns within every round (torch, ORT fp32, int8 QDQ, int8 QOperator, then again),
so a neighbour's load on a shared machine lands on all of them alike. Same thread count and the
same inputs for every engine; numpy's fp32 matmul (2048², its BLAS held to the same threads)
takes a turn in every round as the yardstick. int8 graphs are quantized here
(``adstage.generative.quantize``) on ``--calib`` random crops: speed does not depend on the calibration, quality does (that is the
quantization job's quality gate, not this benchmark). Per staged image = mean gap crops per
copy-paste image (measured on a demo catalog's donor/product pairs, ``crops_per_image``) × ms
per crop. Only ratios measured in the same run are comparable.
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

ENGINES = ("torch", "ort_fp32", "ort_int8_qdq", "ort_int8_qoperator")


def matmul_seconds(n: int = 2048):
    """A timer of one fp32 ``n x n`` matmul (numpy's BLAS); FLOPs = 2 n^3."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    a @ b

    def timed() -> float:
        t = time.perf_counter()
        a @ b
        return time.perf_counter() - t

    return timed, 2.0 * n ** 3


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


def crops_per_image(catalog: str | Path, crop_size: int, dilate_px: int) -> float:
    """Mean gap crops per copy-paste image on a demo catalog: every staged photo is a donor,
    and the next product of its category (its unstaged silhouette) is fitted into the donor's
    box as the staging job places it; the gap is cut into crops with ``staging.gap``."""
    import cv2

    from adstage.generative.masks import fit_into_box
    from adstage.staging import gap

    root = Path(catalog)
    rows = [json.loads(line) for line in (root / "ground_truth.jsonl").read_text().splitlines() if line]
    counts = []
    for r in rows:
        if not r.get("staged"):
            continue
        others = [o for o in rows if o["category"] == r["category"] and o is not r]
        if not others:
            continue
        slot = cv2.imread(str(root / r["staged"]["mask"]), cv2.IMREAD_GRAYSCALE)
        new = cv2.imread(str(root / others[0]["unstaged"]["mask"]), cv2.IMREAD_GRAYSCALE)
        alpha = fit_into_box(new, tuple(r["staged"]["box"]), *slot.shape).astype(np.float32) / 255
        counts.append(len(gap.crop_boxes(gap.gap_mask(slot, alpha, dilate_px), crop_size)))
    return float(np.mean(counts)) if counts else float("nan")


def _sessions(models: dict[str, bytes], threads: int) -> dict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return {k: ort.InferenceSession(v, sess_options=opts, providers=["CPUExecutionProvider"])
            for k, v in models.items()}


def bench_width(width: int, res_blocks: int, size: int, batch: int, threads: int,
                repeats: int, calib: int, crops: float) -> list[dict]:
    import torch

    from adstage.generative.edgeconnect import EdgeGenerator, InpaintGenerator
    from adstage.generative.export import EdgeExport, InpaintExport
    from adstage.generative.quantize import quantize_bytes, quantized_ops
    from adstage.onnx_export import export_onnx

    torch.manual_seed(0)
    g1 = EdgeExport(EdgeGenerator(width, res_blocks, use_spectral_norm=False)).eval()
    g2 = InpaintExport(InpaintGenerator(width, res_blocks)).eval()
    rng = np.random.default_rng(0)

    def feeds(n: int) -> tuple[dict, dict]:
        image = rng.random((n, 3, size, size), dtype=np.float32)
        edges = (rng.random((n, 1, size, size)) > 0.9).astype(np.float32)
        hole = np.zeros((n, 1, size, size), np.float32)
        hole[:, :, size // 4: size // 2, size // 4: 3 * size // 4] = 1
        grey = image.mean(axis=1, keepdims=True)
        return {"grey": grey, "edges": edges, "hole": hole}, {"image": image, "edges": edges, "hole": hole}

    f1, f2 = feeds(batch)
    t1 = [torch.from_numpy(f1[k]) for k in ("grey", "edges", "hole")]
    t2 = [torch.from_numpy(f2[k]) for k in ("image", "edges", "hole")]
    flops = conv_flops(g1, t1) + conv_flops(g2, t2)
    with tempfile.TemporaryDirectory() as tmp:
        p1 = export_onnx(g1, [t[:1] for t in t1], Path(tmp) / "g1.onnx", ["grey", "edges", "hole"], ["edges_out"])
        p2 = export_onnx(g2, [t[:1] for t in t2], Path(tmp) / "g2.onnx", ["image", "edges", "hole"], ["image_out"])
        fp32 = {"g1": p1.read_bytes(), "g2": p2.read_bytes()}
    cal = [feeds(1) for _ in range(calib)]
    graphs = {"ort_fp32": fp32}
    for fmt in ("qdq", "qoperator"):
        graphs[f"ort_int8_{fmt}"] = {"g1": quantize_bytes(fp32["g1"], [c[0] for c in cal], fmt),
                                     "g2": quantize_bytes(fp32["g2"], [c[1] for c in cal], fmt)}
    sess = {k: _sessions(v, threads) for k, v in graphs.items()}

    def call(engine: str) -> np.ndarray:
        """One crop batch through G1 and G2; returns G2's output."""
        if engine == "torch":
            with torch.no_grad():
                g1(*t1)
                return g2(*t2).numpy()
        s = sess[engine]
        s["g1"].run(None, f1)
        return s["g2"].run(None, f2)[0]

    reference = call("torch")
    # The matmul takes its turn in every round too: its rate is the yardstick under the same load.
    matmul, matmul_flops = matmul_seconds()
    times: dict[str, list[float]] = {e: [] for e in (*ENGINES, "matmul")}
    for r in range(repeats + 2):
        for e in ENGINES:
            t = time.perf_counter()
            call(e)
            if r >= 2:  # two warm-up rounds
                times[e].append(time.perf_counter() - t)
        if r >= 2:
            times["matmul"].append(matmul())
    med = {e: statistics.median(v) for e, v in times.items()}
    rate = matmul_flops / med["matmul"] / 1e9
    rows = []
    for e in ENGINES:
        per_crop = med[e] / batch
        rows.append({
            "base_channels": width, "res_blocks": res_blocks, "size": size, "batch": batch,
            "engine": e, "gflop_per_crop": round(flops / batch / 1e9, 2),
            "ms_per_crop": round(per_crop * 1e3, 1),
            "ms_per_image": round(per_crop * crops * 1e3, 1),
            "gflops": round(flops / med[e] / 1e9, 1),
            "matmul_gflops": round(rate, 1),
            "share_of_matmul": round(flops / med[e] / 1e9 / rate, 2),
            "speedup_vs_torch": round(med["torch"] / med[e], 2),
            "speedup_vs_ort_fp32": round(med["ort_fp32"] / med[e], 2),
            "g2_max_abs_diff_vs_torch": float(np.abs(call(e) - reference).max()),
            "int8_ops": (sum(quantized_ops(graphs[e]["g2"])["int8"].values())
                         if e.startswith("ort_int8") else 0),
            "fp32_ops": (sum(quantized_ops(graphs[e]["g2"])["fp32"].values())
                         if e.startswith("ort_int8") else None),
        })
    return rows


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
    parser.add_argument("--calib", type=int, default=4, help="random calibration crops for int8")
    parser.add_argument("--catalog-products", type=int, default=40,
                        help="demo catalog (seed 7, the demo's) measured for crops per image; 0 = skip")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    blocks = args.res_blocks or [4 if w <= 32 else 8 for w in args.widths]
    load_start = os.getloadavg()
    crops = float("nan")
    if args.catalog_products:
        from adstage.config import Settings
        from adstage.demo.catalog import generate_catalog

        s = Settings.load({}, environ={})
        with tempfile.TemporaryDirectory() as tmp:
            crops = crops_per_image(generate_catalog(tmp, args.catalog_products, 7)["out_dir"],
                                    args.size, s.staging_dilate_px)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"threads {args.threads}; load average at start {load_start[0]:.2f}; "
          f"{crops:.2f} gap crops per copy-paste image (demo catalog)")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads, user_api="blas"):
        rows = [r for w, b in zip(args.widths, blocks)
                for r in bench_width(w, b, args.size, args.batch, args.threads, args.repeats,
                                     args.calib, crops)]
    load_end = os.getloadavg()
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    print(f"load average at end {load_end[0]:.2f}")
    if args.out:
        args.out.write_text(json.dumps({"crops_per_image": crops,
                                        "load_average": [load_start[0], load_end[0]],
                                        "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
