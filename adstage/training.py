"""The training DAG's work (dags/adstage_training.py): training sets from the tables, the four
trainers at a named size, and champion / challenger promotion on the held-apart set.

What the tables give, and what stays synthetic:

* **EdgeConnect and pix2pix** train on the warehouse: staged photos with their donor-slot masks
  (`donor_slots`, usable slots) and unstaged product cutout masks (`product_cutouts`, ok ones),
  each image's latest row up to the date. Staged photos in the evaluation hold-out
  (:mod:`adstage.evalsplit`, the same split the nightly evaluation uses) never enter training:
  they are the **held-apart set** both candidate and champion are scored on.
* **Classifier and segmenter** stay on their own generated data (demo catalog generator, IKEA
  split when present): the tables' labels and slot masks are those models' own predictions, so
  training on them would only teach the models their own mistakes. Their held-apart sets are the
  trainers' own (other seeds; the IKEA test split).

Layout under ``<home>/training/<ds>/``: ``sets/{train,heldout}/ground_truth.jsonl`` (the demo
catalog's format, read by ``adstage.generative.data.read_catalog``) with its images, one folder
per candidate under ``candidates/``, and ``promotion.json``, the decisions.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from adstage.config import Settings

log = logging.getLogger(__name__)

MODELS = ("classifier", "segmenter", "edgeconnect", "pix2pix")

# Trainer flags per size. `tiny` is for CI (seconds per model, figures meaningless but every path
# real); `full` is the trainers' own defaults, as the shipped models were trained.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "classifier": {"steps": 20, "batch": 8, "width": 4, "demo_products": 10,
                       "use_ikea": False, "threads": 1},
        "segmenter": {"steps": 10, "batch": 4, "width": 4, "scenes": 24, "heldout": 8,
                      "ikea_sprites": 0, "threads": 1},
        "edgeconnect": {"steps": 4, "batch_size": 2, "size": 64, "load_short_side": 96,
                        "base_channels": 4, "res_blocks": 1, "disc_channels": 4,
                        "sample_every": 0, "log_every": 2, "checkpoint_every": 4, "threads": 1},
        "pix2pix": {"steps": 4, "batch_size": 2, "size": 64, "num_downs": 6, "base_channels": 4,
                    "disc_channels": 4, "sample_every": 0, "log_every": 2,
                    "checkpoint_every": 4, "threads": 1},
    },
    "full": {"classifier": {}, "segmenter": {}, "edgeconnect": {}, "pix2pix": {}},
}
# Held-apart figures: crops per set, their side, the hole sampler's seed (fixed: both models
# see the same crops and holes).
EVAL_CROPS, EVAL_SIZE, EVAL_SEED = 32, 128, 2023


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def train(self) -> Path:
        return self.root / "sets" / "train"

    @property
    def heldout(self) -> Path:
        return self.root / "sets" / "heldout"

    def candidate(self, model: str) -> Path:
        return self.root / "candidates" / model


def paths(settings: Settings, ds: str) -> Paths:
    return Paths(Path(settings.home).resolve() / "training" / ds)


# ---- training sets from the tables --------------------------------------------------------
def latest_rows(df, ds: str):
    """Each image's rows of its latest date up to ``ds`` (tables are rewritten per date)."""
    df = df[df["ds"].astype(str) <= ds]
    if df.empty:
        return df
    last = df.groupby("image_id")["ds"].transform("max")
    return df[df["ds"] == last]


