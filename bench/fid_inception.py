"""FID with the set-up's Inception (``adstage-fid-inception``, onnxruntime) on IKEA photos, the
Fréchet distance by its three implementations, and the time per image on 2 threads.

    PYTHONPATH=. python bench/fid_inception.py --out docs/bench/fid-inception

Reads the IKEA research set in place (``adstage.vision.ikea.DEFAULT_ROOT``; nothing is copied):
the 130 room photos and a seeded sample of the product photos (``--products``, seed
``--seed``), decoded with OpenCV as ingest does. Features: ``adstage.evaluation.features`` (the
pipeline's own input function and extractor), one onnxruntime session with ``--threads``
intra-op threads.

Figures (each FID also with ``adstage-randfeat-v1`` beside it, and KID):

* ``rooms_half``: rooms against rooms, the two halves of ``seam.split_halves``' hash order
  (65 vs 65);
* ``rooms_products_<n>``: the first ``n`` rooms in that hash order against ``n`` sampled
  products, for n = 60 (MODEL-SOURCES.md's setting) and all 130;
* ``rooms_products_60_draws``: the spread over ``--draws`` other seeded draws: 60 rooms against
  60 of the sampled products, and against 60 other rooms (disjoint) — a 60-image FID is as
  much the sample as the sets;
* ``implementations``: each FID by ``frechet_distance`` (the SVD form the pipeline uses), the
  symmetric eigenvalue form (``trace_sqrt_product``) and ``scipy.linalg.sqrtm``
  (``frechet_distance_sqrtm``), with their relative differences and seconds;
* ``timing``: per image, the input function (decode excluded) and the ONNX call, in batches of
  ``--batch`` and one at a time, wall and process CPU seconds, with the load average
  (``--timing-only``: that alone, on the rooms, appended to ``<out>.json``'s runs — to
  re-measure on a quieter machine).

Writes ``<out>.json`` and ``<out>.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def load_avg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def read(paths: list[Path]) -> list[np.ndarray]:
    out = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"cannot decode {p}")
        out.append(img)
    return out


def hash_order(ids: list[str]) -> list[int]:
    """Indices in seam.split_halves' order (blake2b of the id): stable, unrelated to content."""
    from adstage.evaluation.seam import _half

    return sorted(range(len(ids)), key=lambda i: (_half(ids[i]), ids[i]))


def timed_features(embed, images: list[np.ndarray], batch: int) -> tuple[np.ndarray, dict]:
    """Features, and the seconds per image spent in the input function and the ONNX call."""
    sess = embed.session
    name = sess.get_inputs()[0].name
    sess.run(None, {name: embed.prepare(images[:1])})  # warm-up
    prep_wall = prep_cpu = run_wall = run_cpu = 0.0
    out = []
    for i in range(0, len(images), batch):
        w0, c0 = time.perf_counter(), time.process_time()
        x = embed.prepare(images[i:i + batch])
        w1, c1 = time.perf_counter(), time.process_time()
        out.append(sess.run(None, {name: x})[0])
        w2, c2 = time.perf_counter(), time.process_time()
        prep_wall, prep_cpu = prep_wall + w1 - w0, prep_cpu + c1 - c0
        run_wall, run_cpu = run_wall + w2 - w1, run_cpu + c2 - c1
    n = len(images)
    return np.concatenate(out).astype(np.float64), {
        "images": n, "batch": batch,
        "input_ms_per_image": round(1e3 * prep_wall / n, 1),
        "onnx_ms_per_image": round(1e3 * run_wall / n, 1),
        "onnx_cpu_ms_per_image": round(1e3 * run_cpu / n, 1)}


def single_latency(embed, images: list[np.ndarray], n: int) -> dict:
    sess = embed.session
    name = sess.get_inputs()[0].name
    walls, cpus = [], []
    for im in images[:n]:
        x = embed.prepare([im])
        w0, c0 = time.perf_counter(), time.process_time()
        sess.run(None, {name: x})
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return {"images": n, "batch": 1, "onnx_ms_median": round(1e3 * float(np.median(walls)), 1),
            "onnx_ms_min": round(1e3 * float(np.min(walls)), 1),
            "onnx_cpu_ms_median": round(1e3 * float(np.median(cpus)), 1)}


