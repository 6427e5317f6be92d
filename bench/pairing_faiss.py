"""Donor retrieval at catalog scale: numpy brute force vs FAISS exact vs approximate indexes,
on shape descriptors of the real dimension (adstage.vision.shape.DIM = 32 x 32).

    PYTHONPATH=. .venv/bin/python bench/pairing_faiss.py --sizes 10000 100000 1000000 \\
        --queries 500 --out docs/bench/pairing-faiss

Vectors: the silhouettes of the IKEA product photos (cut out with the pipeline's own
`cut_out`, described with its own `describe`), each described under 16 random aspect
stretches, small rotations and shifts of its mask; an indexed vector is a random blend of two
variants of one silhouette (renormalised). The set clusters the way real catalogs do (many
near-identical shapes per class) instead of uniform noise, where no approximate index works.
Queries are fresh variants (described, not blended), apart from the indexed set. `--synthetic`
uses ellipses and boxes instead (no data set needed: the smoke test).

Per size and method, side by side in one process with the same threads: build time, query
time for the whole query batch (top-100, what pairing asks for: max(top_k*20, 100)), recall@10
and @100 against the exact result, index bytes (serialised) and the process RSS after the build.
The speed-up is numpy's query time over the method's. Writes <out>.json and <out>.md.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

K_RECALL, K_PAIRING = 10, 100


# ---- vectors --------------------------------------------------------------------------------
def base_masks(ikea_root: Path | None, limit: int, size: int = 96) -> list[np.ndarray]:
    """Binary product masks: IKEA photos cut out by the pipeline, or synthetic silhouettes."""
    import cv2

    if ikea_root is None:
        rng = np.random.default_rng(0)
        out = []
        for i in range(limit):
            m = np.zeros((size, size), np.uint8)
            c = (size // 2, size // 2)
            ax = (int(rng.integers(10, 45)), int(rng.integers(10, 45)))
            if i % 2:
                cv2.ellipse(m, c, ax, float(rng.uniform(0, 180)), 0, 360, 255, -1)
            else:
                cv2.rectangle(m, (c[0] - ax[0], c[1] - ax[1]), (c[0] + ax[0], c[1] + ax[1]), 255, -1)
            out.append(m)
        return out
    from adstage.vision.backdrop_cutout import cut_out
    from adstage.vision.ikea import items

    out = []
    for item in items(ikea_root):
        if item.kind != "product":
            continue
        bgr = cv2.imread(str(item.path))
        if bgr is None:
            continue
        scale = size / max(bgr.shape[:2])
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        c = cut_out(bgr)
        if c.ok:
            out.append(c.mask)
        if len(out) >= limit:
            break
    return out


def describe_variants(masks: list[np.ndarray], n: int, seed: int) -> np.ndarray:
    """n descriptors, each of a random base mask under a random stretch, rotation and shift."""
    import cv2

    from adstage.vision.shape import DIM, describe

    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), np.float32)
    picks = rng.integers(0, len(masks), n)
    for i, j in enumerate(picks):
        m = masks[j]
        h, w = m.shape
        sx, sy = np.exp(rng.normal(0, 0.12, 2))
        a = np.deg2rad(rng.normal(0, 4))
        mat = np.array([[sx * np.cos(a), -sy * np.sin(a), 0], [sx * np.sin(a), sy * np.cos(a), 0]])
        mat[:, 2] = np.array([w / 2, h / 2]) - mat[:, :2] @ np.array([w / 2, h / 2]) \
            + rng.normal(0, 1.5, 2)
        warped = cv2.warpAffine(m, mat, (w, h), flags=cv2.INTER_NEAREST)
        if not warped.any():
            warped = m
        out[i] = describe(warped).vector
    return out


def draw(masks: list[np.ndarray], n: int, seed: int, per_mask: int = 16,
         chunk: int = 100_000, scratch: Path | None = None) -> np.ndarray:
    """n descriptors for the index: `per_mask` described variants of every base mask, then each
    vector a random blend of two variants of one mask (renormalised), so a million vectors cost
    a few ten thousand descriptions and stay on the shapes' manifold rather than off it.
    With `scratch`, the vectors live in a memory-mapped file there: at a million vectors (4 GB)
    the page cache can give the memory back under pressure on a shared machine, and only the
    index under test is anonymous memory."""
    rng = np.random.default_rng(seed)
    variants = describe_variants(masks, len(masks) * per_mask, seed).reshape(
        len(masks), per_mask, -1)
    shape = (n, variants.shape[2])
    if scratch is not None:
        # Same masks, size and seed: the same vectors, so a rerun reuses the file.
        path = scratch / f"vectors-{len(masks)}x{per_mask}-{n}-seed{seed}.npy"
        if path.exists():
            return np.load(path, mmap_mode="r")
        out = np.lib.format.open_memmap(path.with_suffix(".part"), "w+", np.float32, shape)
    else:
        out = np.empty(shape, np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        b = rng.integers(0, len(masks), m)
        i, j = rng.integers(0, per_mask, m), rng.integers(0, per_mask, m)
        w = rng.uniform(0, 1, (m, 1)).astype(np.float32)
        v = w * variants[b, i] + (1 - w) * variants[b, j]
        out[s:s + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    if scratch is not None:
        out.flush()
        path.with_suffix(".part").rename(path)
        return np.load(path, mmap_mode="r")
    return out


# ---- methods --------------------------------------------------------------------------------
def numpy_search(x: np.ndarray, q: np.ndarray, k: int, block: int = 64) -> np.ndarray:
    """Exact top-k by inner product, queries in blocks so the score matrix stays small."""
    out = np.empty((len(q), k), np.int64)
    for s in range(0, len(q), block):
        scores = q[s:s + block] @ x.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1)
        out[s:s + block] = np.take_along_axis(top, order, 1)
    return out


def build_index(kind: str, x: np.ndarray, nlist: int):
    import faiss

    from adstage.vision import shape_index

    d = x.shape[1]
    if kind == "flat":
        return shape_index.build(x, "flat_ip")
    if kind == "hnsw":
        return shape_index.build(x, "hnsw_ip")
    quantizer = faiss.IndexFlatIP(d)
    if kind == "ivf_flat":
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    elif kind == "ivf_sq8":
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(kind)
    train = x[np.random.default_rng(1).choice(len(x), min(len(x), 40 * nlist), replace=False)]
    index.train(train)
    index.add(x)
    index.quantizer_trains_alone = 0
    index.own_fields = True
    quantizer.this.disown()
    return index


def rerank(x: np.ndarray, q: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Exact inner products of each query with its candidates, re-sorted: what a quantised
    index needs for a reliable top-10 among near-identical shapes (the fp32 vectors are read
    from `x`, here a memory-mapped file)."""
    out = np.full_like(ids, -1)
    for i, row in enumerate(ids):
        cand = np.sort(row[row >= 0])
        order = np.argsort(-(x[cand] @ q[i]), kind="stable")
        out[i, :len(cand)] = cand[order]
    return out


