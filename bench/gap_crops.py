"""Copy-paste inpainting: gap crops (what the nightly job does) vs full-frame inpainting at the same
output resolution, side by side in one run: FLOPs and wall time per staged image, crops per image,
and the crop batch size (crops of many products per onnxruntime call) that is fastest here.
"Gap crops" is what the job runs (``composite.gap_crops``): fixed-size crops, pooled across
images, except for an image whose crops would hold more pixels than the image itself (a gap
spread over the photo, tiled with overlaps): that one is inpainted whole, in a call of its own
(``staging_full_frame_max_px``).  The fixed-crops-only cost is printed beside it.

    PYTHONPATH=. python bench/gap_crops.py --ikea-products 40 --room-sides 384 768 \
        --demo-products 40 --batches 1 2 4 8 16 32 --out /tmp/adstage-bench/gap_crops.json

Pairs: **IKEA** = the IKEA staging comparison's own pairing (``research.ikea_comparison``:
shipped segmenter's donor slots in the non-held-apart rooms, one shape index, ``pair_donors.pair``,
first donor passing the copy-paste job's fit/gap checks), rooms at ``--room-sides`` px on the
short side (384 is the comparison's working size; 768 is about the photos' native size);
**demo** = the project's demo catalog (generated into a temporary folder): each unstaged product
in the first same-category staged photo that passes the same checks, ground-truth masks as the
slot and the product's alpha.  The generators are the shipped ones (``models/generative/``).

FLOPs: multiply-adds x2 of every convolution of both EdgeConnect networks
(``bench/edgeconnect_inference.conv_flops`` on torch replicas of the shipped architecture, random
weights: the count does not depend on them), per pixel of network input; the networks are fully
convolutional, so a call costs that times its (padded) pixels.  Wall time: onnxruntime on the
CPU, ``--threads`` intra-op threads (1 = what one Spark task gets), the median of ``--repeats``
passes over all the images after a warm-up; gap-crop time includes cutting the crops and pasting
them back, full-frame time blanking the gap and pasting it back.  Everything else a staged image
costs (placement, shadow, compositing, PNG encoding) is the same for both and not counted.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent / "models" / "generative"


def _edgeconnect_bench():
    spec = importlib.util.spec_from_file_location("edgeconnect_inference",
                                                  HERE / "edgeconnect_inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Pair(NamedTuple):
    """One product placed in its accepted donor slot."""

    source: str
    product_id: str
    room: np.ndarray
    slot: np.ndarray
    product: np.ndarray
    alpha: np.ndarray
    box: list | None
    backdrop: list | None
    placed: object


def load_avg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


# ---- FLOPs ---------------------------------------------------------------------------------
def flops_per_pixel(size: int = 256) -> float:
    """Conv FLOPs of the shipped edge + inpaint generators per input pixel (replicas built from
    the model cards), checked to scale with the pixel count on a non-square size."""
    import torch

    from adstage.generative.edgeconnect import EdgeGenerator, InpaintGenerator
    from adstage.generative.export import EdgeExport, InpaintExport

    conv_flops = _edgeconnect_bench().conv_flops
    cards = {k: json.loads((MODELS / f"edgeconnect_{k}.card.json").read_text())["architecture"]
             for k in ("edge", "inpaint")}
    e, i = cards["edge"], cards["inpaint"]
    g1 = EdgeExport(EdgeGenerator(e["base_channels"], e["res_blocks"],
                                  e.get("use_spectral_norm", True))).eval()
    g2 = InpaintExport(InpaintGenerator(i["base_channels"], i["res_blocks"])).eval()

    def per_pixel(h: int, w: int) -> float:
        one = torch.zeros(1, 1, h, w)
        total = conv_flops(g1, [one, one, one]) + conv_flops(g2, [torch.zeros(1, 3, h, w), one, one])
        return total / (h * w)

    fpp = per_pixel(size, size)
    other = per_pixel(size // 2, size * 3 // 4)
    if abs(other - fpp) > 1e-6 * fpp:
        raise AssertionError(f"FLOPs per pixel differ with the size: {fpp} vs {other}")
    return fpp


def padded_pixels(h: int, w: int, multiple: int = 4) -> int:
    return (h + (-h) % multiple) * (w + (-w) % multiple)


# ---- pairs ---------------------------------------------------------------------------------
def ikea_pairs(n: int, seed: int, room_side: int, cache: Path) -> list[Pair]:
    """The IKEA comparison's pairs at ``room_side`` (donor slots cached under ``cache``)."""
    from adstage import registry
    from adstage.config import Settings
    from adstage.evalsplit import is_holdout
    from research import ikea_comparison as cmp
    from adstage.onnx_runtime import session_from_bytes
    from adstage.staging.copy_paste import CopyPasteParams
    from adstage.vision import ikea, shape
    from adstage.vision.backdrop_cutout import cut_out
    from adstage.vision.pair_donors import PairingParams, Query, pair
    from adstage.vision.slots import Segmenter

    root = ikea.DEFAULT_ROOT
    if not (root / "rooms.jsonl").is_file():
        raise SystemExit(f"IKEA research set not found at {root} (ADSTAGE_IKEA_ROOT)")
    settings, params = Settings.load({}, environ={}), CopyPasteParams()
    rooms = [json.loads(x) for x in (root / "rooms.jsonl").read_text().splitlines() if x.strip()]
    donors = [r for r in rooms if not is_holdout(r["room_id"], settings.eval_holdout_share)]
    seg = Segmenter(session_from_bytes(registry.shipped("segmenter", "segmenter.onnx").data, "cpu"))
    slots = cmp.donor_slots(donors, root, room_side, seg, cache / f"slots-{room_side}.pkl")
    by_id = {s["slot_id"]: s for s in slots}
    indexes = cmp.shape_index(slots, settings)
    pparams = PairingParams(settings.pairing_top_k, settings.pairing_max_aspect_log_ratio,
                            settings.pairing_min_similarity, settings.pairing_max_upscale)
    records = [json.loads(x) for x in (root / "products.jsonl").read_text().splitlines()
               if x.strip()]
    out, photos = [], {}
    for rec in cmp.sample_products(records, max(n, 0), seed):
        product = cv2.imread(str(root / rec["image"]))
        c = cut_out(product) if product is not None else None
        if c is None or not c.ok:
            continue
        d = shape.describe(c.mask)
        ranked = pair(Query(rec["product_id"], ikea.category_of(rec.get("type", "")),
                            rec["product_id"], d.vector, d.aspect, c.box), indexes, pparams)
        for donor in ranked:
            if donor.get("reason"):
                break
            sl = by_id[donor["slot_id"]]
            if sl["image_id"] not in photos:
                photos[sl["image_id"]] = cmp.fit_short_side(cv2.imread(str(root / sl["image"])),
                                                            room_side)[0]
            room = photos[sl["image_id"]]
            slot = cv2.imdecode(np.frombuffer(sl["mask_png"], np.uint8), cv2.IMREAD_GRAYSCALE)
            placed, _ = cmp.accept_donor(room.shape[:2], slot, product, c.alpha, params,
                                         product_box=c.box, backdrop_bgr=c.background_bgr)
            if placed is not None:
                out.append(Pair("ikea", rec["product_id"], room, slot, product, c.alpha, c.box,
                                c.background_bgr, placed))
                break
    return out


