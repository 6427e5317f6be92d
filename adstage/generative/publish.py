"""Checkpoint -> shipped ONNX + model card (+ optional MLflow registration).

``models/<name>.onnx`` and ``models/<name>.card.json`` are what ``make demo`` and the nightly
staging job use; the card records everything needed to feed the graph correctly.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from adstage.generative import checkpoint as ckpt
from adstage.generative import export as ex
from adstage.generative import registry

log = logging.getLogger(__name__)

PARITY_TOL = 1e-4

# file stem -> (registered name, checkpoint network, export wrapper, inputs with channels)
SPECS: dict[str, tuple[str, str, type, dict[str, int], str]] = {
    "edgeconnect_edge": (registry.EDGE_MODEL, "edge_generator", ex.EdgeExport,
                         {"grey": 1, "edges": 1, "hole": 1}, "edges_out"),
    "edgeconnect_inpaint": (registry.INPAINT_MODEL, "inpaint_generator", ex.InpaintExport,
                            {"image": 3, "edges": 1, "hole": 1}, "image_out"),
    "pix2pix": (registry.PIX2PIX_MODEL, "generator", ex.Pix2PixExport, {"product": 3}, "scene"),
}

INTERFACES = {
    "edgeconnect_edge": "grey N×1×H×W [0,1], edges N×1×H×W {0,1} (Canny of the image; hole zeroed "
                        "inside the graph), hole N×1×H×W {0,1} (1=hole) -> edges N×1×H×W: known edges "
                        "outside the hole, predicted edge probabilities inside",
    "edgeconnect_inpaint": "image N×3×H×W RGB [0,1], edges N×1×H×W (output of edgeconnect_edge), hole "
                           "N×1×H×W -> image_out N×3×H×W RGB [0,1], known pixels passed through",
    "pix2pix": "product N×3×H×W RGB [0,1] (product on white) -> scene N×3×H×W RGB [0,1]",
}


def export_checkpoint(checkpoint: str | Path, stems: list[str], out_dir: str | Path,
                      training: dict[str, Any] | None = None) -> dict[str, dict]:
    """Export the named networks of one checkpoint; returns ``{stem: card}``.

    Raises if the torch/onnxruntime parity on fresh random inputs exceeds 1e-4.

    :param checkpoint: a checkpoint written by a training job.
    :param stems: keys of :data:`SPECS` to export from it.
    :param out_dir: destination folder (``models/`` for the shipped defaults).
    :param training: provenance for the card (command, data, steps, seconds, hardware).
    """
    blob = ckpt.load(checkpoint)
    out_dir = Path(out_dir)
    cards = {}
    for stem in stems:
        name, net_key, wrapper, inputs, output = SPECS[stem]
        net = ckpt.load_network(blob, net_key)
        model = wrapper(net)
        multiple = int(blob["preprocessing"].get("size_multiple", 4))
        side = max(multiple, 32 // multiple * multiple)
        example = [torch.rand(1, c, side, side) for c in inputs.values()]
        path = ex.export_onnx(model, example, out_dir / f"{stem}.onnx", list(inputs), [output])
        # Fresh random inputs at another batch size and a non-square size.
        shapes = {n: (3, c, 2 * multiple * max(1, 16 // multiple), 3 * multiple * max(1, 16 // multiple))
                  for n, c in inputs.items()}
        err = ex.parity(model, path, shapes, seed=1234)
        if err >= PARITY_TOL:
            raise RuntimeError(f"{stem}: ONNX parity {err:.2e} >= {PARITY_TOL}")
        import onnx

        proto = onnx.load(str(path))
        pre = blob["preprocessing"]
        card = {
            "name": stem, "registered_model": name, "alias_loaded_by_jobs": registry.CHAMPION,
            "file": path.name, "sha256": ex.sha256(path), "bytes": path.stat().st_size,
            "onnx": {"opset": max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                     "ir_version": proto.ir_version, "dynamic_axes": ["batch", "height", "width"]},
            "interface": INTERFACES[stem],
            "architecture": blob["arch"][net_key],
            "architecture_summary": _summary(blob["arch"][net_key]),
            "parameters": sum(p.numel() for p in net.parameters()),
            "resolution": pre.get("train_resolution"),
            "size_multiple": multiple,
            "normalisation": "RGB float32 in [0, 1], NCHW (graph rescales internally where needed)",
            "mask_polarity": "1.0 (white) = hole / unknown pixel",
            "canny": pre.get("canny"),
            "canny_sigma": (pre.get("canny") or {}).get("sigma"),
            "preprocessing": pre,
            "training": {"steps": blob["step"], "config": blob["config"],
                         **{k: v for k, v in (training or {}).items() if k != "limitations"}},
            "data": (training or {}).get("data", blob["config"].get("data")),
            "parity_max_abs_err_float32": err,
            "limitations": (training or {}).get("limitations") or (
                "CPU-sized network trained briefly on synthetic demo data; for the demo and "
                "tests, not production quality."),
        }
        (out_dir / f"{stem}.card.json").write_text(json.dumps(card, indent=2, sort_keys=True, default=str))
        log.info("exported %s: %d bytes, parity %.2e", path, card["bytes"], err)
        cards[stem] = card
    return cards


def _summary(arch: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in arch.items())


def register_dir(settings, models_dir: str | Path, stems: list[str] | None = None) -> dict[str, str]:
    """Register every exported ``<stem>.onnx`` (with its card) and move ``@champion`` to it."""
    import mlflow

    models_dir = Path(models_dir)
    versions = {}
    for stem in stems or list(SPECS):
        path = models_dir / f"{stem}.onnx"
        if not path.exists():
            continue
        card_path = models_dir / f"{stem}.card.json"
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
        # One (nested) run per model: models registered inside one job run would otherwise
        # share its `model/` artifact folder, and the last one logged would replace the others.
        with mlflow.start_run(run_name=f"register {stem}", nested=mlflow.active_run() is not None):
            versions[stem] = registry.register_onnx(settings, path, SPECS[stem][0], card)
    return versions
