"""Quantize the champion generators to int8, gate them against fp32, and register the verdict.

    python jobs/quantize_models.py                                  # demo catalog rooms
    python jobs/quantize_models.py --ikea-root ../shared/datasets/ikea --out /tmp/int8

1. The fp32 models are the ones the staging jobs would load now (``models:/<name>@champion``,
   else the shipped file).
2. Data: staged room photos, split once by a stable hash of the room id
   (``evalsplit.is_holdout(id, --eval-share)``) into calibration and evaluation rooms, so the
   fixed evaluation set never calibrates. EdgeConnect: copy-paste holes cut into gap crops as
   the staging job cuts them (:func:`quantize.gap_crops`); IKEA rooms when ``--ikea-root`` is
   given (with IKEA product silhouettes), else a demo catalog (generated with ``--catalog-seed``
   unless ``--catalog`` names one). pix2pix: the demo catalog's (product on white, staged
   scene) pairs, the layout it was trained on.
3. Calibration feeds are recorded from the fp32 runners themselves (:class:`quantize.Recorder`);
   both EdgeConnect generators are quantized and gated together (the pair's output is what the
   staging job uses), pix2pix alone.
4. Every int8 model is registered as a new version of the *same* registered model, tagged with
   the verdict (``adstage.precision=int8``, ``adstage.quant.verdict``, ``adstage.quant.reason``,
   the figures, the fp32 version it came from); the ``int8`` alias moves to it only when the
   gate passed. ``@champion`` is never touched: it stays the fp32 model, and a refusal says so
   in the log, the tags and the run's metrics.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from adstage.config import Settings, parse_overrides
from adstage.generative import quantize as q
from adstage.generative import registry as gen

log = logging.getLogger(__name__)

EVAL_SEED, CALIB_SEED = 20231, 20232


# ---- data ----------------------------------------------------------------------------------
def demo_rooms(catalog: str | Path) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], list[np.ndarray]]:
    """A demo catalog's staged photos ``(id, BGR, product mask)`` and its product silhouettes."""
    import cv2

    from adstage.generative import data

    rows = data.read_catalog(catalog)
    rooms = [(r.product_id, cv2.imread(r.staged_image, cv2.IMREAD_COLOR),
              cv2.imread(r.staged_mask, cv2.IMREAD_GRAYSCALE)) for r in rows if r.staged_image]
    masks = [cv2.imread(r.product_mask, cv2.IMREAD_GRAYSCALE) for r in rows]
    return rooms, masks


def ikea_rooms(root: str | Path, short_side: int = 384) -> list[tuple[str, np.ndarray]]:
    """IKEA room photos (read in place), area-resized to ``short_side`` as the comparison does."""
    import cv2

    from adstage.generative import data

    out = []
    for path in data.ikea_room_paths(str(root)):
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        s = short_side / min(img.shape[:2])
        out.append((Path(path).stem, cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                                                interpolation=cv2.INTER_AREA)))
    return out


def split(items: Sequence, share: float, key=lambda item: item[0]) -> tuple[list, list]:
    """``(calibration, evaluation)`` by the project's stable id hash."""
    from adstage.evalsplit import is_holdout

    held = [it for it in items if is_holdout(key(it), share)]
    return [it for it in items if not is_holdout(key(it), share)], held