def three_ways(a: np.ndarray, b: np.ndarray, sqrtm: bool = True) -> dict:
    from adstage.evaluation.frechet import (frechet_distance, frechet_distance_sqrtm, gaussian,
                                            trace_sqrt_product)

    t = time.perf_counter()
    fd = frechet_distance(a, b)
    out = {"fd": fd, "seconds": round(time.perf_counter() - t, 3)}
    t = time.perf_counter()
    (m1, s1), (m2, s2) = gaussian(a), gaussian(b)
    eig = float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2)
                - 2 * trace_sqrt_product(s1, s2))
    out["eig"] = {"fd": eig, "rel_diff": abs(eig - fd) / abs(fd),
                  "seconds": round(time.perf_counter() - t, 2)}
    if sqrtm:
        t = time.perf_counter()
        ref = frechet_distance_sqrtm(a, b)
        out["sqrtm"] = {"fd": ref, "rel_diff": abs(ref - fd) / abs(fd),
                        "seconds": round(time.perf_counter() - t, 2)}
    return out


def kid_of(a: np.ndarray, b: np.ndarray) -> list[float]:
    from adstage.evaluation.kid import kid

    return [round(v, 5) for v in kid(a, b, seed=0)]


def main(argv: list[str] | None = None) -> int:
    from adstage.evaluation import features
    from adstage.evaluation.frechet import frechet_distance
    from adstage.onnx_runtime import OrtOptions
    from adstage.vision.ikea import DEFAULT_ROOT

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output stem (writes <out>.json and <out>.md)")
    ap.add_argument("--ikea-root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--products", type=int, default=130, help="products sampled (>= 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--no-sqrtm", action="store_true", help="skip scipy's sqrtm (~30 s a FID)")
    ap.add_argument("--timing-only", action="store_true",
                    help="only the timing, on the rooms (to re-measure on a quieter machine)")
    args = ap.parse_args(argv)

    onnx = features.fid_model_path("")
    if not onnx:
        raise SystemExit("the FID Inception is not built: make fid-model")
    opts = OrtOptions(threads=args.threads)
    inc = features.embedder(onnx, options=opts)
    rnd = features.randfeat_embedder(options=opts)
    room_paths = sorted((args.ikea_root / "rooms").glob("*.jpg"))
    all_products = sorted((args.ikea_root / "products").glob("*.jpg"))
    rng = np.random.default_rng(args.seed)
    prod_paths = [all_products[i] for i in
                  sorted(rng.choice(len(all_products), args.products, replace=False))]
    load_before = load_avg()
    t0 = time.perf_counter()
    rooms, products = read(room_paths), read(prod_paths)
    decode_ms = 1e3 * (time.perf_counter() - t0) / (len(rooms) + len(products))
    f_rooms, timing = timed_features(inc, rooms, args.batch)
    if args.timing_only:
        latency = single_latency(inc, rooms, 20)
        doc = {"command": "PYTHONPATH=. python bench/fid_inception.py "
                          + " ".join(argv or sys.argv[1:]),
               "extractor": inc.name, "threads": args.threads,
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
               "load_avg_before": load_before, "load_avg_after": load_avg(),
               "timing": {"rooms": timing, "single": latency}}
        doc["date"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
        out = Path(args.out).with_suffix(".json")
        out.parent.mkdir(parents=True, exist_ok=True)
        runs = json.loads(out.read_text())["runs"] if out.is_file() else []
        out.write_text(json.dumps({"runs": runs + [doc]}, indent=1) + "\n")  # every run kept
        print(json.dumps(doc, indent=1))
        return 0
    f_products, timing_p = timed_features(inc, products, args.batch)
    latency = single_latency(inc, rooms, 20)
    size = 128  # eval_image_size: the random features' whole-image side
    r_rooms = features.whole_image_features(rnd, rooms, size)
    r_products = features.whole_image_features(rnd, products, size)
    load_after = load_avg()

    order = hash_order([p.stem for p in room_paths])
    first, second = order[0::2], order[1::2]
    results: dict = {}

    def figure(key, ia, fa, ra, ib, fb, rb, sqrtm=True):
        results[key] = {"n": [len(ia), len(ib)],
                        "inception": {**three_ways(fa[ia], fb[ib], sqrtm),
                                      "kid": kid_of(fa[ia], fb[ib])},
                        "randfeat": {"fd": three_ways(ra[ia], rb[ib], False)["fd"],
                                     "kid": kid_of(ra[ia], rb[ib])}}
        print(key, json.dumps(results[key]["inception"]), flush=True)

    figure("rooms_half", first, f_rooms, r_rooms, second, f_rooms, r_rooms, not args.no_sqrtm)
    figure("rooms_products_60", order[:60], f_rooms, r_rooms, list(range(60)), f_products,
           r_products, not args.no_sqrtm)
    figure("rooms_products_130", order, f_rooms, r_rooms, list(range(args.products)),
           f_products, r_products, not args.no_sqrtm)
    draws = []
    drng = np.random.default_rng(args.seed + 1)
    for _ in range(args.draws):
        perm = drng.permutation(len(rooms))
        ia, ja = sorted(perm[:60]), sorted(perm[60:120])  # two disjoint sets of rooms
        ib = sorted(drng.choice(len(products), 60, replace=False))
        draws.append({"rooms_products": frechet_distance(f_rooms[ia], f_products[ib]),
                      "rooms_rooms": frechet_distance(f_rooms[ia], f_rooms[ja])})
    results["rooms_products_60_draws"] = draws

    doc = {
        "command": "PYTHONPATH=. python bench/fid_inception.py " + " ".join(argv or sys.argv[1:]),
        "extractor": inc.name, "onnx": onnx, "randfeat": rnd.name,
        "rooms": len(rooms), "products_sampled": len(products),
        "products_in_set": len(all_products), "seed": args.seed,
        "threads": args.threads, "machine": f"{platform.processor() or platform.machine()}, "
                                            f"{os.cpu_count()} CPUs",
        "load_avg_before": load_before, "load_avg_after": load_after,
        "decode_ms_per_image": round(decode_ms, 1),
        "timing": {"rooms": timing, "products": timing_p, "single": latency},
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(doc))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


def markdown(doc: dict) -> str:
    r = doc["results"]
    lines = [f"# FID on IKEA photos, `{doc['extractor']}` (bench/fid_inception.py)", "",
             f"`{doc['command']}`", "",
             f"{doc['rooms']} rooms, {doc['products_sampled']} of {doc['products_in_set']} "
             f"products (seed {doc['seed']}); onnxruntime, {doc['threads']} threads; "
             f"{doc['machine']}; load average {doc['load_avg_before']} -> "
             f"{doc['load_avg_after']}.", "",
             "| comparison | images | FID (Inception) | eig form, rel. diff | sqrtm, rel. diff "
             "| KID (Inception) | FD (randfeat-v1) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for key in ("rooms_half", "rooms_products_60", "rooms_products_130"):
        f = r[key]["inception"]
        sq = f.get("sqrtm")
        lines.append(
            f"| {key} | {r[key]['n'][0]} vs {r[key]['n'][1]} | {f['fd']:.2f} | "
            f"{f['eig']['rel_diff']:.1e} | "
            + (f"{sq['rel_diff']:.1e} ({sq['seconds']:.0f} s vs {f['seconds']:.3f} s)" if sq
               else "not run") + f" | {f['kid'][0]:.4f} | "
            f"{r[key]['randfeat']['fd']:.3f} |")
    d = r["rooms_products_60_draws"]
    rp = [x["rooms_products"] for x in d]
    rr = [x["rooms_rooms"] for x in d]
    lines += ["", f"Other draws of 60 vs 60 ({len(d)}): rooms vs products "
              f"{min(rp):.1f}–{max(rp):.1f}, rooms vs 60 other rooms "
              f"{min(rr):.1f}–{max(rr):.1f}.", ""]
    t = doc["timing"]
    lines += ["| timing, per image | input function | ONNX (wall) | ONNX (process CPU) |",
              "| --- | --- | --- | --- |"]
    for k in ("rooms", "products"):
        lines.append(f"| {k}, batches of {t[k]['batch']} | {t[k]['input_ms_per_image']} ms | "
                     f"{t[k]['onnx_ms_per_image']} ms | {t[k]['onnx_cpu_ms_per_image']} ms |")
    s = t["single"]
    lines.append(f"| one image a call (median of {s['images']}) | – | {s['onnx_ms_median']} ms "
                 f"(min {s['onnx_ms_min']}) | {s['onnx_cpu_ms_median']} ms |")
    lines.append(f"\nJPEG decode (OpenCV): {doc['decode_ms_per_image']} ms per image.\n")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
