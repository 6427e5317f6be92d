"""The paper's table on real data: EdgeConnect vs EdgeConnect + weighted boundary loss.

One command trains, on the IKEA rooms (read from /work/shared at run time, never copied),
one shared edge generator and four inpainting generators
({free-form, silhouette-difference} training masks × {baseline, boundary loss}), then
evaluates all of them on held-back rooms with held-back product silhouettes::

    PYTHONPATH=. python research/boundary_experiment.py --out /tmp/adstage-boundary

Outputs (checkpoints, samples, ``results.json``, ``results.md``) go to ``--out``; only the
markdown table is meant for docs/.  Re-running skips runs whose checkpoint is complete.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from adstage.generative import checkpoint as ckpt
from adstage.generative.train_edgeconnect import EdgeConnectTrainConfig, build_sampler, train

log = logging.getLogger(__name__)

VARIANTS = {
    # name: (stage, mask kind, boundary weight)
    "edge": ("edge", "mixed", 1.0),
    "inpaint_silhouette_baseline": ("inpaint", "silhouette", 1.0),
    "inpaint_silhouette_boundary": ("inpaint", "silhouette", None),
    "inpaint_freeform_baseline": ("inpaint", "freeform", 1.0),
    "inpaint_freeform_boundary": ("inpaint", "freeform", None),
}


def base_config(args: argparse.Namespace) -> EdgeConnectTrainConfig:
    return EdgeConnectTrainConfig(
        data="ikea", size=args.size, batch_size=args.batch_size, steps=args.steps,
        base_channels=args.base_channels, res_blocks=args.res_blocks, disc_channels=args.base_channels,
        boundary_band=args.band, seed=args.seed, threads=args.threads, device=args.device,
        log_every=25, sample_every=max(1, args.steps // 2), checkpoint_every=100)


def _complete(path: Path, steps: int) -> bool:
    if not path.exists():
        return False
    try:
        return int(ckpt.load(path)["step"]) >= steps
    except Exception:  # a corrupt/foreign file: retrain
        return False


def train_all(args: argparse.Namespace) -> dict[str, dict]:
    """Train every variant (skipping complete ones); returns per-run summaries."""
    out = Path(args.out)
    base = base_config(args)
    summaries = {}
    for name, (stage, kind, weight) in VARIANTS.items():
        steps = args.edge_steps if stage == "edge" else args.steps
        cfg = replace(base, stage=stage, mask_kind=kind, steps=steps,
                      boundary_weight=args.boundary_weight if weight is None else weight,
                      out_dir=str(out / name), sample_every=max(1, steps // 2))
        ck = Path(cfg.out_dir) / "checkpoint.pt"
        if _complete(ck, steps):
            log.info("[%s] complete, skipping", name)
            prev = Path(cfg.out_dir) / "summary.json"
            summaries[name] = json.loads(prev.read_text()) if prev.exists() else {"checkpoint": str(ck)}
            continue
        if ck.exists():
            cfg = replace(cfg, resume=str(ck))
        log.info("[%s] training: stage=%s masks=%s boundary_weight=%s steps=%d", name, stage, kind, cfg.boundary_weight, steps)
        summaries[name] = train(cfg, sampler=build_sampler(cfg))
    return summaries


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/tmp/adstage-boundary", help="output folder (outside the repo)")
    p.add_argument("--phase", choices=["all", "train", "eval"], default="all")
    p.add_argument("--steps", type=int, default=250, help="steps per inpainting run")
    p.add_argument("--edge-steps", type=int, default=200, help="steps of the shared edge run")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--base-channels", type=int, default=16)
    p.add_argument("--res-blocks", type=int, default=4)
    p.add_argument("--boundary-weight", type=float, default=5.0)
    p.add_argument("--band", type=int, default=3, help="boundary band half-width, px")
    p.add_argument("--eval-band", type=int, default=2, help="inner boundary band for the metrics, px")
    p.add_argument("--inception", default="", help="local TorchScript Inception file for a real FID (never downloaded)")
    p.add_argument("--eval-crops", type=int, default=8, help="eval crops per held-back room")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    if args.phase in {"all", "train"}:
        summaries = train_all(args)
        (out / "train_summaries.json").write_text(json.dumps(
            {"runs": summaries, "wall_seconds": round(time.monotonic() - t0, 1),
             "hardware": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                          "torch": torch.__version__}}, indent=2))
    if args.phase in {"all", "eval"}:
        from research.boundary_eval import evaluate_all

        evaluate_all(args)


if __name__ == "__main__":
    main()