def build_sets(settings: Settings, ds: str) -> dict[str, int]:
    """Write the train and held-apart sets of ``ds``; returns their counts."""
    from adstage.evalsplit import photo_is_holdout
    from adstage.imagestore import ImageStore
    from adstage.report import read_table

    store = ImageStore(settings.image_store_uri)
    cut = latest_rows(read_table(settings, "product_cutouts"), ds)
    cut = cut[cut["ok"]].sort_values("image_id")
    slots = latest_rows(read_table(settings, "donor_slots"), ds)
    slots = slots[slots["usable"] == True].sort_values("slot_id")  # noqa: E712 (nullable)
    held = slots["image_uri"].map(lambda u: photo_is_holdout(u, settings.eval_holdout_share))
    if cut.empty:
        raise RuntimeError(f"no usable product cutouts up to {ds}: run the nightly DAG first")
    p = paths(settings, ds)
    counts = {"cutouts": len(cut)}
    for split, part in (("train", slots[~held]), ("heldout", slots[held])):
        folder = p.root / "sets" / split
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "images").mkdir(parents=True)
        counts[f"{split}_staged"] = write_catalog(store, folder, cut, part)
    log.info("training sets of %s: %s (under %s)", ds, counts, p.root / "sets")
    return counts


def write_catalog(store, folder: Path, cutouts, slots) -> int:
    """``ground_truth.jsonl`` in the demo catalog's format: one row per staged slot, each with a
    product cutout (cycled; trainers use the two independently: EdgeConnect's holes take the
    cutouts' shapes, pix2pix pairs each staged photo with its own slot mask), then the
    remaining cutouts alone. Returns the number of staged rows."""
    def local(uri: str) -> str:
        name = uri.rsplit("/", 1)[-1]
        path = folder / "images" / name
        if not path.exists():
            path.write_bytes(store.get(uri))
        return str(path)

    cuts = list(cutouts[["product_id", "image_uri", "mask_uri"]].itertuples(index=False))
    rows = []
    for i, s in enumerate(slots[["product_id", "image_uri", "mask_uri", "box"]]
                          .itertuples(index=False)):
        c = cuts[i % len(cuts)]
        rows.append({"product_id": s.product_id,
                     "unstaged": {"image": local(c.image_uri), "mask": local(c.mask_uri)},
                     "staged": {"image": local(s.image_uri), "mask": local(s.mask_uri),
                                "box": [int(v) for v in s.box]}})
    for c in cuts[len(rows):]:
        rows.append({"product_id": c.product_id,
                     "unstaged": {"image": local(c.image_uri), "mask": local(c.mask_uri)}})
    (folder / "ground_truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return len(slots)


# ---- training -----------------------------------------------------------------------------
def _flags(options: dict[str, Any]) -> list[str]:
    return [a for k, v in options.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def train(settings: Settings, ds: str, model: str, size: str, conf: list[str]) -> Path:
    """Train one model with the existing training CLI at preset ``size``; returns the folder
    holding the candidate's ONNX file(s) and card(s)."""
    p = paths(settings, ds)
    out = p.candidate(model)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    options = PRESETS[size][model]
    confs = [a for c in conf for a in ("--conf", c)]
    if model in ("classifier", "segmenter"):
        from adstage.vision import train_cli

        main = train_cli.classifier_main if model == "classifier" else train_cli.segmenter_main
        main(["--out", str(out / f"{model}.onnx"), "--work", str(p.root / "work"),
              *_flags(options), *confs])
        return out
    from adstage.generative import cli, publish

    ckpt_dir = p.root / "work" / model
    main = cli.train_edgeconnect_main if model == "edgeconnect" else cli.train_pix2pix_main
    main(["--data", "catalog", "--data-root", str(p.train), "--out-dir", str(ckpt_dir),
          *_flags(options), *confs])
    stems = ["edgeconnect_edge", "edgeconnect_inpaint"] if model == "edgeconnect" else ["pix2pix"]
    publish.export_checkpoint(ckpt_dir / "checkpoint.pt", stems, out,
                              {"command": f"adstage_training {model} --size {size}",
                               "data": f"warehouse training set {ds} ({p.train})"})
    return out


# ---- held-apart figures -------------------------------------------------------------------
@dataclass(frozen=True)
class Gate:
    """How one model family is judged: registered names -> (shipped folder, file, candidate
    file), the metric and its direction, and the scorer (ONNX bytes per name -> figure)."""

    names: dict[str, tuple[str, str, str]]
    metric: str
    higher_is_better: bool
    score: Callable[[dict[str, bytes], dict[str, dict]], float]
    tolerance: float = 0.0


def gates(settings: Settings, ds: str, size: str) -> dict[str, Gate]:
    from adstage import model_catalog
    from adstage.generative import registry as gen
    from adstage.vision.train_cli import CLASSIFIER_NAME, SEGMENTER_NAME

    p, presets = paths(settings, ds), PRESETS[size]

    def classifier(blobs, cards):
        from adstage.vision import classifier as clf

        use_ikea = bool(presets["classifier"].get("use_ikea", clf.TrainConfig.use_ikea))
        figures = clf.evaluate_onnx(_file(p, blobs[CLASSIFIER_NAME]), p.root / "work" / "eval",
                                    use_ikea=use_ikea)
        return figures["ikea_test" if use_ikea else "demo_heldout"]["balanced_accuracy"]

    def segmenter(blobs, cards):
        from adstage.vision import segmenter as seg

        cfg = seg.TrainConfig(**{k: v for k, v in presets["segmenter"].items()
                                 if k in ("heldout", "ikea_sprites", "seed")})
        figures = seg.evaluate_onnx(_file(p, blobs[SEGMENTER_NAME]), cfg)
        return figures["demo_scenes"]["refined"]["mean_iou"]

    def edgeconnect(blobs, cards):
        return heldout_hole_l1(p.heldout, blobs[gen.EDGE_MODEL], blobs[gen.INPAINT_MODEL],
                               float(cards[gen.EDGE_MODEL].get("canny_sigma") or 0) or None)

    def pix2pix(blobs, cards):
        return heldout_pix2pix_l1(p.heldout, blobs[gen.PIX2PIX_MODEL],
                                  int(cards[gen.PIX2PIX_MODEL].get("resolution") or 128))

    def shipped(*names: str) -> dict[str, tuple[str, str, str]]:
        # The candidate file is named as the shipped one (the catalog's).
        return {n: (model_catalog.get(n).folder, model_catalog.get(n).file,
                    model_catalog.get(n).file) for n in names}

    return {
        "classifier": Gate(shipped(CLASSIFIER_NAME), "balanced_accuracy", True, classifier),
        "segmenter": Gate(shipped(SEGMENTER_NAME), "slot_mean_iou", True, segmenter),
        "edgeconnect": Gate(shipped(gen.EDGE_MODEL, gen.INPAINT_MODEL), "heldout_hole_l1",
                            False, edgeconnect),
        "pix2pix": Gate(shipped(gen.PIX2PIX_MODEL), "heldout_l1", False, pix2pix),
    }


def _file(p: Paths, data: bytes) -> Path:
    import hashlib

    path = p.root / "work" / "onnx" / f"{hashlib.sha256(data).hexdigest()[:16]}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _heldout_rows(folder: Path):
    from adstage.generative import data as data_mod

    rows = data_mod.read_catalog(folder)
    return rows, [r for r in rows if r.staged_image]


def heldout_hole_l1(folder: Path, edge: bytes, inpaint: bytes, sigma: float | None) -> float:
    """Mean |filled - truth| inside product-shaped holes on held-apart staged photos (RGB in
    [0, 1]); NaN when the set has no staged photo. Same crops and holes for every model."""
    from adstage.generative import data as data_mod
    from adstage.generative import edges as edges_mod
    from adstage.generative.inference import EdgeConnectInpainter
    from adstage.generative.metrics import region_l1
    from adstage.onnx_runtime import session_from_bytes

    rows, staged = _heldout_rows(folder)
    if not staged:
        return float("nan")
    images = [data_mod.read_rgb(r.staged_image, EVAL_SIZE + EVAL_SIZE // 4) for r in staged]
    bank = data_mod.masks_mod.SilhouetteBank.from_masks(
        [data_mod.read_mask(r.product_mask) for r in rows])
    sigma = sigma or edges_mod.DEFAULT_SIGMA
    b = data_mod.InpaintSampler(images, EVAL_SIZE, data_mod.mask_sampler("silhouette", bank),
                                sigma, seed=EVAL_SEED).batch(EVAL_CROPS)
    crops = (b.rgb.transpose(0, 2, 3, 1) * 255 + 0.5).astype(np.uint8)
    holes = (b.hole[:, 0] > 0).astype(np.uint8)
    inpainter = EdgeConnectInpainter(session_from_bytes(edge, "cpu"),
                                     session_from_bytes(inpaint, "cpu"), sigma)
    filled = inpainter(list(crops), list(holes))
    return float(np.mean([region_l1(f / 255.0, c / 255.0, h > 0)
                          for f, c, h in zip(filled, crops, holes)]))


def heldout_pix2pix_l1(folder: Path, model: bytes, size: int) -> float:
    """Mean |generated - real scene| of held-apart staged photos from their product pixels on
    white (pix2pix's own L1 term), at ``EVAL_SIZE``; NaN without staged photos."""
    import cv2

    from adstage.generative import data as data_mod
    from adstage.generative.inference import Pix2PixStager
    from adstage.onnx_runtime import session_from_bytes

    _, staged = _heldout_rows(folder)
    if not staged:
        return float("nan")
    pairs = [data_mod.paired_example(data_mod.read_rgb(r.staged_image),
                                     data_mod.read_mask(r.staged_mask), EVAL_SIZE)
             for r in staged]
    stager = Pix2PixStager(session_from_bytes(model, "cpu"), size)
    out = stager([x for x, _ in pairs])
    out = [cv2.resize(o, (EVAL_SIZE, EVAL_SIZE), interpolation=cv2.INTER_AREA) for o in out]
    return float(np.mean([np.abs(o / 255.0 - t / 255.0).mean() for o, (_, t) in zip(out, pairs)]))


def promote_all(settings: Settings, ds: str, size: str, models: tuple[str, ...] = MODELS
                ) -> list[dict[str, Any]]:
    """Score each trained candidate and the current champion (registry, else shipped) with the
    same figure on the same held-apart set; register the candidate and move ``@champion`` only
    when it is at least as good. Writes ``promotion.json``; returns one record per name."""
    import mlflow

    from adstage.promotion import decide, register_candidate

    p, results = paths(settings, ds), []
    for family, gate in gates(settings, ds, size).items():
        if family not in models:
            continue
        folder = p.candidate(family)
        champions = {n: _registered_champion(settings, n, f, s)
                     for n, (f, s, _) in gate.names.items()}
        cand = {n: (folder / c).read_bytes() for n, (_, _, c) in gate.names.items()}
        cand_cards = {n: _card(folder / c) for n, (_, _, c) in gate.names.items()}
        champion = gate.score({n: m.data for n, m in champions.items()},
                              {n: m.card for n, m in champions.items()})
        candidate = gate.score(cand, cand_cards)
        verdict = decide(gate.metric, candidate, champion, higher_is_better=gate.higher_is_better,
                         tolerance=gate.tolerance)
        log.info("%s: candidate %s=%.4g, champion %.4g (%s) -> %s", family, gate.metric,
                 candidate, champion, ", ".join(f"{m.source} v{m.version}"
                                                for m in champions.values()),
                 "promote" if verdict.promote else "keep champion")
        # One run per candidate (nested under the job's run): its artifacts hold the model.
        for name, (_, _, file) in gate.names.items():
            with mlflow.start_run(run_name=f"candidate {name}", nested=True):
                mlflow.set_tags({"adstage.job": "promote", "adstage.ds": ds,
                                 "adstage.training_size": size})
                record = register_candidate(settings, name, folder / file, cand_cards[name],
                                            verdict, champion_version=champions[name].version)
            results.append({"family": family, **record, "metric": gate.metric,
                            "candidate": candidate, "champion": champion,
                            "champion_source": champions[name].source})
    (p.root / "promotion.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    return results


def _registered_champion(settings: Settings, name: str, folder: str, file: str):
    """The champion, registered: a shipped model standing in for a missing alias is registered
    and made ``@champion`` first, so a refused candidate leaves a champion the registry names
    (jobs refuse a registered name without one) and a roll-back has a version to return to."""
    import dataclasses

    from adstage import registry

    model = registry.resolve(settings, name, folder, file)
    if model.source == "registry":
        return model
    import mlflow

    # A run of its own: a registered version points at its run's `model` artifact folder.
    with mlflow.start_run(run_name=f"shipped {name}", nested=mlflow.active_run() is not None):
        version = registry.register_onnx(settings, registry.MODELS_DIR / folder / file, name,
                                         {**model.card, "shipped_as": model.version})
    log.info("%s: the shipped model (%s) registered as v%s @champion", name, model.version,
             version)
    return dataclasses.replace(model, version=version, source="registry")


def _card(onnx_file: Path) -> dict:
    for path in (onnx_file.with_name(onnx_file.stem + ".card.json"),
                 onnx_file.with_name("card.json")):
        if path.is_file():
            return json.loads(path.read_text())
    return {}


# ---- command line (jobs/training.py) -------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    import argparse

    from adstage import logs, tracking
    from adstage.config import parse_overrides
    from adstage.jobrunner import logical_date

    parser = argparse.ArgumentParser(prog="jobs/training.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    steps = {"sets": sub.add_parser("sets", help="training and held-apart sets from the tables"),
             "train": sub.add_parser("train", help="train one model, export its ONNX candidate"),
             "promote": sub.add_parser("promote", help="score candidates and champions on the "
                                                      "held-apart set, register, promote")}
    steps["train"].add_argument("model", choices=MODELS)
    steps["promote"].add_argument("--models", default=",".join(MODELS),
                                  help="comma-separated families (default: all)")
    for p in steps.values():
        p.add_argument("--ds", type=logical_date, required=True,
                       help="logical date: the tables as of this date, YYYY-MM-DD")
        p.add_argument("--size", choices=sorted(PRESETS), default="full",
                       help="trainer preset (tiny: CI; full: the trainers' defaults)")
        p.add_argument("--conf", action="append", metavar="FIELD=VALUE", default=[],
                       help="override a setting (repeatable)")
    args = parser.parse_args(argv)
    settings = Settings.load(parse_overrides(args.conf))
    logs.setup(settings.log_level)
    if args.step == "train":
        # The trainers open their own MLflow runs (generative) or report in the model card.
        out = train(settings, args.ds, args.model, args.size, args.conf)
        log.info("candidate %s of %s: %s", args.model, args.ds, sorted(f.name for f in out.iterdir()))
        return 0
    import mlflow

    job = f"training_{args.step}"
    with tracking.job_run(settings, job, args.ds, {"training_size": args.size}):
        if args.step == "sets":
            mlflow.log_metrics({k: float(v) for k, v in build_sets(settings, args.ds).items()})
            return 0
        results = promote_all(settings, args.ds, args.size, tuple(args.models.split(",")))
        mlflow.log_metric("promoted", float(sum(r["promoted"] for r in results)))
        mlflow.set_tag("adstage.promotion", "; ".join(
            f"{r['name']} v{r['version']}: {'promoted' if r['promoted'] else 'kept champion'}"
            f" ({r['reason']})" for r in results))
        for r in results:
            print(f"{r['name']:<30} v{r['version']:<3} "
                  f"{'PROMOTED' if r['promoted'] else 'kept champion'}: {r['reason']}")
    return 0