def index_bytes_estimate(kind: str, n: int, d: int) -> int:
    """What the index will hold in memory: fp32 vectors, one byte per dimension for SQ8, plus
    HNSW's links (2 x M neighbours on level 0, 4-byte ids)."""
    if kind == "ivf_sq8":
        return n * d
    return n * d * 4 + (n * 2 * 32 * 4 if kind == "hnsw" else 0)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of the exact top-k that the method's top-k holds, averaged over queries."""
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth)]
    return float(np.mean(hits)) / k


def rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def timed(fn, *args, repeats: int = 1):
    """Result and the fastest of `repeats` calls: on a shared machine the minimum is the
    least disturbed measure."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return out, best


def bench_size(x: np.ndarray, q: np.ndarray, methods: list[str], nprobes: list[int],
               hnsw_max: int, hnsw_efs: list[int], repeats: int, with_rerank: bool = False
               ) -> list[dict]:
    import faiss

    n = len(x)
    rows = []
    numpy_search(x, q[:8], K_PAIRING)  # warm-up: BLAS threads, page faults
    truth, t_np = timed(numpy_search, x, q, K_PAIRING, repeats=repeats)
    rows.append({"n": n, "method": "numpy", "param": "", "build_s": 0.0, "query_s": t_np,
                 "recall10": 1.0, "recall100": 1.0, "index_bytes": x.nbytes, "rss": rss_bytes()})
    # ~sqrt(n) lists of ~sqrt(n) vectors; at least 39 training points per centroid.
    nlist = max(1, min(int(np.sqrt(n)), n // 39))
    import psutil

    for kind in methods:
        if kind == "hnsw" and n > hnsw_max:
            continue
        # A shared machine: never take more than half of what is left (the others' jobs would
        # meet the OOM killer).
        need, free = index_bytes_estimate(kind, n, x.shape[1]), psutil.virtual_memory().available
        if need > free / 2:
            print(f"skipping {kind} at {n:,}: needs ~{need >> 20} MB, {free >> 20} MB available",
                  flush=True)
            rows.append({"n": n, "method": kind, "param": "skipped (memory)", "build_s": 0.0,
                         "query_s": 0.0, "recall10": None, "recall100": None,
                         "index_bytes": need, "rss": rss_bytes()})
            continue
        index, t_build = timed(build_index, kind, x, nlist)
        nbytes = len(faiss.serialize_index(index))
        rss = rss_bytes()
        if kind.startswith("ivf"):
            params = [("nprobe", p) for p in nprobes if p <= nlist]
        elif kind == "hnsw":
            params = [("efSearch", e) for e in hnsw_efs]
        else:
            params = [("", None)]
        for name, value in params:
            if name == "nprobe":
                index.nprobe = value
            elif name == "efSearch":
                index.hnsw.efSearch = max(value, K_PAIRING)
            index.search(q[:8], K_PAIRING)  # warm-up: OpenMP threads
            (_, ids), t_q = timed(index.search, q, K_PAIRING, repeats=repeats)
            rows.append({"n": n, "method": kind, "param": f"{name}={value}" if name else "",
                         "nlist": nlist if kind.startswith("ivf") else None,
                         "build_s": t_build, "query_s": t_q,
                         "recall10": recall(ids, truth, K_RECALL),
                         "recall100": recall(ids, truth, K_PAIRING),
                         "index_bytes": nbytes, "rss": rss})
            if with_rerank and kind == "ivf_sq8":
                ids, t_r = timed(lambda: rerank(x, q, index.search(q, K_PAIRING)[1]),
                                 repeats=repeats)
                rows.append({**rows[-1], "method": "ivf_sq8+rerank", "query_s": t_r,
                             "recall10": recall(ids, truth, K_RECALL),
                             "recall100": recall(ids, truth, K_PAIRING)})
        del index
        gc.collect()
    for r in rows:
        r["speedup"] = t_np / r["query_s"] if r["query_s"] > 0 else None
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"{meta['queries']} queries of top-{K_PAIRING} (best of {meta['repeats']}), {meta['dim']}-d descriptors "
             f"({meta['vectors']}), {meta['threads']} threads; load average {meta['load_start']} "
             f"at the start, {meta['load_end']} at the end.", "",
             "| vectors | method | search parameter | build s | query s (batch) | ms / query | "
             "speed-up vs numpy | recall@10 | recall@100 | index MB | process RSS MB |",
             "| " + " | ".join(["---"] * 11) + " |"]
    for r in rows:
        if r["recall10"] is None:
            lines.append(f"| {r['n']:,} | {r['method']} | {r['param']} |" + " – |" * 8)
            continue
        lines.append(
            f"| {r['n']:,} | {r['method']} | {r['param'] or '–'} | {r['build_s']:.1f} | "
            f"{r['query_s']:.2f} | {1000 * r['query_s'] / meta['queries']:.2f} | "
            f"{r['speedup']:.1f}× | {r['recall10']:.3f} | {r['recall100']:.3f} | "
            f"{r['index_bytes'] / 2**20:.0f} | {r['rss'] / 2**20:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--methods", nargs="+", default=["flat", "hnsw", "ivf_flat", "ivf_sq8"],
                        choices=["flat", "hnsw", "ivf_flat", "ivf_sq8"])
    parser.add_argument("--nprobe", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--hnsw-ef", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--hnsw-max", type=int, default=100_000,
                        help="skip HNSW above this size (its build is the slowest by far)")
    parser.add_argument("--rerank", action="store_true",
                        help="also IVF-SQ8 with its top-100 re-ranked by exact fp32 products")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="query timing: best of N")
    parser.add_argument("--base-masks", type=int, default=1500,
                        help="distinct real silhouettes the vectors are drawn from")
    parser.add_argument("--ikea", type=Path, default=None,
                        help="IKEA data set root (default: adstage.vision.ikea's)")
    parser.add_argument("--synthetic", action="store_true",
                        help="synthetic silhouettes instead of IKEA cutouts")
    parser.add_argument("--scratch", type=Path, default=None,
                        help="folder for the memory-mapped vectors (default: in memory)")
    parser.add_argument("--out", type=Path, required=True,
                        help="results path without suffix: writes <out>.json and <out>.md")
    args = parser.parse_args(argv)

    import faiss

    from adstage.vision.ikea import DEFAULT_ROOT
    from adstage.vision.shape import DIM

    faiss.omp_set_num_threads(args.threads)
    load = lambda: " ".join(f"{v:.2f}" for v in os.getloadavg())  # noqa: E731
    meta = {"queries": args.queries, "repeats": args.repeats, "dim": DIM, "threads": args.threads, "load_start": load(),
            "command": " ".join(sys.argv), "when": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                 time.gmtime())}
    root = None if args.synthetic else (args.ikea or DEFAULT_ROOT)
    t = time.perf_counter()
    masks = base_masks(root, args.base_masks)
    meta["vectors"] = (f"{len(masks)} synthetic silhouettes" if root is None else
                       f"{len(masks)} IKEA product silhouettes") + ", randomly stretched/rotated"
    q = describe_variants(masks, args.queries, seed=10_001)
    x_all = draw(masks, max(args.sizes), seed=1, scratch=args.scratch)
    meta["draw_s"] = round(time.perf_counter() - t, 1)
    print(f"{len(masks)} base masks, {len(x_all):,} vectors in {meta['draw_s']} s", flush=True)
    rows: list[dict] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for n in sorted(args.sizes):
        rows += bench_size(x_all[:n], q, args.methods, args.nprobe, args.hnsw_max, args.hnsw_ef,
                           args.repeats, args.rerank)
        # Written after every size: the largest one may not finish on a busy machine.
        meta["load_end"] = load()
        Path(f"{args.out}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        Path(f"{args.out}.md").write_text(markdown(rows, meta))
        print(markdown([r for r in rows if r["n"] == n], meta), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