def demo_pairs(n: int, seed: int, folder: Path, size: tuple[int, int] = (512, 384)) -> list[Pair]:
    """Demo-catalog pairs: each unstaged product in the first same-category staged photo that
    passes the copy-paste checks (ground-truth masks as slot and alpha)."""
    from adstage.demo.catalog import generate_catalog
    from research.ikea_comparison import accept_donor
    from adstage.staging.copy_paste import CopyPasteParams

    generate_catalog(folder, n, seed=seed, staged_size=size)
    truth = [json.loads(x) for x in (folder / "ground_truth.jsonl").read_text().splitlines()]
    staged = [t for t in truth if t["staged"]]
    params, out = CopyPasteParams(), []
    for t in (t for t in truth if not t["staged"]):
        product = cv2.imread(str(folder / t["unstaged"]["image"]))
        alpha = cv2.imread(str(folder / t["unstaged"]["mask"]), cv2.IMREAD_GRAYSCALE)
        for d in (d for d in staged if d["category"] == t["category"]):
            room = cv2.imread(str(folder / d["staged"]["image"]))
            slot = cv2.imread(str(folder / d["staged"]["mask"]), cv2.IMREAD_GRAYSCALE)
            placed, _ = accept_donor(room.shape[:2], slot, product, alpha, params,
                                     product_box=t["unstaged"]["box"])
            if placed is not None:
                out.append(Pair("demo", t["product_id"], room, slot, product, alpha,
                                t["unstaged"]["box"], None, placed))
                break
    return out


