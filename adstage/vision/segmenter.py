"""Default slot segmenter: a small U-Net trained on synthetic scenes (torch; training only).

Input (N, 3, 96, 128) RGB in [-1, 1] (``adstage.vision.preprocess.segmenter_input``); output
(N, 1, 96, 128) P(replaceable product) after a sigmoid. Any ONNX model with that contract (any
input size: it is read from the graph) can replace it; see ``adstage.vision.slots``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from adstage.vision import synth
from adstage.vision.backdrop_cutout import iou
from adstage.vision.preprocess import SEGMENTER_HW, segmenter_input

log = logging.getLogger(__name__)


def build_net(width: int = 12):
    import torch
    from torch import nn

    def conv(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class UNet(nn.Module):
        def __init__(self, w: int):
            super().__init__()
            ch = [w, 2 * w, 4 * w, 8 * w, 8 * w]
            self.enc = nn.ModuleList([conv(3, ch[0])] + [conv(ch[i], ch[i + 1]) for i in range(4)])
            self.dec = nn.ModuleList([conv(ch[i + 1] + ch[i], ch[i]) for i in reversed(range(4))])
            self.head = nn.Conv2d(ch[0], 1, 1)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            skips = []
            for i, block in enumerate(self.enc):
                x = block(x if i == 0 else self.pool(x))
                skips.append(x)
            for block, skip in zip(self.dec, reversed(skips[:-1])):
                x = nn.functional.interpolate(x, scale_factor=2.0, mode="bilinear",
                                              align_corners=False)
                x = block(torch.cat([x, skip], 1))
            return self.head(x)

    return UNet(width)


def exportable(net):
    """The net with the sigmoid in the graph: (N,3,H,W) -> (N,1,H,W) P(product)."""
    from adstage.onnx_export import SigmoidHead

    return SigmoidHead(net)


def make_dataset(n: int, sprites: list, seed: int, demo_share: float, keep_images: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray], list]:
    """n scenes -> model inputs, low-res labels, full-res masks (for IoU) and, when asked, the
    full-res photos (for refinement)."""
    rng = np.random.default_rng(seed)
    xs, ys, kinds, full, photos = [], [], [], [], []
    for i in range(n):
        use_demo = not sprites or rng.uniform() < demo_share
        img, mask = synth.demo_scene(rng) if use_demo else synth.cut_paste_scene(sprites, rng)
        xs.append(segmenter_input(img))
        ys.append(cv2.resize(mask, (SEGMENTER_HW[1], SEGMENTER_HW[0]),
                             interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0)
        kinds.append(0 if use_demo else 1)
        full.append(mask)
        if keep_images:
            photos.append(img)
    return np.stack(xs), np.stack(ys)[:, None], np.array(kinds), full, photos


@dataclass(frozen=True)
class TrainConfig:
    scenes: int = 2400
    heldout: int = 200
    demo_share: float = 0.5
    ikea_sprites: int = 400
    steps: int = 1500
    batch: int = 16
    lr: float = 3e-3
    width: int = 12
    seed: int = 0
    threads: int = 1


def train(cfg: TrainConfig, work: Path, out_onnx: Path) -> dict:
    import torch

    from adstage.onnx_export import export_onnx

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    started = time.time()
    sprites = synth.ikea_sprites(cfg.ikea_sprites) if cfg.ikea_sprites else []
    x, y, _, _, _ = make_dataset(cfg.scenes, sprites, cfg.seed + 1, cfg.demo_share)
    log.info("%d scenes (%d IKEA sprites) in %.0fs", len(x), len(sprites), time.time() - started)
    net = build_net(cfg.width)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps)
    rng = np.random.default_rng(cfg.seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    net.train()
    for step in range(cfg.steps):
        idx = torch.from_numpy(rng.integers(0, len(x), cfg.batch))
        xb, yb = xt[idx], yt[idx]
        if rng.uniform() < 0.5:
            xb, yb = xb.flip(-1), yb.flip(-1)
        logits = net(xb)
        p = logits.sigmoid()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, yb)
        dice = 1 - (2 * (p * yb).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + yb.sum((1, 2, 3)) + 1)
        loss = bce + dice.mean()
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        if step % 100 == 0 or step == cfg.steps - 1:
            log.info("step %d/%d loss %.4f (%.0fs)", step, cfg.steps, loss.item(),
                     time.time() - started)
    export_onnx(exportable(net), [torch.zeros(1, 3, *SEGMENTER_HW)], out_onnx, ["image"],
                ["p_product"], dynamic_axes={"image": {0: "batch"}, "p_product": {0: "batch"}})
    report = {"config": asdict(cfg), "train_seconds": round(time.time() - started, 1)}
    report["eval"] = evaluate_onnx(out_onnx, cfg)
    return report


def evaluate_onnx(onnx_path: Path, cfg: TrainConfig = TrainConfig()) -> dict:
    """Slot IoU on held-back synthetic scenes (other seeds; IKEA sprites from the test split)."""
    from adstage.onnx_runtime import session_from_bytes
    from adstage.vision.slots import SlotParams, find_slots

    sess = session_from_bytes(Path(onnx_path).read_bytes(), device="cpu")
    test_sprites = synth.ikea_sprites(100, test=True) if cfg.ikea_sprites else []
    out = {}
    for name, sprites, share in (("demo_scenes", [], 1.0), ("cut_paste_ikea", test_sprites, 0.0)):
        if share == 0.0 and not sprites:
            continue
        x, _, _, full, photos = make_dataset(cfg.heldout, sprites, 10_000 + cfg.seed, share,
                                             keep_images=True)
        probs = np.concatenate([sess.run(None, {"image": x[i:i + 32]})[0]
                                for i in range(0, len(x), 32)])
        res = {"n": len(full)}
        for label, refine in (("map", False), ("refined", True)):
            ious, usable = [], []
            for p, m, img in zip(probs, full, photos):
                slots = find_slots(p[0], m.shape, SlotParams(refine=refine), bgr=img)
                pred = np.zeros(m.shape, np.uint8)
                for s in slots:
                    pred[s.mask > 0] = 255
                ious.append(iou(pred, m))
                usable.append(any(s.usable for s in slots))
            res[label] = {"mean_iou": round(float(np.mean(ious)), 4),
                          "median_iou": round(float(np.median(ious)), 4),
                          "usable_share": round(float(np.mean(usable)), 4)}
        out[name] = res
    return out
