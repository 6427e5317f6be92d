"""Pieces shared by the training jobs: seeding, device, LR schedule, sample grids, MLflow."""
from __future__ import annotations

import dataclasses
import json
import logging
import random
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch RNGs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> cuda if available else cpu; otherwise the named device (fails loudly)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no GPU")
    return dev


def lr_factor(step: int, total: int, decay_start: float) -> float:
    """Constant LR, then linear decay to 0 over the last ``1 - decay_start`` of training.

    EdgeConnect trains at a constant LR; pix2pix decays linearly over its second half. One
    schedule covers both (``decay_start=1`` = constant).
    """
    start = int(decay_start * total)
    if step < start or total <= start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, total - start))


def set_lr(optim: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    for group in optim.param_groups:
        group["lr"] = base_lr * factor


def image_grid(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Tile HxWx3 (or HxW) float [0,1] images into one uint8 RGB grid, 2 px white gutters."""
    def rgb(a: np.ndarray) -> np.ndarray:
        a = np.clip(a, 0, 1)
        return np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a

    lines = []
    for row in rows:
        tiles = [np.pad(rgb(t), ((2, 2), (2, 2), (0, 0)), constant_values=1.0) for t in row]
        lines.append(np.concatenate(tiles, axis=1))
    return (np.concatenate(lines, axis=0) * 255 + 0.5).astype(np.uint8)


def save_png(path: Path, rgb: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def config_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
    return path


class NullTracker:
    """Stand-in for mlflow when tracking is disabled (unit tests, ``--no-mlflow``)."""

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:  # noqa: D401
        pass

    def log_artifact(self, path: str, artifact_path: str | None = None) -> None:
        pass

    def log_dict(self, d: dict, name: str) -> None:
        pass