# ---- timing --------------------------------------------------------------------------------
def prepared(pairs: list[Pair], crop_size: int):
    """Every pair up to the inpainter, with fixed-size crops only (the whole-frame choice is
    made again in ``gap_crop_pass``, as ``composite.gap_crops`` makes it in the job)."""
    from adstage.staging.composite import prepare_copy_paste
    from adstage.staging.copy_paste import CopyPasteParams

    p = CopyPasteParams()
    return [prepare_copy_paste(x.room, x.slot, x.product, x.alpha, dilate_px=p.dilate_px,
                               crop_size=crop_size, shadow=None, product_box=x.box,
                               backdrop_bgr=x.backdrop, placed=x.placed) for x in pairs]


def gap_crop_pass(pending, inpaint_fn, crop_size: int, max_frame_px: int) -> float:
    """Seconds to inpaint every image's gap as the job does: fixed-size crops of all images
    pooled, each image whose gap is cheaper whole in a call of its own."""
    from adstage.staging.composite import gap_crops, paste_filled

    t0 = time.perf_counter()
    cut = [gap_crops(p.context, p.gap, crop_size, max_frame_px) for p in pending]
    tiles = [c for c in cut if len(c[1]) and c[1].shape[1:3] == (crop_size, crop_size)]
    filled = iter(inpaint_fn(np.concatenate([c for _, c, _ in tiles]),
                             np.concatenate([h for _, _, h in tiles])) if tiles else [])
    for p, (boxes, c, h) in zip(pending, cut):
        if not boxes:
            continue
        out = (np.stack([next(filled) for _ in boxes]) if c.shape[1:3] == (crop_size, crop_size)
               else inpaint_fn(c, h))
        paste_filled(p.context, p.gap, boxes, c, out)
    return time.perf_counter() - t0


def full_frame_pass(pending, runner) -> float:
    """Seconds to inpaint every image's gap with one full-frame call per image."""
    t0 = time.perf_counter()
    for p in pending:
        blank = p.context.copy()
        blank[p.gap > 0] = 255
        filled = runner.fill(np.ascontiguousarray(blank[..., ::-1]), p.gap)[..., ::-1]
        np.where((p.gap > 0)[..., None], filled, p.context)
    return time.perf_counter() - t0


