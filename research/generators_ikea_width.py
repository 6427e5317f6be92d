"""Width table for the IKEA-trained EdgeConnect: base channels × residual blocks vs parameters,
ONNX file size and onnxruntime CPU seconds per 256² gap crop (1 thread, G1 + G2 together).

    OMP_NUM_THREADS=1 nice -n 19 python research/generators_ikea_width.py --out /tmp/adstage-train/width

Untrained (initialised) networks: the time depends on the shape only. The machine is shared,
so each figure is the *minimum* over ``--repeats`` runs (the least-contended one).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from adstage.generative import edgeconnect as ec
from adstage.generative import export as ex


def bench(path: Path, feeds: dict, repeats: int) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    sess.run(None, feeds)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run(None, feeds)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="/tmp/adstage-train/width")
    p.add_argument("--widths", default="16x4,16x6,24x4,24x6,32x4,32x6")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    s = args.size
    grey, edges = rng.random((1, 1, s, s), np.float32), (rng.random((1, 1, s, s)) > 0.9).astype(np.float32)
    hole = np.zeros((1, 1, s, s), np.float32)
    hole[..., 100:160, 80:200] = 1
    image = rng.random((1, 3, s, s), np.float32)
    rows = []
    for spec in args.widths.split(","):
        ch, blocks = (int(v) for v in spec.split("x"))
        torch.manual_seed(0)
        g1, g2 = ec.EdgeGenerator(ch, blocks), ec.InpaintGenerator(ch, blocks)
        p1 = ex.export_onnx(ex.EdgeExport(g1), [torch.rand(1, 1, 32, 32)] * 3, out / f"edge_{spec}.onnx",
                            ["grey", "edges", "hole"], ["edges_out"])
        p2 = ex.export_onnx(ex.InpaintExport(g2), [torch.rand(1, 3, 32, 32), torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)],
                            out / f"inpaint_{spec}.onnx", ["image", "edges", "hole"], ["image_out"])
        t1 = bench(p1, {"grey": grey, "edges": edges, "hole": hole}, args.repeats)
        t2 = bench(p2, {"image": image, "edges": edges, "hole": hole}, args.repeats)
        row = {"width": spec, "base_channels": ch, "res_blocks": blocks,
               "params_per_generator": sum(q.numel() for q in g2.parameters()),
               "params_edge": sum(q.numel() for q in g1.parameters()),
               "onnx_mb_each": round(p2.stat().st_size / 2**20, 2),
               "edge_s": round(t1, 4), "inpaint_s": round(t2, 4), "pair_s_per_crop": round(t1 + t2, 4)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    (out / "width.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
