"""Which ONNX model a nightly job runs: the MLflow registry's ``@champion``, else the shipped file.

Registration (training jobs) logs the ONNX file and its model card as artifacts of a run,
registers them under a name and moves the ``champion`` alias. Resolution (nightly jobs, driver
side) returns the model's bytes and where they came from; the bytes then travel to executors.
No torch, no mlflow.onnx flavour: the ONNX file is an artifact like any other.
"""
from __future__ import annotations

import dataclasses

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from adstage.config import Settings

log = logging.getLogger(__name__)

CHAMPION = "champion"
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    data: bytes
    version: str        # registry version, or "shipped-<sha12>" for the file in models/
    source: str         # "registry" | "shipped"
    card: dict


def register_onnx(settings: Settings, onnx_path: Path, name: str, card: Mapping[str, Any],
                  alias: str = CHAMPION) -> str:
    """Log + register `onnx_path` as `name`, point `alias` at the new version; return it."""
    import mlflow
    from mlflow import MlflowClient

    from adstage import tracking

    tracking.configure(settings)
    own = mlflow.active_run() is None
    run = mlflow.start_run(run_name=f"register {name}") if own else mlflow.active_run()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "model"
            folder.mkdir()
            (folder / "model.onnx").write_bytes(Path(onnx_path).read_bytes())
            (folder / "card.json").write_text(json.dumps(dict(card), indent=1))
            mlflow.log_artifacts(str(folder), artifact_path="model")
        source = f"runs:/{run.info.run_id}/model"
    finally:
        if own:
            mlflow.end_run()
    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except Exception:  # not yet registered
        client.create_registered_model(name)
    mv = client.create_model_version(name, source, run_id=run.info.run_id)
    client.set_registered_model_alias(name, alias, mv.version)
    log.info("registered %s version %s as @%s", name, mv.version, alias)
    return str(mv.version)


def shipped(name: str, filename: str) -> ResolvedModel:
    """The small ONNX shipped in `models/<name>/`, with its card (`<stem>.card.json` when a
    folder ships several models, else `card.json`)."""
    import hashlib

    folder = MODELS_DIR / name
    data = (folder / filename).read_bytes()
    card = {}
    for card_path in (folder / f"{Path(filename).stem}.card.json", folder / "card.json"):
        if card_path.is_file():
            card = json.loads(card_path.read_text())
            break
    return ResolvedModel(name, data, f"shipped-{hashlib.sha256(data).hexdigest()[:12]}",
                         "shipped", card)


def resolve(settings: Settings, registered_name: str, shipped_folder: str | None,
            shipped_file: str | None, alias: str = CHAMPION) -> ResolvedModel:
    """``models:/<registered_name>@<alias>`` when the registry has it, else the shipped file.

    A missing alias is the normal first-run case (logged at INFO); any other registry error is
    logged as a warning and the shipped model is used, so a tracking-server hiccup does not stop
    the night. A model that ships no file (`shipped_file=None`) must be in the registry: its
    absence is a `LookupError` that names the model, raised before any table is touched.
    """
    def fallback(why: str) -> ResolvedModel:
        if shipped_folder is None or shipped_file is None:
            raise LookupError(f"models:/{registered_name}@{alias} is not available ({why}) "
                              "and no shipped file exists for it")
        return dataclasses.replace(shipped(shipped_folder, shipped_file), name=registered_name)

    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    try:
        mv = MlflowClient().get_model_version_by_alias(registered_name, alias)
    except Exception as exc:  # RESOURCE_DOES_NOT_EXIST and friends
        why = str(exc).splitlines()[0][:200]
        log.info("no models:/%s@%s (%s); using the shipped model", registered_name, alias, why)
        model = fallback(why)
    else:
        try:
            local = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{registered_name}@{alias}"))
            files = sorted(local.rglob("*.onnx"))
            cards = sorted(local.rglob("card.json"))
            model = ResolvedModel(registered_name, files[0].read_bytes(), str(mv.version),
                                  "registry",
                                  json.loads(cards[0].read_text()) if cards else {})
        except Exception as exc:
            log.warning("models:/%s@%s version %s could not be loaded (%s); using the shipped "
                        "model", registered_name, alias, mv.version, exc)
            model = fallback(str(exc)[:200])
    log.info("model %s: %s version %s", registered_name, model.source, model.version)
    return model


def models(settings: Settings) -> list[dict[str, Any]]:
    """Every registered model with its versions and which one each alias points at."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient()
    out = []
    for rm in client.search_registered_models():
        versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{rm.name}'"))
        aliases = {a: str(v) for a, v in (rm.aliases or {}).items()}
        out.append({"name": rm.name, "versions": versions, "aliases": aliases})
    return sorted(out, key=lambda m: m["name"])


def promote(settings: Settings, name: str, version: str, alias: str = CHAMPION) -> str | None:
    """Point `alias` at `version` (promotion, or roll-back to an older version); returns the
    version it pointed at before. The next job run loads the new one; nothing else changes."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient()
    client.get_model_version(name, version)  # fails clearly when the version does not exist
    try:
        before = client.get_model_version_by_alias(name, alias).version
    except Exception:
        before = None
    client.set_registered_model_alias(name, alias, version)
    log.info("models:/%s@%s: %s -> %s", name, alias, before, version)
    return None if before is None else str(before)
