"""Command lines of the training and export jobs (``jobs/*.py`` are thin wrappers).

Every field of a training config becomes a flag (``--base-channels 16``); ``--conf`` sets
adstage Settings (MLflow store, ...) as for every other job.  Runs are logged to MLflow:
params = the config, metrics = losses, artifacts = config.json, sample grids, checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

from adstage import logs, tracking
from adstage.config import Settings, parse_overrides

log = logging.getLogger(__name__)


def _bool(v: str) -> bool:
    if v.lower() in {"1", "true", "yes"}:
        return True
    if v.lower() in {"0", "false", "no"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {v!r}")


def config_parser(cls: type, prog: str, description: str) -> argparse.ArgumentParser:
    """An argparse parser with one ``--flag`` per dataclass field (defaults from the class)."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(cls):
        kind = {"int": int, "float": float, "bool": _bool}.get(str(f.type), str)
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=f.default,
                       help=f"(default: {f.default!r})")
    p.add_argument("--conf", action="append", metavar="FIELD=VALUE", default=[],
                   help="adstage Settings override (repeatable), e.g. mlflow_tracking_uri=...")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    return p


def _config_from(cls: type, args: argparse.Namespace) -> Any:
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def run_training(cls: type, train_fn: Callable[..., dict], job: str, description: str,
                 argv: Sequence[str] | None = None) -> int:
    """Parse flags into ``cls``, run ``train_fn(cfg, tracker)`` inside an MLflow job run."""
    args = config_parser(cls, f"jobs/{job}.py", description).parse_args(argv)
    settings = Settings.load(parse_overrides(args.conf))
    logs.setup(settings.log_level)
    cfg = _config_from(cls, args)
    log.info("%s config: %s", job, json.dumps(dataclasses.asdict(cfg), sort_keys=True))
    if args.no_mlflow:
        train_fn(cfg, None)
        return 0
    with tracking.job_run(settings, job, None, {f"train.{k}": v for k, v in dataclasses.asdict(cfg).items()}):
        import mlflow

        train_fn(cfg, mlflow)
    return 0


def train_edgeconnect_main(argv: Sequence[str] | None = None) -> int:
    from adstage.generative.train_edgeconnect import EdgeConnectTrainConfig, train, __doc__ as doc

    return run_training(EdgeConnectTrainConfig, train, "train_edgeconnect", doc or "", argv)


def train_pix2pix_main(argv: Sequence[str] | None = None) -> int:
    from adstage.generative.train_pix2pix import Pix2PixTrainConfig, train, __doc__ as doc

    return run_training(Pix2PixTrainConfig, train, "train_pix2pix", doc or "", argv)


def export_models_main(argv: Sequence[str] | None = None) -> int:
    """Export checkpoints to ONNX + model cards, check parity, optionally register @champion."""
    from adstage.generative import publish

    p = argparse.ArgumentParser(prog="jobs/export_models.py", description=export_models_main.__doc__)
    p.add_argument("--edgeconnect", help="EdgeConnect checkpoint (exports edge + inpaint)")
    p.add_argument("--edgeconnect-edge", help="take the edge generator from this checkpoint instead "
                   "(G1 and G2 trained as separate runs, e.g. --stage edge / --stage inpaint)")
    p.add_argument("--pix2pix", help="pix2pix checkpoint")
    p.add_argument("--out", default="models/generative", help="output folder (default: models/generative/)")
    p.add_argument("--training-command", default="", help="command that produced the checkpoints (for the card)")
    p.add_argument("--data", default="", help="training data description (for the card)")
    p.add_argument("--limitations", default="", help="the card's limitations line (default: the demo weights')")
    p.add_argument("--register", action="store_true", help="register in MLflow and move @champion")
    p.add_argument("--register-only", action="store_true", help="register what is already in --out")
    p.add_argument("--conf", action="append", metavar="FIELD=VALUE", default=[])
    args = p.parse_args(argv)
    settings = Settings.load(parse_overrides(args.conf))
    logs.setup(settings.log_level)
    stems: list[str] = []
    if not args.register_only:
        training = {k: v for k, v in {"command": args.training_command, "data": args.data,
                                      "limitations": args.limitations}.items() if v}
        if args.edgeconnect_edge and not args.edgeconnect:
            p.error("--edgeconnect-edge needs --edgeconnect (the inpainting generator's checkpoint)")
        ec_jobs = ([(args.edgeconnect_edge, ["edgeconnect_edge"]), (args.edgeconnect, ["edgeconnect_inpaint"])]
                   if args.edgeconnect_edge else [(args.edgeconnect, ["edgeconnect_edge", "edgeconnect_inpaint"])])
        for ck, names in (*ec_jobs, (args.pix2pix, ["pix2pix"])):
            if ck:
                summary = Path(ck).with_name("summary.json")
                extra = json.loads(summary.read_text()) if summary.exists() else {}
                extra = {k: extra[k] for k in ("train_seconds", "device", "threads") if k in extra}
                publish.export_checkpoint(ck, names, args.out, {**training, **extra})
                stems += names
        if not stems:
            p.error("give --edgeconnect and/or --pix2pix (or --register-only)")
    if args.register or args.register_only:
        with tracking.job_run(settings, "export_models", None, {"out": args.out}):
            versions = publish.register_dir(settings, args.out, stems or None)
        log.info("registered: %s", versions)
    return 0
