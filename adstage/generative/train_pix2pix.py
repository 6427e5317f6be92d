"""Train pix2pix for vanilla staging: product on white -> the whole staged scene.

Pairs are spatially aligned: the input is the staged photo's own product pixels on white
(see ``data.paired_example``), the target is the staged photo.  Paper settings kept:
U-Net + 70×70 PatchGAN, vanilla GAN loss, L1 weight 100, Adam lr 2e-4 betas (0.5, 0.999),
constant LR then linear decay over the second half.  CPU default: 128², ngf 16 with the
channel multiplier capped at 4 (paper: 256², ngf 64, cap 8), instance norm (paper: batch).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adstage.generative import checkpoint as ckpt
from adstage.generative import data as data_mod
from adstage.generative import pix2pix as p2p
from adstage.generative.losses import AdversarialLoss
from adstage.generative.progress import Progress
from adstage.generative.train_common import (NullTracker, image_grid, lr_factor, resolve_device, save_png,
                                             seed_everything, set_lr, write_json)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pix2PixTrainConfig:
    """Every knob of a pix2pix run, with its one default.

    :param data: ``synthetic``, ``catalog`` (demo catalog at ``data_root``) or ``ikea``
        (IKEA products composited onto IKEA rooms, read from /work/shared at run time).
    :param size: square training resolution, a multiple of ``2**num_downs``.
    :param num_downs: U-Net levels (7 -> 1×1 bottleneck at 128²).
    :param max_mult: cap of the channel multiplier (keeps the shipped file small).
    :param ikea_pairs: number of IKEA composites to draw (``data="ikea"``).
    :param holdout_share: ``data="ikea"``: when > 0, rooms and products come from the project's
        stable id-hash split (``data.ikea_split``) instead of the ``holdout_rooms`` count split.
    """

    data: str = "synthetic"
    data_root: str = ""
    size: int = 128
    batch_size: int = 4
    steps: int = 2000
    base_channels: int = 16
    num_downs: int = 7
    max_mult: int = 4
    disc_channels: int = 16
    disc_layers: int = 3
    norm: str = "instance"
    dropout: bool = True
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    l1_weight: float = 100.0
    gan_loss: str = "nsgan"
    lr_decay_start: float = 0.5
    ikea_pairs: int = 400
    holdout_rooms: int = 26
    holdout_share: float = 0.0
    seed: int = 0
    device: str = "cpu"
    threads: int = 0
    out_dir: str = "/tmp/adstage-pix2pix"
    resume: str = ""
    log_every: int = 25
    sample_every: int = 250
    checkpoint_every: int = 250

    def __post_init__(self) -> None:
        if self.size % (2 ** self.num_downs):
            raise ValueError(f"size {self.size} must be a multiple of 2**num_downs = {2 ** self.num_downs}")


def architecture(cfg: Pix2PixTrainConfig) -> dict[str, dict]:
    return {
        "generator": {"type": "unet_generator", "in_channels": 3, "out_channels": 3, "num_downs": cfg.num_downs,
                      "base_channels": cfg.base_channels, "max_mult": cfg.max_mult, "norm": cfg.norm, "dropout": cfg.dropout},
        "discriminator": {"type": "patch_discriminator", "in_channels": 6, "base_channels": cfg.disc_channels,
                          "n_layers": cfg.disc_layers, "norm": cfg.norm},
    }


def preprocessing_record(cfg: Pix2PixTrainConfig) -> dict[str, Any]:
    return {"network_range": "[-1, 1] (exported graph takes and returns [0, 1])",
            "input": "product pixels on a white canvas, aligned with the scene",
            "train_resolution": cfg.size, "size_multiple": 2 ** cfg.num_downs}


def build_pairs(cfg: Pix2PixTrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Aligned ``(input, target)`` uint8 pairs for ``cfg.data``."""
    rng = np.random.default_rng(cfg.seed)
    if cfg.data == "synthetic":
        return [data_mod.paired_example(*data_mod.synthetic_room(cfg.size, rng), cfg.size) for _ in range(32)]
    if cfg.data == "catalog":
        rows = [r for r in data_mod.read_catalog(cfg.data_root) if r.staged_image]
        return [data_mod.paired_example(data_mod.read_rgb(r.staged_image), data_mod.read_mask(r.staged_mask), cfg.size)
                for r in rows]
    if cfg.data == "ikea":
        root = cfg.data_root or data_mod.IKEA_ROOT
        if cfg.holdout_share > 0:
            split = data_mod.ikea_split(root, cfg.holdout_share)
            rooms, products = split["train_rooms"], split["train_products"]
        else:
            rooms, _ = data_mod.split_holdout(data_mod.ikea_room_paths(root), cfg.holdout_rooms)
            products = data_mod.ikea_product_paths(root)
        rooms_img = [data_mod.read_rgb(p, 2 * cfg.size) for p in rooms]
        pairs = []
        for _ in range(cfg.ikea_pairs):
            prod = data_mod.read_rgb(products[int(rng.integers(len(products)))])
            pmask = data_mod.masks_mod.product_mask_from_white(prod)
            scene, mask = data_mod.composite_on_room(rooms_img[int(rng.integers(len(rooms_img)))], prod, pmask, rng)
            pairs.append(data_mod.paired_example(scene, mask, cfg.size))
        return pairs
    raise ValueError(f"data must be synthetic|catalog|ikea, got {cfg.data!r}")


