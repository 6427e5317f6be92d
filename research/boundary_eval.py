"""Evaluation half of :mod:`research.boundary_experiment`.

Held-back rooms × held-back product silhouettes (odd-indexed products; training used the
even ones) -> fixed 128² crops with silhouette-difference holes (the copy-paste case) and
free-form holes.  Every model fills the holes with EdgeConnect's full pipeline (G1 edges ->
G2), and with ground-truth edges as an oracle ablation.  Metrics on the composited image:
L1 / PSNR / SSIM over the hole and over its inner boundary band, and a Fréchet distance
(``adstage-randfeat-v1`` features) between composites and the true crops.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from adstage.generative import checkpoint as ckpt
from adstage.generative import data as data_mod
from adstage.generative import edgeconnect as ec
from adstage.generative import fid as fid_mod
from adstage.generative import metrics as M

log = logging.getLogger(__name__)

EVAL_SEED = 12345
MODELS = ["inpaint_freeform_baseline", "inpaint_freeform_boundary",
          "inpaint_silhouette_baseline", "inpaint_silhouette_boundary"]


def eval_set(args: argparse.Namespace, kind: str) -> data_mod.InpaintBatch:
    """Deterministic evaluation crops + holes of one mask ``kind`` from held-back rooms."""
    _, held_rooms = data_mod.split_holdout(data_mod.ikea_room_paths(), 26)
    products = sorted(data_mod.ikea_product_paths())[1::2]
    bank = data_mod.product_bank(products) if kind == "silhouette" else None
    fn = data_mod.mask_sampler(kind, bank, dilate_px=2)
    rng = np.random.default_rng(EVAL_SEED)
    crops, holes = [], []
    for path in held_rooms:
        img = data_mod.read_rgb(path, 160)
        for _ in range(args.eval_crops):
            crops.append(np.ascontiguousarray(data_mod.random_crop(img, args.size, rng)))
            holes.append(fn(args.size, args.size, rng))
    return data_mod.make_inpaint_batch(crops, holes, sigma=2.0)


@torch.no_grad()
def fill(g1: torch.nn.Module | None, g2: torch.nn.Module, b: data_mod.InpaintBatch, chunk: int = 32) -> np.ndarray:
    """Composited outputs ``N x H x W x 3``: G1-predicted edges if ``g1`` else true edges."""
    outs = []
    for i in range(0, len(b.rgb), chunk):
        rgb, grey, edges, hole = (torch.from_numpy(a[i:i + chunk]) for a in (b.rgb, b.grey, b.edges, b.hole))
        known_edges = edges * (1 - hole)  # what the nightly job sees: no edges inside the hole
        if g1 is not None:
            e = ec.merge_edges(g1(ec.edge_generator_input(grey, known_edges, hole)), known_edges, hole)
        else:
            e = edges
        out = g2(ec.inpaint_generator_input(rgb, e, hole))
        outs.append((out * hole + rgb * (1 - hole)).permute(0, 2, 3, 1).numpy())
    return np.concatenate(outs)


def telea(b: data_mod.InpaintBatch) -> np.ndarray:
    """OpenCV's Telea inpainting: a non-learned reference row."""
    import cv2

    outs = []
    for rgb, hole in zip(b.rgb, b.hole):
        img = (rgb.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
        outs.append(cv2.inpaint(img, (hole[0] > 0).astype(np.uint8), 3, cv2.INPAINT_TELEA).astype(np.float32) / 255)
    return np.stack(outs)


def score(pred: np.ndarray, b: data_mod.InpaintBatch, band: int, feats_true: np.ndarray,
          extractor: torch.nn.Module) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Mean metrics and per-image arrays (for paired comparisons)."""
    truth = b.rgb.transpose(0, 2, 3, 1)
    per: dict[str, list[float]] = {k: [] for k in ("hole_l1", "hole_psnr", "hole_ssim", "band_l1", "band_psnr", "band_ssim",
                                                   "band_share")}
    for p, t, h in zip(pred, truth, b.hole[:, 0] > 0.5):
        ring = M.inner_band(h, band)
        per["band_share"].append(ring.sum() / max(1, h.sum()))
        per["hole_l1"].append(M.region_l1(p, t, h))
        per["hole_psnr"].append(M.region_psnr(p, t, h))
        per["hole_ssim"].append(M.region_ssim(p, t, h))
        per["band_l1"].append(M.region_l1(p, t, ring))
        per["band_psnr"].append(M.region_psnr(p, t, ring))
        per["band_ssim"].append(M.region_ssim(p, t, ring))
    arrays = {k: np.asarray(v) for k, v in per.items()}
    means = {k: float(np.nanmean(v)) for k, v in arrays.items()}
    means["frechet_randfeat"] = fid_mod.frechet_distance(fid_mod.features(extractor, pred), feats_true)
    return means, arrays


def paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean of ``b - a`` with a 95% normal-approximation interval over images."""
    d = (b - a)[np.isfinite(a) & np.isfinite(b)]
    se = d.std(ddof=1) / np.sqrt(len(d))
    return {"mean_diff": float(d.mean()), "ci95_low": float(d.mean() - 1.96 * se),
            "ci95_high": float(d.mean() + 1.96 * se), "n": int(len(d))}


def evaluate_all(args: argparse.Namespace) -> dict:
    """Score every trained model (plus Telea) on both eval mask kinds; writes results.*."""
    out = Path(args.out)
    t0 = time.monotonic()
    torch.set_num_threads(args.threads)
    g1 = ckpt.load_network(ckpt.load(out / "edge" / "checkpoint.pt"), "edge_generator")
    g2s = {m: ckpt.load_network(ckpt.load(out / m / "checkpoint.pt"), "inpaint_generator")
           for m in MODELS if (out / m / "checkpoint.pt").exists()}
    extractor = fid_mod.feature_extractor(getattr(args, "inception", "") or "")
    results: dict = {"feature_extractor": getattr(extractor, "name", fid_mod.RANDFEAT_NAME),
                     "band_px": args.eval_band, "train_band_px": args.band, "size": args.size, "tables": {}, "paired": {}}
    for kind in ("silhouette", "freeform"):
        b = eval_set(args, kind)
        log.info("eval %s: %d crops, mean hole fraction %.3f", kind, len(b.rgb), float(b.hole.mean()))
        feats_true = fid_mod.features(extractor, b.rgb.transpose(0, 2, 3, 1))
        table, per_image = {}, {}
        table["opencv_telea"], per_image["opencv_telea"] = score(telea(b), b, args.eval_band, feats_true, extractor)
        for name, g2 in g2s.items():
            for edges_src, e in (("g1_edges", g1), ("true_edges", None)):
                key = f"{name}|{edges_src}"
                table[key], per_image[key] = score(fill(e, g2, b), b, args.eval_band, feats_true, extractor)
                log.info("eval %s %s: %s", kind, key, {k: round(v, 4) for k, v in table[key].items()})
        results["tables"][kind] = table
        results["hole_fraction"] = results.get("hole_fraction", {}) | {kind: float(b.hole.mean())}
        results["band_share_of_hole"] = results.get("band_share_of_hole", {}) | {kind: table["opencv_telea"]["band_share"]}
        results["n_images"] = len(b.rgb)
        for train_kind in ("freeform", "silhouette"):
            base, bnd = f"inpaint_{train_kind}_baseline|g1_edges", f"inpaint_{train_kind}_boundary|g1_edges"
            if base in per_image and bnd in per_image:
                results["paired"][f"{kind}|{train_kind}"] = {
                    m: paired(per_image[base][m], per_image[bnd][m]) for m in ("hole_l1", "hole_psnr", "band_l1", "band_psnr", "band_ssim")}
    results["eval_seconds"] = round(time.monotonic() - t0, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown(results))
    log.info("results written to %s", out / "results.md")
    print(markdown(results))
    return results


def markdown(results: dict) -> str:
    """Results as markdown tables (one per eval mask kind + paired differences)."""
    lines = []
    cols = ["hole_l1", "hole_psnr", "hole_ssim", "band_l1", "band_psnr", "band_ssim", "frechet_randfeat"]
    for kind, table in results["tables"].items():
        lines += [f"\n**Eval holes: {kind}** (n={results['n_images']}, hole fraction "
                  f"{results['hole_fraction'][kind]:.3f}, inner band {results['band_px']} px = "
                  f"{results['band_share_of_hole'][kind]:.0%} of hole pixels)\n",
                  "| model | edges | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
        for key, row in table.items():
            name, _, edges = key.partition("|")
            lines.append(f"| {name} | {edges or '-'} | " + " | ".join(f"{row[c]:.4f}" for c in cols) + " |")
    if results.get("paired"):
        lines += ["\n**Boundary loss minus baseline** (G1 edges; mean over images, 95% CI)\n",
                  "| eval holes | train holes | metric | diff | CI95 |", "|---|---|---|---|---|"]
        for key, mets in results["paired"].items():
            kind, train_kind = key.split("|")
            for m, d in mets.items():
                lines.append(f"| {kind} | {train_kind} | {m} | {d['mean_diff']:+.4f} | [{d['ci95_low']:+.4f}, {d['ci95_high']:+.4f}] |")
    return "\n".join(lines) + "\n"