def pix2pix_pairs(rooms: Sequence[tuple[str, np.ndarray, np.ndarray]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, targets)`` uint8 RGB ``N x size x size x 3`` from staged photos and their masks."""
    from adstage.generative.data import paired_example

    pairs = [paired_example(img[..., ::-1], mask, size) for _, img, mask in rooms]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


# ---- running the generators ------------------------------------------------------------------
def _session(model: bytes, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def inpaint(edge: bytes, inpaint_model: bytes, crops: q.CropSet, sigma: float,
            record: bool = False, batch: int = 8):
    """The EdgeConnect pair's output on the crops; with ``record``, also the feeds of each model."""
    from adstage.generative.inference import EdgeConnectInpainter

    e, i = _session(edge), _session(inpaint_model)
    if record:
        e, i = q.Recorder(e), q.Recorder(i)
    out = np.stack(EdgeConnectInpainter(e, i, sigma=sigma)(list(crops.crops), list(crops.holes),
                                                           batch=batch))
    return (out, e.feeds, i.feeds) if record else out


def stage(model: bytes, products: np.ndarray, size: int, record: bool = False, batch: int = 8):
    """pix2pix scenes for the products; with ``record``, also the feeds it was run with."""
    from adstage.generative.inference import Pix2PixStager

    sess = _session(model)
    if record:
        sess = q.Recorder(sess)
    runner = Pix2PixStager(sess, size)
    out = np.concatenate([runner(products[i:i + batch]) for i in range(0, len(products), batch)])
    return (out, sess.feeds) if record else out


def rgb_embedder(settings: Settings):
    """The evaluation's named extractor, fed RGB uint8 (``Embedder`` expects BGR)."""
    from adstage.evaluation.features import embedder

    embed = embedder(settings.fid_inception_path)
    return (lambda rgb: embed(np.ascontiguousarray(rgb[..., ::-1]))), embed.name


# ---- registry ---------------------------------------------------------------------------------
def int8_card(fp32: "gen.registry.ResolvedModel", int8: bytes, verdict: q.Verdict, fmt: str,
              extractor: str, data: str) -> dict:
    """The fp32 card plus what was done to it and what the gate measured."""
    card = dict(fp32.card)
    card.update({
        "precision": "int8",
        "alias_loaded_by_jobs": gen.INT8,
        "sha256": hashlib.sha256(int8).hexdigest(), "bytes": len(int8),
        "quantization": {"method": "onnxruntime.quantization.quantize_static", "format": fmt,
                         "weights": "int8 per channel", "activations": "int8 per tensor",
                         "calibration": "MinMax", "data": data, "ops": q.quantized_ops(int8)},
        "quantized_from": {"name": fp32.name, "version": fp32.version, "source": fp32.source,
                           "sha256": hashlib.sha256(fp32.data).hexdigest()},
        "gate": {"passed": verdict.passed, "reason": verdict.reason, "tolerance": verdict.tolerance,
                 "extractor": extractor, "figures": verdict.figures},
    })
    card.pop("parity_max_abs_err_float32", None)
    return card


def register_int8(settings: Settings, fp32: "gen.registry.ResolvedModel", int8: bytes,
                  card: dict, verdict: q.Verdict) -> str:
    """A new version of ``fp32.name`` holding the int8 model; ``@int8`` moves only if it passed.

    Each model gets its own (nested) run: two models logged under one run's ``model/`` folder
    would overwrite each other's artifacts. The run holds the figures as metrics and the
    verdict as tags; so does the model version."""
    import mlflow
    from mlflow import MlflowClient

    from adstage import tracking

    tracking.configure(settings)
    tags = {"adstage.precision": "int8", "adstage.quant.verdict": "passed" if verdict.passed else "refused",
            "adstage.quant.reason": verdict.reason, "adstage.quant.format": card["quantization"]["format"],
            "adstage.quant.fp32_version": fp32.version,
            **{f"adstage.quant.{k}": f"{v:.6g}" for k, v in verdict.figures.items()}}
    with mlflow.start_run(run_name=f"int8 {fp32.name}", nested=mlflow.active_run() is not None), \
            tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(int8)
        version = gen.register_onnx(settings, path, fp32.name, card, alias=None)
        mlflow.log_metrics(verdict.figures | {"gate_passed": float(verdict.passed)})
        mlflow.set_tags(tags)
    client = MlflowClient()
    for k, v in tags.items():
        client.set_model_version_tag(fp32.name, version, k, v)
    if verdict.passed:
        client.set_registered_model_alias(fp32.name, gen.INT8, version)
        log.info("%s version %s is now @%s (%s)", fp32.name, version, gen.INT8, verdict.reason)
    else:
        log.warning("%s int8 version %s %s; @%s is unchanged and @champion stays fp32 version %s",
                    fp32.name, version, verdict.reason, gen.INT8, fp32.version)
    return version


# ---- the job ----------------------------------------------------------------------------------
def quantize_edgeconnect(settings: Settings, calib: q.CropSet, evalset: q.CropSet, fmt: str,
                         tolerance: float, embed) -> dict:
    """Both EdgeConnect generators: fp32 models, int8 bytes, and the pair's verdict."""
    from adstage.staging.gap_fill import canny_sigma

    edge, inp = gen.resolve(settings, settings.edge_model), gen.resolve(settings, settings.inpaint_model)
    sigma = canny_sigma(inp)
    _, edge_feeds, inpaint_feeds = inpaint(edge.data, inp.data, calib, sigma, record=True)
    edge8 = q.quantize_bytes(edge.data, edge_feeds, fmt)
    inp8 = q.quantize_bytes(inp.data, inpaint_feeds, fmt)
    truth, regions = evalset.crops, evalset.holes > 0
    verdict = q.compare(inpaint(edge.data, inp.data, evalset, sigma),
                        inpaint(edge8, inp8, evalset, sigma), truth, regions, embed, tolerance)
    log.info("EdgeConnect int8 (%d calibration crops, %d evaluation crops): %s", len(calib),
             len(evalset), verdict.reason)
    return {"models": [(edge, edge8), (inp, inp8)], "verdict": verdict}


def quantize_pix2pix(settings: Settings, calib: np.ndarray, eval_in: np.ndarray, eval_truth: np.ndarray,
                     fmt: str, tolerance: float, embed) -> dict:
    p2p = gen.resolve(settings, settings.pix2pix_model)
    size = int(p2p.card.get("resolution") or 128)
    _, feeds = stage(p2p.data, calib, size, record=True)
    p8 = q.quantize_bytes(p2p.data, feeds, fmt)
    regions = np.ones(eval_truth.shape[:3], bool)  # a whole scene is generated: L1 on all of it
    verdict = q.compare(stage(p2p.data, eval_in, size), stage(p8, eval_in, size), eval_truth,
                        regions, embed, tolerance)
    log.info("pix2pix int8 (%d calibration scenes, %d evaluation scenes): %s", len(calib),
             len(eval_in), verdict.reason)
    return {"models": [(p2p, p8)], "verdict": verdict}


def main(argv: Sequence[str] | None = None) -> int:
    from adstage import logs, tracking

    p = argparse.ArgumentParser(prog="jobs/quantize_models.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=("edgeconnect", "pix2pix"),
                   default=["edgeconnect", "pix2pix"])
    p.add_argument("--catalog", help="a demo catalog folder (default: generate one)")
    p.add_argument("--catalog-seed", type=int, default=23)
    p.add_argument("--catalog-products", type=int, default=60)
    p.add_argument("--ikea-root", help="IKEA set: its rooms and product silhouettes for EdgeConnect")
    p.add_argument("--eval-share", type=float, default=0.3,
                   help="share of rooms (stable id hash) in the fixed evaluation set")
    p.add_argument("--format", choices=q.FORMATS, default=q.DEFAULT_FORMAT)
    p.add_argument("--tolerance", type=float, default=q.DEFAULT_TOLERANCE,
                   help="allowed relative change of FD and L1, int8 vs fp32")
    p.add_argument("--out", type=Path, help="also write <stem>.int8.onnx + card here (gate-passing only)")
    p.add_argument("--no-register", action="store_true", help="evaluate only; registry untouched")
    p.add_argument("--conf", action="append", metavar="FIELD=VALUE", default=[])
    args = p.parse_args(argv)
    settings = Settings.load(parse_overrides(args.conf))
    logs.setup(settings.log_level)

    with tempfile.TemporaryDirectory(prefix="adstage-quant-catalog-") as tmp:
        catalog = args.catalog
        if not catalog:
            from adstage.demo.catalog import generate_catalog

            rooms, product_masks = demo_rooms(
                generate_catalog(tmp, args.catalog_products, args.catalog_seed)["out_dir"])
            catalog = f"generated, {args.catalog_products} products, seed {args.catalog_seed}"
        else:
            rooms, product_masks = demo_rooms(catalog)
    embed, extractor = rgb_embedder(settings)
    results = {}
    if "edgeconnect" in args.models:
        from adstage.generative import data
        from adstage.generative.masks import SilhouetteBank

        if args.ikea_root:
            ec_rooms = ikea_rooms(args.ikea_root)
            bank = data.product_bank(data.ikea_product_paths(args.ikea_root))
            source = f"IKEA rooms ({args.ikea_root}) with IKEA product-silhouette holes"
        else:
            ec_rooms = [(rid, img) for rid, img, _ in rooms]
            bank = SilhouetteBank.from_masks(product_masks)
            source = f"demo catalog rooms ({catalog}) with demo product-silhouette holes"
        cal_rooms, eval_rooms = split(ec_rooms, args.eval_share)
        calib = q.gap_crops(cal_rooms, bank, CALIB_SEED, settings.staging_crop_size)
        evalset = q.gap_crops(eval_rooms, bank, EVAL_SEED, settings.staging_crop_size)
        results["edgeconnect"] = quantize_edgeconnect(settings, calib, evalset, args.format,
                                                      args.tolerance, embed)
        results["edgeconnect"]["data"] = f"{source}; {len(calib)} calibration / {len(evalset)} evaluation gap crops"
    if "pix2pix" in args.models:
        size = int(gen.resolve(settings, settings.pix2pix_model).card.get("resolution") or 128)
        cal_rooms, eval_rooms = split(rooms, args.eval_share)
        cal_in, _ = pix2pix_pairs(cal_rooms, size)
        ev_in, ev_truth = pix2pix_pairs(eval_rooms, size)
        results["pix2pix"] = quantize_pix2pix(settings, cal_in, ev_in, ev_truth, args.format,
                                              args.tolerance, embed)
        results["pix2pix"]["data"] = (f"demo catalog pairs ({catalog}); {len(cal_in)} calibration / "
                                      f"{len(ev_in)} evaluation scenes")

    def publish() -> None:
        for res in results.values():
            for fp32, int8 in res["models"]:
                card = int8_card(fp32, int8, res["verdict"], args.format, extractor, res["data"])
                if not args.no_register:
                    register_int8(settings, fp32, int8, card, res["verdict"])
                if args.out and res["verdict"].passed:
                    stem = Path(gen.SHIPPED[fp32.name]).stem
                    args.out.mkdir(parents=True, exist_ok=True)
                    (args.out / f"{stem}.int8.onnx").write_bytes(int8)
                    card["file"] = f"{stem}.int8.onnx"
                    (args.out / f"{stem}.int8.card.json").write_text(
                        json.dumps(card, indent=2, sort_keys=True, default=str))

    if args.no_register:
        publish()
    else:
        with tracking.job_run(settings, "quantize_models", None,
                              {"format": args.format, "tolerance": args.tolerance}):
            publish()
    for name, res in results.items():
        print(f"{name}: {res['verdict'].reason}")
    return 0
