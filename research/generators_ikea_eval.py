"""Held-apart IKEA evaluation of the gap-filling generators (issue 19, part 2).

    OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 19 .venv/bin/python research/generators_ikea_eval.py \
        --out /tmp/adstage-train/eval \
        --onnx shipped=models/generative/edgeconnect_edge.onnx,models/generative/edgeconnect_inpaint.onnx \
        --ckpt new_baseline=/tmp/adstage-train/edge/checkpoint.pt,/tmp/adstage-train/baseline/checkpoint.pt \
        --ckpt new_boundary=/tmp/adstage-train/edge/checkpoint.pt,/tmp/adstage-train/boundary/checkpoint.pt \
        --pix2pix shipped=models/generative/pix2pix.onnx --pix2pix-ckpt new=/tmp/adstage-train/pix2pix/checkpoint.pt

Rooms and products: the project's stable split (``data.ikea_split``, share 0.2, i.e.
``adstage.vision.ikea``): only held-apart rooms are filled, only held-apart product
silhouettes shape the holes; training never saw either. Rooms are area-resized to a 384 px
short side (as ``quantize_job.ikea_rooms`` and the training runs).

* **silhouette** holes: ``quantize.gap_crops`` -- a similar pair of product silhouettes
  (``SilhouetteBank.random_gap_mask``), cut into 256² crops exactly as the staging job cuts gaps;
* **free-form** holes: ``masks.free_form_mask`` on random 256² crops of the same rooms;
* **demo** (``--demo-products``): silhouette gap crops on a generated demo catalog (seed 7, the
  demo's own), to check a new model is not worse where the shipped one was trained.

Every EdgeConnect model runs as the nightly job runs it: exported ONNX pair in
``inference.EdgeConnectInpainter`` (Canny of the known pixels -> G1 -> G2), one thread.
Checkpoints (``--ckpt``) are exported first with ``publish.export_checkpoint`` (parity-checked)
into ``--out``. OpenCV Telea (``cv2.inpaint``, radius 3) is the non-learned reference.
Metrics on the composite: hole L1 ([0, 1] units) / PSNR, inner 2 px band L1, per crop, mean;
paired differences with a 95 % interval. pix2pix: held-apart products composited on held-apart
rooms (``data.composite_on_room``), L1 of the whole 128² scene and of the background only.
Nothing is written outside ``--out`` (no IKEA pixels in the repository).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from adstage.generative import data as data_mod
from adstage.generative import inference
from adstage.generative import metrics as M
from adstage.generative import quantize as q

log = logging.getLogger("generators_ikea_eval")
SEED = 19_2


def _pairs(specs: list[str]) -> dict[str, list[str]]:
    return {s.split("=", 1)[0]: s.split("=", 1)[1].split(",") for s in specs}


def held_rooms(root: str, share: float, short_side: int = 384) -> list[tuple[str, np.ndarray]]:
    """``(room id, BGR)`` of the held-apart rooms, as ``quantize_job.ikea_rooms`` loads them."""
    from adstage.generative.quantize_job import ikea_rooms

    held = {Path(p).stem for p in data_mod.ikea_split(root, share)["held_rooms"]}
    return [(rid, img) for rid, img in ikea_rooms(root, short_side) if rid in held]


def freeform_crops(rooms: list[tuple[str, np.ndarray]], per_room: int, size: int = 256) -> q.CropSet:
    from adstage.generative import masks

    crops, holes, src = [], [], []
    for i, (rid, bgr) in enumerate(rooms):
        rng = np.random.default_rng([SEED, i])
        for _ in range(per_room):
            crops.append(np.ascontiguousarray(data_mod.random_crop(bgr[..., ::-1], size, rng)))
            holes.append(masks.free_form_mask(size, size, rng))
            src.append(rid)
    return q.CropSet(np.stack(crops), np.stack(holes), tuple(src))


def telea(crops: q.CropSet) -> list[np.ndarray]:
    import cv2

    return [cv2.inpaint(c, (h > 0).astype(np.uint8), 3, cv2.INPAINT_TELEA) for c, h in zip(crops.crops, crops.holes)]


def per_crop(outs: list[np.ndarray], crops: q.CropSet) -> dict[str, np.ndarray]:
    res: dict[str, list[float]] = {"hole_l1": [], "hole_psnr": [], "band_l1": []}
    for o, t, h in zip(outs, crops.crops, crops.holes):
        o, t, h = o.astype(np.float32) / 255, t.astype(np.float32) / 255, h > 0
        res["hole_l1"].append(M.region_l1(o, t, h))
        res["hole_psnr"].append(M.region_psnr(o, t, h))
        res["band_l1"].append(M.region_l1(o, t, M.inner_band(h, 2)))
    return {k: np.asarray(v) for k, v in res.items()}


def paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    d = (b - a)[np.isfinite(a) & np.isfinite(b)]
    se = d.std(ddof=1) / np.sqrt(len(d))
    return {"diff": float(d.mean()), "lo": float(d.mean() - 1.96 * se), "hi": float(d.mean() + 1.96 * se)}


def export_ckpts(specs: dict[str, list[str]], out: Path) -> dict[str, list[str]]:
    from adstage.generative import publish

    pairs = {}
    for name, (edge_ck, inpaint_ck) in specs.items():
        d = out / "onnx" / name
        d.mkdir(parents=True, exist_ok=True)
        publish.export_checkpoint(edge_ck, ["edgeconnect_edge"], d)
        publish.export_checkpoint(inpaint_ck, ["edgeconnect_inpaint"], d)
        pairs[name] = [str(d / "edgeconnect_edge.onnx"), str(d / "edgeconnect_inpaint.onnx")]
    return pairs


def demo_crops(n_products: int) -> q.CropSet:
    import tempfile

    from adstage.demo.catalog import generate_catalog
    from adstage.generative.masks import SilhouetteBank
    from adstage.generative.quantize_job import demo_rooms

    with tempfile.TemporaryDirectory(prefix="adstage-eval-demo-") as tmp:
        rooms, masks = demo_rooms(generate_catalog(tmp, n_products, 7)["out_dir"])
    return q.gap_crops([(rid, img) for rid, img, _ in rooms], SilhouetteBank.from_masks(masks), SEED, 256,
                       holes_per_room=2)


# Paired G2 runs of one training (research/generators_ikea_train.sh), as ``b − a``.
RUN_PAIRS = [(p + b, p + a) for p in ("new_", "") for b, a in
             (("boundary", "baseline"), ("uniform", "baseline"), ("boundary", "uniform"))]


def comparisons(names: list[str]) -> list[tuple[str, str]]:
    """``(b, a)`` pairs reported as ``b − a``: the paired runs (boundary, uniform, baseline),
    every model vs the shipped one, every model vs Telea."""
    out = [(b, a) for b, a in RUN_PAIRS if b in names and a in names]
    out += [(m, "shipped") for m in names if m not in ("shipped", "opencv_telea") and "shipped" in names]
    out += [(m, "opencv_telea") for m in names if m != "opencv_telea"]
    return out


def eval_edgeconnect(models: dict[str, list[str]], sets: dict[str, q.CropSet]) -> dict:
    results: dict = {"tables": {}, "paired": {}, "n": {k: len(v) for k, v in sets.items()},
                     "hole_fraction": {k: float((v.holes > 0).mean()) for k, v in sets.items()}}
    for kind, crops in sets.items():
        per: dict[str, dict[str, np.ndarray]] = {}
        t = time.monotonic()
        per["opencv_telea"] = per_crop(telea(crops), crops)
        for name, (edge, inpaint) in models.items():
            runner = inference.EdgeConnectInpainter(inference.session(edge, threads=1),
                                                    inference.session(inpaint, threads=1))
            t = time.monotonic()
            per[name] = per_crop(runner(list(crops.crops), list(crops.holes)), crops)
            per[name]["seconds_per_crop"] = np.asarray([(time.monotonic() - t) / len(crops)])
        results["tables"][kind] = {m: {k: float(np.nanmean(v)) for k, v in d.items()} for m, d in per.items()}
        for b, a in comparisons(list(per)):
            results["paired"][f"{kind}|{b} − {a}"] = {k: paired(per[a][k], per[b][k])
                                                      for k in ("hole_l1", "hole_psnr", "band_l1")}
        log.info("%s: %s", kind, json.dumps(results["tables"][kind]))
    return results


def eval_pix2pix(models: dict[str, str], root: str, share: float, n: int, size: int = 128) -> dict:
    from adstage.generative import masks

    split = data_mod.ikea_split(root, share)
    rng = np.random.default_rng(SEED)
    rooms = [data_mod.read_rgb(p, 2 * size) for p in split["held_rooms"]]
    prods = split["held_products"]
    pairs = []
    while len(pairs) < n:
        prod = data_mod.read_rgb(prods[int(rng.integers(len(prods)))])
        pmask = masks.product_mask_from_white(prod)
        if (pmask > 0).mean() < 0.02:
            continue
        scene, mask = data_mod.composite_on_room(rooms[int(rng.integers(len(rooms)))], prod, pmask, rng)
        x, y = data_mod.paired_example(scene, mask, size)
        pairs.append((x, y, (x != 255).any(-1)))
    out = {}
    # Non-learned reference rows: the input itself (product on white) and the product on the
    # training rooms' mean colour.
    train_mean = np.mean([data_mod.read_rgb(p, 64).reshape(-1, 3).mean(0) for p in split["train_rooms"]], 0)
    refs = {"ref_product_on_white": np.stack([p[0] for p in pairs]),
            "ref_product_on_mean_room_colour": np.stack([np.where(fg[..., None], x, train_mean).astype(np.uint8)
                                                         for x, _, fg in pairs])}
    for name, path in {**refs, **models}.items():
        if isinstance(path, np.ndarray):
            pred = path
        else:
            stager = inference.Pix2PixStager(inference.session(path, threads=1), size)
            pred = stager([p[0] for p in pairs])
        whole, bg = [], []
        for (x, y, fg), s in zip(pairs, pred):
            s, y = s.astype(np.float32) / 255, y.astype(np.float32) / 255
            whole.append(np.abs(s - y).mean())
            bg.append(M.region_l1(s, y, ~fg))
        out[name] = {"scene_l1": float(np.mean(whole)), "background_l1": float(np.nanmean(bg)), "n": len(pairs)}
        log.info("pix2pix %s: %s", name, out[name])
    return out


def markdown(res: dict) -> str:
    lines = []
    for kind, table in res.get("edgeconnect", {}).get("tables", {}).items():
        lines += [f"\n**{kind} holes** (n={res['edgeconnect']['n'][kind]} crops 256², mean hole fraction "
                  f"{res['edgeconnect']['hole_fraction'][kind]:.3f})\n",
                  "| model | hole L1 | hole PSNR | band L1 (2 px) | s / crop (1 thread) |", "|---|---|---|---|---|"]
        for m, r in table.items():
            sec = f"{r['seconds_per_crop']:.3f}" if "seconds_per_crop" in r else "-"
            lines.append(f"| {m} | {r['hole_l1']:.4f} | {r['hole_psnr']:.2f} | {r['band_l1']:.4f} | {sec} |")
    if res.get("edgeconnect", {}).get("paired"):
        lines += ["\n**Paired differences** (b − a, mean over crops, 95 % CI)\n",
                  "| holes | b − a | hole L1 | hole PSNR | band L1 (2 px) |", "|---|---|---|---|---|"]
        for key, d in res["edgeconnect"]["paired"].items():
            kind, pair = key.split("|")
            f = lambda x: f"{x['diff']:+.4f} [{x['lo']:+.4f}, {x['hi']:+.4f}]"  # noqa: E731
            band = f(d["band_l1"]) if "band_l1" in d else "-"
            lines.append(f"| {kind} | {pair} | {f(d['hole_l1'])} | {f(d['hole_psnr'])} | {band} |")
    if res.get("pix2pix"):
        lines += ["\n**pix2pix** (held-apart products on held-apart rooms, 128²)\n",
                  "| model | scene L1 | background L1 | n |", "|---|---|---|---|"]
        for m, r in res["pix2pix"].items():
            lines.append(f"| {m} | {r['scene_l1']:.4f} | {r['background_l1']:.4f} | {r['n']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/tmp/adstage-train/eval")
    p.add_argument("--root", default=data_mod.IKEA_ROOT)
    p.add_argument("--share", type=float, default=0.2)
    p.add_argument("--onnx", action="append", default=[], help="name=EDGE.onnx,INPAINT.onnx")
    p.add_argument("--ckpt", action="append", default=[], help="name=EDGE_CKPT,INPAINT_CKPT (exported first)")
    p.add_argument("--holes-per-room", type=int, default=4, help="silhouette gaps per held-apart room")
    p.add_argument("--freeform-per-room", type=int, default=6)
    p.add_argument("--demo-products", type=int, default=40, help="0: skip the demo-catalog check")
    p.add_argument("--pix2pix", action="append", default=[], help="name=pix2pix.onnx")
    p.add_argument("--pix2pix-ckpt", action="append", default=[], help="name=CKPT (exported first)")
    p.add_argument("--pix2pix-n", type=int, default=120)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    res: dict = {"command": "research/generators_ikea_eval.py", "share": args.share}
    models = {k: v for k, v in _pairs(args.onnx).items()} | export_ckpts(_pairs(args.ckpt), out)
    if models:
        rooms = held_rooms(args.root, args.share)
        bank = data_mod.product_bank(data_mod.ikea_split(args.root, args.share)["held_products"])
        sets = {"silhouette": q.gap_crops(rooms, bank, SEED, 256, holes_per_room=args.holes_per_room),
                "freeform": freeform_crops(rooms, args.freeform_per_room)}
        if args.demo_products:
            sets["demo_silhouette"] = demo_crops(args.demo_products)
        res["rooms"] = len(rooms)
        res["edgeconnect"] = eval_edgeconnect(models, sets)
        res["edgeconnect"]["models"] = models
    p2p = dict(_pairs(args.pix2pix))
    if args.pix2pix_ckpt:
        from adstage.generative import publish

        for name, (ck,) in _pairs(args.pix2pix_ckpt).items():
            d = out / "onnx" / name
            d.mkdir(parents=True, exist_ok=True)
            publish.export_checkpoint(ck, ["pix2pix"], d)
            p2p[name] = [str(d / "pix2pix.onnx")]
    if p2p:
        res["pix2pix"] = eval_pix2pix({k: v[0] for k, v in p2p.items()}, args.root, args.share, args.pix2pix_n)
    res["seconds"] = round(time.monotonic() - t0, 1)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    (out / "results.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