class Pix2PixTrainer:
    """U-Net + PatchGAN with their optimisers and one-step update."""

    def __init__(self, cfg: Pix2PixTrainConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.arch = architecture(cfg)
        self.nets = {k: ckpt.build(a).to(device) for k, a in self.arch.items()}
        for net in self.nets.values():
            p2p.init_weights(net)
        betas = (cfg.beta1, cfg.beta2)
        self.optims = {k: torch.optim.Adam(n.parameters(), cfg.lr, betas=betas) for k, n in self.nets.items()}
        self.adv = AdversarialLoss(cfg.gan_loss, with_logits=True)
        self.step = 0

    def set_lr(self, factor: float) -> None:
        for optim in self.optims.values():
            set_lr(optim, self.cfg.lr, factor)

    def save(self, path: str | Path) -> None:
        ckpt.save(path, kind="pix2pix", arch=self.arch, preprocessing=preprocessing_record(self.cfg),
                  config=self.cfg.__dict__, step=self.step, nets=self.nets, optims=self.optims)

    def resume(self, path: str | Path) -> None:
        self.step = ckpt.restore(path, self.arch, self.nets, self.optims)
        log.info("resumed %s at step %d", path, self.step)

    def train_step(self, x_np: np.ndarray, y_np: np.ndarray) -> dict[str, float]:
        g, d = self.nets["generator"].train(), self.nets["discriminator"].train()
        x, y = torch.from_numpy(x_np).to(self.device), torch.from_numpy(y_np).to(self.device)
        fake = g(x)
        d_real, _ = d(torch.cat([x, y], 1))
        d_fake, _ = d(torch.cat([x, fake.detach()], 1))
        d_loss = 0.5 * (self.adv(d_real, True) + self.adv(d_fake, False))
        self.optims["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optims["discriminator"].step()
        g_fake, _ = d(torch.cat([x, fake], 1))
        g_adv = self.adv(g_fake, True, for_discriminator=False)
        g_l1 = (fake - y).abs().mean() * self.cfg.l1_weight
        self.optims["generator"].zero_grad(set_to_none=True)
        (g_adv + g_l1).backward()
        self.optims["generator"].step()
        self.step += 1
        return {"d": d_loss.item(), "g_adv": g_adv.item(), "g_l1": g_l1.item()}

    @torch.no_grad()
    def sample_grid(self, x_np: np.ndarray, y_np: np.ndarray) -> np.ndarray:
        """Rows: input | generated | truth (eval mode: dropout off, as exported)."""
        g = self.nets["generator"].eval()
        out = g(torch.from_numpy(x_np).to(self.device)).cpu().numpy()
        hwc = lambda a: (a.transpose(0, 2, 3, 1) + 1) / 2  # noqa: E731
        cols = [hwc(x_np), hwc(out), hwc(y_np)]
        return image_grid([[c[i] for c in cols] for i in range(len(x_np))])


def train(cfg: Pix2PixTrainConfig, tracker: Any | None = None) -> dict[str, Any]:
    """Run (or resume) pix2pix training; returns a summary with the checkpoint path."""
    tracker = tracker or NullTracker()
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    out_dir = Path(cfg.out_dir)
    trainer = Pix2PixTrainer(cfg, device)
    if cfg.resume:
        trainer.resume(cfg.resume)
    pairs = build_pairs(cfg)
    log.info("pix2pix data: %s, %d pairs at %d²", cfg.data, len(pairs), cfg.size)
    sampler = data_mod.PairSampler(pairs, seed=cfg.seed * 1000 + trainer.step)
    preview = data_mod.PairSampler(pairs, seed=cfg.seed + 99).batch(4)
    write_json(out_dir / "config.json", cfg.__dict__)
    tracker.log_artifact(str(out_dir / "config.json"))
    progress = Progress(cfg.steps, trainer.step, log, label="pix2pix")
    t0 = time.monotonic()
    running: dict[str, list[float]] = {}
    ckpt_path = out_dir / "checkpoint.pt"
    while trainer.step < cfg.steps:
        trainer.set_lr(lr_factor(trainer.step, cfg.steps, cfg.lr_decay_start))
        for k, v in trainer.train_step(*sampler.batch(cfg.batch_size)).items():
            running.setdefault(k, []).append(v)
        step = trainer.step
        if step % cfg.log_every == 0 or step == cfg.steps:
            means = {k: float(np.mean(v)) for k, v in running.items()}
            running.clear()
            progress.report(step, means)
            tracker.log_metrics(means, step=step)
        if cfg.sample_every and (step % cfg.sample_every == 0 or step == cfg.steps):
            grid = save_png(out_dir / "samples" / f"step_{step:06d}.png", trainer.sample_grid(*preview))
            tracker.log_artifact(str(grid), "samples")
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            trainer.save(ckpt_path)
    if not ckpt_path.exists():
        trainer.save(ckpt_path)
    summary = {"checkpoint": str(ckpt_path), "steps": trainer.step, "train_seconds": round(time.monotonic() - t0, 1),
               "device": str(device), "threads": torch.get_num_threads(), "pairs": len(pairs)}
    write_json(out_dir / "summary.json", summary)
    tracker.log_artifact(str(ckpt_path), "checkpoint")
    log.info("pix2pix training done: %s", summary)
    return summary
