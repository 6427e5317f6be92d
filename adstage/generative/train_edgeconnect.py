"""Train EdgeConnect's edge generator (G1) and inpainting generator (G2) with optional
weighted boundary loss.

Stages follow the paper's first two (independent) stages: G1 learns to complete Canny edges,
G2 learns to complete images given *ground-truth* edges; at inference G2 takes G1's edges
(the paper's optional third, joint fine-tuning stage is not implemented).  ``stage="both"``
trains the two side by side in one job.

Official defaults (paper / reference code) vs this project's CPU default:
  resolution 256 / 128 crops; batch 8 / 8; base channels 64 / 16; residual blocks 8 / 4.
Adam lr 1e-4, betas (0, 0.9), D lr 0.1× G, nsgan, FM weight 10, inpainting adversarial
weight 0.01, Canny sigma 2 are kept as in the paper.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adstage.generative import checkpoint as ckpt
from adstage.generative import data as data_mod
from adstage.generative import edgeconnect as ec
from adstage.generative import edges as edges_mod
from adstage.generative.boundary import boundary_weight_map
from adstage.generative.losses import AdversarialLoss, PerceptualStyleLoss, VGG19Features, feature_matching_loss, weighted_l1
from adstage.generative.progress import Progress
from adstage.generative.train_common import (NullTracker, image_grid, lr_factor, resolve_device, save_png,
                                             seed_everything, set_lr, write_json)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdgeConnectTrainConfig:
    """Every knob of an EdgeConnect training run, with its one default.

    :param stage: ``edge`` (G1), ``inpaint`` (G2) or ``both``.
    :param data: ``synthetic``, ``catalog`` (demo catalog at ``data_root``) or ``ikea``.
    :param boundary_weight: loss weight on the boundary band; 1.0 = baseline EdgeConnect.
    :param boundary_band: half-width (px) of the band around the hole boundary.
    :param mask_kind: ``silhouette`` (copy-paste gaps), ``freeform`` or ``mixed``.
    :param vgg_weights: local torchvision VGG19 state-dict path; enables perceptual + style
        losses (off when empty: no pretrained VGG is available to this project).
    :param holdout_share: ``data="ikea"`` only: when > 0, the project's stable id-hash split
        (``data.ikea_split``; rooms and products of that share are held apart) replaces the
        older ``holdout_rooms`` count split, and every non-held product shapes holes.
    :param lr_decay_start: fraction of steps after which the LR decays linearly to 0
        (1.0 = constant, as in the paper).
    """

    stage: str = "both"
    data: str = "synthetic"
    data_root: str = ""
    size: int = 128
    load_short_side: int = 160
    batch_size: int = 8
    steps: int = 2000
    base_channels: int = 16
    res_blocks: int = 4
    disc_channels: int = 16
    lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    d2g_lr: float = 0.1
    gan_loss: str = "nsgan"
    fm_weight: float = 10.0
    edge_adv_weight: float = 1.0
    inpaint_adv_weight: float = 0.01
    l1_weight: float = 1.0
    boundary_weight: float = 1.0
    boundary_band: int = 3
    boundary_side: str = "both"
    mask_kind: str = "silhouette"
    mask_dilate_px: int = 2
    sigma: float = edges_mod.DEFAULT_SIGMA
    vgg_weights: str = ""
    perceptual_weight: float = 0.1
    style_weight: float = 250.0
    lr_decay_start: float = 1.0
    holdout_rooms: int = 26
    holdout_share: float = 0.0
    seed: int = 0
    device: str = "cpu"
    threads: int = 0
    out_dir: str = "/tmp/adstage-edgeconnect"
    resume: str = ""
    log_every: int = 25
    sample_every: int = 250
    checkpoint_every: int = 250

    def __post_init__(self) -> None:
        if self.stage not in {"edge", "inpaint", "both"}:
            raise ValueError(f"stage must be edge|inpaint|both, got {self.stage!r}")
        if self.size % 4:
            raise ValueError("size must be a multiple of 4 (two stride-2 levels)")


def preprocessing_record(cfg: EdgeConnectTrainConfig) -> dict[str, Any]:
    """What an inference caller must reproduce; stored in checkpoints and model cards."""
    return {
        "image_range": "[0, 1] float32 RGB, NCHW",
        "mask_polarity": "1 (white) = hole",
        "canny": {"sigma": cfg.sigma, "low": edges_mod.DEFAULT_LOW, "high": edges_mod.DEFAULT_HIGH,
                  "function": "adstage.generative.edges.canny"},
        "edge_input": "cat(grey*(1-m), edges*(1-m), m)",
        "inpaint_input": "cat(rgb*(1-m)+m, merged edges)",
        "train_resolution": cfg.size,
        "size_multiple": 4,
    }


def architecture(cfg: EdgeConnectTrainConfig) -> dict[str, dict]:
    use_sig = cfg.gan_loss == "nsgan"
    return {
        "edge_generator": {"type": "edge_generator", "base_channels": cfg.base_channels, "res_blocks": cfg.res_blocks, "use_spectral_norm": True},
        "edge_discriminator": {"type": "edgeconnect_discriminator", "in_channels": 2, "base_channels": cfg.disc_channels, "use_sigmoid": use_sig, "use_spectral_norm": True},
        "inpaint_generator": {"type": "inpaint_generator", "base_channels": cfg.base_channels, "res_blocks": cfg.res_blocks},
        "inpaint_discriminator": {"type": "edgeconnect_discriminator", "in_channels": 3, "base_channels": cfg.disc_channels, "use_sigmoid": use_sig, "use_spectral_norm": True},
    }


def build_sampler(cfg: EdgeConnectTrainConfig, seed_offset: int = 0) -> data_mod.InpaintSampler:
    """Training images + hole generator for ``cfg.data``."""
    seed = cfg.seed * 1000 + seed_offset
    if cfg.data == "synthetic":
        rng = np.random.default_rng(cfg.seed)
        images = [data_mod.synthetic_room(cfg.size + cfg.size // 4, rng)[0] for _ in range(64)]
        bank = data_mod.synthetic_bank(seed=cfg.seed)
    elif cfg.data == "catalog":
        rows = data_mod.read_catalog(cfg.data_root)
        images = [data_mod.read_rgb(r.staged_image, cfg.load_short_side) for r in rows if r.staged_image]
        bank = data_mod.masks_mod.SilhouetteBank.from_masks([data_mod.read_mask(r.product_mask) for r in rows])
    elif cfg.data == "ikea":
        root = cfg.data_root or data_mod.IKEA_ROOT
        if cfg.holdout_share > 0:
            split = data_mod.ikea_split(root, cfg.holdout_share)
            train_rooms, bank_products = split["train_rooms"], split["train_products"]
        else:
            train_rooms, _ = data_mod.split_holdout(data_mod.ikea_room_paths(root), cfg.holdout_rooms)
            train_products, _ = data_mod.split_holdout(data_mod.ikea_product_paths(root), 0)
            # Even-indexed products shape the training holes; odd ones are kept for evaluation.
            bank_products = sorted(train_products)[0::2]
        images = [data_mod.read_rgb(p, cfg.load_short_side) for p in train_rooms]
        bank = data_mod.product_bank(bank_products)
    else:
        raise ValueError(f"data must be synthetic|catalog|ikea, got {cfg.data!r}")
    log.info("training data: %s, %d images, %s masks", cfg.data, len(images), cfg.mask_kind)
    return data_mod.InpaintSampler(images, cfg.size, data_mod.mask_sampler(cfg.mask_kind, bank, cfg.mask_dilate_px),
                                   cfg.sigma, seed=seed)


class EdgeConnectTrainer:
    """Networks, optimisers and one-step updates for both EdgeConnect stages.

    :param cfg: the run's configuration.
    :param device: torch device.
    """

    def __init__(self, cfg: EdgeConnectTrainConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.arch = architecture(cfg)
        self.nets = {k: ckpt.build(a).to(device) for k, a in self.arch.items()}
        for net in self.nets.values():
            ec.init_weights(net)
        g_betas = (cfg.beta1, cfg.beta2)
        self.optims = {
            "edge_generator": torch.optim.Adam(self.nets["edge_generator"].parameters(), cfg.lr, betas=g_betas),
            "edge_discriminator": torch.optim.Adam(self.nets["edge_discriminator"].parameters(), cfg.lr * cfg.d2g_lr, betas=g_betas),
            "inpaint_generator": torch.optim.Adam(self.nets["inpaint_generator"].parameters(), cfg.lr, betas=g_betas),
            "inpaint_discriminator": torch.optim.Adam(self.nets["inpaint_discriminator"].parameters(), cfg.lr * cfg.d2g_lr, betas=g_betas),
        }
        self.adv = AdversarialLoss(cfg.gan_loss)
        self.vgg_loss = None
        if cfg.vgg_weights:
            self.vgg_loss = PerceptualStyleLoss(VGG19Features.from_state_dict(cfg.vgg_weights)).to(device)
        self.step = 0

    # -- bookkeeping ------------------------------------------------------------------------
    def set_lr(self, factor: float) -> None:
        for name, optim in self.optims.items():
            base = self.cfg.lr * (self.cfg.d2g_lr if name.endswith("discriminator") else 1.0)
            set_lr(optim, base, factor)

    def save(self, path: str | Path) -> None:
        ckpt.save(path, kind="edgeconnect", arch=self.arch, preprocessing=preprocessing_record(self.cfg),
                  config=self.cfg.__dict__, step=self.step, nets=self.nets, optims=self.optims)

    def resume(self, path: str | Path) -> None:
        self.step = ckpt.restore(path, self.arch, self.nets, self.optims)
        log.info("resumed %s at step %d", path, self.step)

    def tensors(self, batch: data_mod.InpaintBatch) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(a).to(self.device) for a in (batch.rgb, batch.grey, batch.edges, batch.hole))

    # -- updates ----------------------------------------------------------------------------
    def edge_step(self, grey: torch.Tensor, edges: torch.Tensor, hole: torch.Tensor) -> dict[str, float]:
        """One D1 + G1 update (adversarial + feature matching, as the paper)."""
        g, d = self.nets["edge_generator"], self.nets["edge_discriminator"]
        pred = g(ec.edge_generator_input(grey, edges, hole))
        real_in = torch.cat([grey, edges], 1)
        d_real, real_feats = d(real_in)
        d_fake, _ = d(torch.cat([grey, pred.detach()], 1))
        d_loss = (self.adv(d_real, True) + self.adv(d_fake, False)) / 2
        self.optims["edge_discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optims["edge_discriminator"].step()

        g_fake, fake_feats = d(torch.cat([grey, pred], 1))
        g_adv = self.adv(g_fake, True, for_discriminator=False) * self.cfg.edge_adv_weight
        g_fm = feature_matching_loss(fake_feats, [f.detach() for f in real_feats]) * self.cfg.fm_weight
        g_loss = g_adv + g_fm
        self.optims["edge_generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optims["edge_generator"].step()
        with torch.no_grad():
            hit = ((pred > 0.5).float() * edges * hole).sum()
            precision = (hit / ((pred > 0.5).float() * hole).sum().clamp(min=1)).item()
            recall = (hit / (edges * hole).sum().clamp(min=1)).item()
        return {"edge_d": d_loss.item(), "edge_g_adv": g_adv.item(), "edge_g_fm": g_fm.item(),
                "edge_precision": precision, "edge_recall": recall}

    def inpaint_step(self, rgb: torch.Tensor, edges: torch.Tensor, hole: torch.Tensor) -> dict[str, float]:
        """One D2 + G2 update; G2's L1 (and VGG losses) use the boundary weight map."""
        cfg = self.cfg
        g, d = self.nets["inpaint_generator"], self.nets["inpaint_discriminator"]
        out = g(ec.inpaint_generator_input(rgb, edges, hole))
        d_real, _ = d(rgb)
        d_fake, _ = d(out.detach())
        d_loss = (self.adv(d_real, True) + self.adv(d_fake, False)) / 2
        self.optims["inpaint_discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optims["inpaint_discriminator"].step()

        g_fake, _ = d(out)
        g_adv = self.adv(g_fake, True, for_discriminator=False) * cfg.inpaint_adv_weight
        weight = None
        if cfg.boundary_weight != 1.0:
            weight = boundary_weight_map(hole, cfg.boundary_band, cfg.boundary_weight, cfg.boundary_side)
        g_l1 = weighted_l1(out, rgb, weight, hole) * cfg.l1_weight
        g_loss = g_adv + g_l1
        metrics = {"inpaint_d": d_loss.item(), "inpaint_g_adv": g_adv.item(), "inpaint_g_l1": g_l1.item()}
        if self.vgg_loss is not None:
            # VGG losses compare the *composited* image, so the weight map applies via it.
            comp = out * hole + rgb * (1 - hole)
            perceptual, style = self.vgg_loss(comp, rgb)
            g_loss = g_loss + perceptual * cfg.perceptual_weight + style * cfg.style_weight
            metrics.update(inpaint_g_perceptual=perceptual.item(), inpaint_g_style=style.item())
        self.optims["inpaint_generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optims["inpaint_generator"].step()
        with torch.no_grad():
            metrics["inpaint_hole_l1"] = ((out - rgb).abs() * hole).sum().item() / (hole.sum().item() * 3 + 1e-6)
        return metrics

    def train_step(self, batch: data_mod.InpaintBatch) -> dict[str, float]:
        rgb, grey, edges, hole = self.tensors(batch)
        for net in self.nets.values():
            net.train()
        metrics: dict[str, float] = {}
        if self.cfg.stage in {"edge", "both"}:
            metrics.update(self.edge_step(grey, edges, hole))
        if self.cfg.stage in {"inpaint", "both"}:
            metrics.update(self.inpaint_step(rgb, edges, hole))
        self.step += 1
        return metrics

    @torch.no_grad()
    def sample_grid(self, batch: data_mod.InpaintBatch) -> np.ndarray:
        """Rows: masked input | true edges | G1 edges | G2(true edges) | G2(G1 edges) | truth."""
        rgb, grey, edges, hole = self.tensors(batch)
        g1, g2 = self.nets["edge_generator"].eval(), self.nets["inpaint_generator"].eval()
        pred_edges = ec.merge_edges(g1(ec.edge_generator_input(grey, edges, hole)), edges, hole)
        out_true = g2(ec.inpaint_generator_input(rgb, edges, hole)) * hole + rgb * (1 - hole)
        out_pred = g2(ec.inpaint_generator_input(rgb, pred_edges, hole)) * hole + rgb * (1 - hole)
        masked = rgb * (1 - hole) + hole
        hwc = lambda t: t.permute(0, 2, 3, 1).cpu().numpy()  # noqa: E731
        cols = [hwc(masked), edges[:, 0].cpu().numpy(), pred_edges[:, 0].cpu().numpy(),
                hwc(out_true), hwc(out_pred), hwc(rgb)]
        return image_grid([[c[i] for c in cols] for i in range(rgb.shape[0])])


def train(cfg: EdgeConnectTrainConfig, tracker: Any | None = None,
          sampler: data_mod.InpaintSampler | None = None) -> dict[str, Any]:
    """Run (or resume) training; returns a summary with the checkpoint path and timings.

    :param cfg: configuration.
    :param tracker: an object with mlflow's ``log_metrics/log_artifact`` (mlflow module
        inside an active run), or None for no tracking.
    :param sampler: optional pre-built data sampler (lets experiments share loaded data).
    """
    tracker = tracker or NullTracker()
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    out_dir = Path(cfg.out_dir)
    trainer = EdgeConnectTrainer(cfg, device)
    if cfg.resume:
        trainer.resume(cfg.resume)
    sampler = sampler or build_sampler(cfg, seed_offset=trainer.step)
    preview = build_sampler(replace(cfg, seed=cfg.seed + 99), 0).batch(4) if cfg.sample_every else None
    write_json(out_dir / "config.json", cfg.__dict__)
    tracker.log_artifact(str(out_dir / "config.json"))
    progress = Progress(cfg.steps, trainer.step, log, label=f"edgeconnect[{cfg.stage}]")
    t0 = time.monotonic()
    running: dict[str, list[float]] = {}
    ckpt_path = out_dir / "checkpoint.pt"
    while trainer.step < cfg.steps:
        trainer.set_lr(lr_factor(trainer.step, cfg.steps, cfg.lr_decay_start))
        metrics = trainer.train_step(sampler.batch(cfg.batch_size))
        for k, v in metrics.items():
            running.setdefault(k, []).append(v)
        step = trainer.step
        if step % cfg.log_every == 0 or step == cfg.steps:
            means = {k: float(np.mean(v)) for k, v in running.items()}
            running.clear()
            progress.report(step, {k: means[k] for k in sorted(means) if k.endswith(("_l1", "_fm", "_d", "recall"))})
            tracker.log_metrics(means, step=step)
        if preview is not None and (step % cfg.sample_every == 0 or step == cfg.steps):
            grid = save_png(out_dir / "samples" / f"step_{step:06d}.png", trainer.sample_grid(preview))
            tracker.log_artifact(str(grid), "samples")
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            trainer.save(ckpt_path)
    train_s = time.monotonic() - t0
    if not ckpt_path.exists():  # resumed at/after the last step
        trainer.save(ckpt_path)
    summary = {"checkpoint": str(ckpt_path), "steps": trainer.step, "train_seconds": round(train_s, 1),
               "device": str(device), "threads": torch.get_num_threads()}
    write_json(out_dir / "summary.json", summary)
    tracker.log_artifact(str(ckpt_path), "checkpoint")
    log.info("edgeconnect training done: %s", summary)
    return summary
