"""Self-describing checkpoints: architecture + preprocessing travel with the weights.

A checkpoint is a dict ``{"format", "kind", "arch", "preprocessing", "config", "step",
"state", "optim"}``; :func:`build` re-creates the networks from ``arch`` alone, so a file
always loads, whatever the training defaults are today.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from adstage.generative import edgeconnect, pix2pix

FORMAT = "adstage-generative-ckpt-v1"

_BUILDERS = {
    "edge_generator": lambda a: edgeconnect.EdgeGenerator(a["base_channels"], a["res_blocks"], a.get("use_spectral_norm", True)),
    "inpaint_generator": lambda a: edgeconnect.InpaintGenerator(a["base_channels"], a["res_blocks"]),
    "edgeconnect_discriminator": lambda a: edgeconnect.Discriminator(a["in_channels"], a["base_channels"], a["use_sigmoid"], a.get("use_spectral_norm", True)),
    "unet_generator": lambda a: pix2pix.UnetGenerator(a["in_channels"], a["out_channels"], a["num_downs"], a["base_channels"], a["max_mult"], a["norm"], a["dropout"]),
    "patch_discriminator": lambda a: pix2pix.PatchDiscriminator(a["in_channels"], a["base_channels"], a["n_layers"], a["norm"]),
}


def build(arch: dict[str, Any]) -> nn.Module:
    """Instantiate a network from its architecture record (``{"type": ..., **kwargs}``)."""
    try:
        return _BUILDERS[arch["type"]](arch)
    except KeyError as exc:
        raise ValueError(f"unknown network type in checkpoint: {arch.get('type')!r}") from exc


def save(path: str | Path, *, kind: str, arch: dict[str, dict], preprocessing: dict, config: dict,
         step: int, nets: dict[str, nn.Module], optims: dict[str, torch.optim.Optimizer]) -> None:
    """Atomically write a checkpoint (temp file + rename: a killed job never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT, "kind": kind, "arch": arch, "preprocessing": preprocessing,
        "config": config, "step": step,
        "state": {k: v.state_dict() for k, v in nets.items()},
        "optim": {k: v.state_dict() for k, v in optims.items()},
        "rng": torch.get_rng_state(),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load(path: str | Path) -> dict:
    """Read a checkpoint dict (CPU tensors) and check its format tag."""
    # weights_only: a checkpoint is tensors and plain values; never unpickle arbitrary objects.
    blob = torch.load(str(path), map_location="cpu", weights_only=True)
    if blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not an adstage generative checkpoint")
    return blob


def restore(path: str | Path, arch: dict[str, dict], nets: dict[str, nn.Module],
            optims: dict[str, torch.optim.Optimizer]) -> int:
    """Resume training: load weights and optimiser states into ``nets``/``optims`` and return
    the step. A checkpoint of another architecture is refused rather than half-loaded."""
    blob = load(path)
    if blob["arch"] != arch:
        raise ValueError(f"{path}: architecture {blob['arch']} differs from the config's {arch}")
    for k, net in nets.items():
        net.load_state_dict(blob["state"][k])
    for k, opt in optims.items():
        opt.load_state_dict(blob["optim"][k])
    return int(blob["step"])


def load_network(blob: dict, name: str) -> nn.Module:
    """Rebuild network ``name`` of a loaded checkpoint and load its weights (eval mode)."""
    net = build(blob["arch"][name])
    net.load_state_dict(blob["state"][name])
    return net.eval()