def flop_counts(pending, crop_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image: gap crops and padded full-frame pixels."""
    crops = np.array([len(p.boxes) for p in pending], float)
    return crops, np.array([padded_pixels(*p.gap.shape) for p in pending], float)


def flop_row(name: str, crops: np.ndarray, pixels: np.ndarray, heights, widths, fpp: float,
             crop_size: int, max_frame_px: int) -> dict:
    """``gap_crops`` = what the job runs (``composite.gap_crops``: fixed-size crops, or the
    whole frame when its crops would hold more pixels and it is under ``max_frame_px``);
    ``fixed_crops`` = fixed-size crops for every image."""
    crop_px = crops * crop_size ** 2
    whole = (crop_px > pixels) & (pixels <= max_frame_px) if max_frame_px else crop_px < 0
    job_px = np.where(whole, pixels, crop_px)
    gflop = {k: float(v.mean() * fpp / 1e9) for k, v in
             (("full", pixels), ("fixed", crop_px), ("job", job_px))}
    return {"pairs": name, "images": len(crops), "mean_height": round(float(np.mean(heights))),
            "mean_width": round(float(np.mean(widths))),
            "mean_crops": round(float(crops.mean()), 2), "max_crops": int(crops.max()),
            "gflop_full_frame": round(gflop["full"], 2),
            "gflop_fixed_crops": round(gflop["fixed"], 2),
            "flop_ratio_fixed_crops": round(gflop["full"] / gflop["fixed"], 2),
            "share_whole": round(float(whole.mean()), 2),
            "gflop_gap_crops": round(gflop["job"], 2),
            "flop_ratio": round(gflop["full"] / gflop["job"], 2)}


def measure(name: str, pairs: list[Pair], fpp: float, crop_size: int, batches: list[int],
            threads: int, repeats: int) -> dict:
    """FLOPs of every pair; with ``batches``, wall time too (gap crops per batch size, full
    frame)."""
    from adstage.generative.inference import EdgeConnectInpainter, session
    from adstage.staging.composite import rgb_inpainter

    from adstage.staging.copy_paste import CopyPasteParams

    max_px = CopyPasteParams().full_frame_max_px
    if not batches:  # FLOPs only: no need to keep every image's crops at once
        counts = [flop_counts(prepared([x], crop_size), crop_size) for x in pairs]
        return flop_row(name, np.concatenate([c for c, _ in counts]),
                        np.concatenate([p for _, p in counts]),
                        [x.room.shape[0] for x in pairs], [x.room.shape[1] for x in pairs],
                        fpp, crop_size, max_px)
    pending = prepared(pairs, crop_size)
    n = len(pending)
    crops, pixels = flop_counts(pending, crop_size)
    row = flop_row(name, crops, pixels, [p.gap.shape[0] for p in pending],
                   [p.gap.shape[1] for p in pending], fpp, crop_size, max_px)
    sessions = [session(MODELS / f"edgeconnect_{k}.onnx", "cpu", threads) for k in ("edge", "inpaint")]

    def median(fn) -> float:
        fn()  # warm-up: first-call allocations and the memory pattern
        return statistics.median(fn() for _ in range(repeats))

    per_batch = {}
    for b in batches:
        runner = rgb_inpainter(EdgeConnectInpainter(*sessions, batch=b))
        per_batch[b] = median(lambda: gap_crop_pass(pending, runner, crop_size, max_px)) / n
    best = min(per_batch, key=per_batch.get)
    full = median(lambda: full_frame_pass(pending, EdgeConnectInpainter(*sessions))) / n
    return {**row, "ms_full_frame": round(full * 1e3, 1),
            "ms_gap_crops": round(per_batch[best] * 1e3, 1),
            "time_ratio": round(full / per_batch[best], 2), "best_batch": best,
            "ms_per_image_by_batch": {b: round(v * 1e3, 1) for b, v in per_batch.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ikea-products", type=int, default=40,
                        help="IKEA products sampled (0 = skip the IKEA pairs, -1 = all)")
    parser.add_argument("--room-sides", type=int, nargs="+", default=[384, 768],
                        help="IKEA room short side(s), px")
    parser.add_argument("--demo-products", type=int, default=40,
                        help="demo catalog size (0 = skip the demo pairs)")
    parser.add_argument("--demo-size", type=int, nargs=2, default=[512, 384],
                        metavar=("W", "H"), help="demo staged photo size (the demo's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crop-size", type=int, default=256, help="staging_crop_size")
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 2, 4, 8, 16, 32],
                        help="crop batch sizes to time; none = FLOPs only (no timing)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "adstage-bench",
                        help="donor slots of the IKEA rooms are cached here")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    start_load = load_avg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average at start {start_load}; onnxruntime CPU, {args.threads} thread(s)")
    fpp = flops_per_pixel(args.crop_size)
    print(f"EdgeConnect edge + inpaint generators (shipped): {fpp / 1e3:.1f} kFLOP per pixel")
    sets: list[tuple[str, list[Pair]]] = []
    if args.ikea_products:
        for side in args.room_sides:
            sets.append((f"ikea@{side}", ikea_pairs(args.ikea_products, args.seed, side,
                                                    args.cache)))
            print(f"ikea@{side}: {len(sets[-1][1])} sampled products have an acceptable donor",
                  flush=True)
    if args.demo_products:
        with tempfile.TemporaryDirectory() as tmp:
            sets.append(("demo", demo_pairs(args.demo_products, args.seed + 7, Path(tmp),
                                            tuple(args.demo_size))))
    rows = []
    for name, pairs in sets:
        if not pairs:
            print(f"{name}: no acceptable pair, skipped")
            continue
        rows.append(measure(name, pairs, fpp, args.crop_size, args.batches, args.threads,
                            args.repeats))
        print(f"{name}: {json.dumps(rows[-1])} (load average {load_avg()})", flush=True)
    cols = [c for c in rows[0] if c != "ms_per_image_by_batch"] if rows else []
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    if args.batches:
        print("gap-crop ms per image by crop batch size:")
        print("pairs | " + " | ".join(f"batch {b}" for b in args.batches))
        for r in rows:
            print(r["pairs"] + " | " + " | ".join(str(r["ms_per_image_by_batch"][b])
                                                  for b in args.batches))
    end_load = load_avg()
    print(f"load average at end {end_load}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"kflop_per_pixel": round(fpp / 1e3, 2),
                                        "load_start": start_load, "load_end": end_load,
                                        "threads": args.threads, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
