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

from adstage import datafiles
from adstage.config import Settings

log = logging.getLogger(__name__)

CHAMPION = "champion"
# The tag adstage.promotion puts on a candidate version its gate did not promote.
REFUSED_TAG, REFUSED = "adstage.promotion.decision", "kept_champion"
# The tag adstage.generative.quantize_job puts on the int8 versions of a registered model.
PRECISION_TAG = "adstage.precision"
# The checkout's models/, or the copy a wheel installed under <env>/share/adstage/models.
MODELS_DIR = datafiles.models_dir()


class ModelLoadError(RuntimeError):
    """A model that resolves but cannot be opened: the job stops before it writes anything."""


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    data: bytes
    version: str        # registry version, or "shipped-<sha12>" for the file in models/
    source: str         # "registry" | "shipped"
    card: dict


def register_onnx(settings: Settings, onnx_path: Path, name: str, card: Mapping[str, Any],
                  alias: str | None = CHAMPION) -> str:
    """Log + register `onnx_path` as `name`, point `alias` at the new version; return it.

    ``alias=None`` registers without moving any alias (a candidate a gate still has to pass)."""
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
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    log.info("registered %s version %s%s", name, mv.version, f" as @{alias}" if alias else "")
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

    A name the registry does not know is the normal first-run case (logged at INFO) and a
    registry that cannot be reached is logged as a warning: both use the shipped model, so a
    tracking-server hiccup does not stop the night. Errors that name the model, raised before
    any table is touched (jobs resolve first):

    * `LookupError`: the name is registered but has no `alias` (someone registered versions
      and never promoted one, or the setting names the wrong model; running the shipped demo
      weights instead would hide it), or a model that ships no file (`shipped_file=None`) is not
      in the registry. Versions that are all candidates their promotion gate refused, or
      (for @champion) int8 versions, are not an error: the shipped model is what ran before
      them, and still runs (a warning);
    * `ModelLoadError`: the champion's artifact cannot be downloaded or is not an ONNX file
      onnxruntime opens (a broken promotion), or the shipped file is not.
    """
    def fallback(why: str) -> ResolvedModel:
        if shipped_folder is None or shipped_file is None:
            raise LookupError(f"models:/{registered_name}@{alias} is not available ({why}) "
                              "and no shipped file exists for it")
        return dataclasses.replace(shipped(shipped_folder, shipped_file), name=registered_name)

    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient()
    uri = f"models:/{registered_name}@{alias}"
    try:
        client.get_registered_model(registered_name)
    except Exception as exc:  # not registered, or the tracking server did not answer
        why = str(exc).splitlines()[0][:200]
        if getattr(exc, "error_code", None) != "RESOURCE_DOES_NOT_EXIST":
            log.warning("model registry unreachable for %s (%s); using the shipped model", uri,
                        why)
        else:
            log.info("no registered model %s (%s); using the shipped model", registered_name, why)
        return _checked(fallback(why), uri)
    try:
        mv = client.get_model_version_by_alias(registered_name, alias)
    except MlflowException as exc:
        found = client.search_model_versions(f"name='{registered_name}'")
        versions = sorted(int(v.version) for v in found)
        if found and not [v for v in found if _could_hold(v.tags or {}, alias)]:
            # Every version is a candidate its gate refused (adstage.promotion) or an int8
            # sibling (adstage.generative.quantize_job): the model that ran before them, the
            # shipped one, is still the right one.
            log.warning("%s: versions %s are refused candidates or int8 siblings, none ever "
                        "promoted; using the shipped model", uri, versions)
            return _checked(fallback("no promoted version"), uri)
        raise LookupError(
            f"{uri}: model {registered_name!r} is registered (versions {versions or 'none'}) but "
            f"has no alias {alias!r}; promote one with `adstage promote {registered_name} "
            f"<version>` or point the setting at another model") from exc
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
        files = sorted(local.rglob("*.onnx"))
        if not files:
            raise FileNotFoundError(f"no .onnx file among the artifacts at {local}")
        cards = sorted(local.rglob("card.json"))
        model = ResolvedModel(registered_name, files[0].read_bytes(), str(mv.version),
                              "registry", json.loads(cards[0].read_text()) if cards else {})
    except Exception as exc:
        raise ModelLoadError(f"{uri} (version {mv.version}) could not be loaded: "
                             f"{str(exc).splitlines()[0][:300]}") from exc
    return _checked(model, uri)


def _could_hold(tags: Mapping[str, str], alias: str) -> bool:
    """Whether a version is one `alias` should point at by now: not refused by its gate, and
    for @champion not an int8 version (those only ever take @int8)."""
    if tags.get(REFUSED_TAG) == REFUSED:
        return False
    return alias != CHAMPION or tags.get(PRECISION_TAG) != "int8"


def _checked(model: ResolvedModel, uri: str) -> ResolvedModel:
    """Open the bytes once on the driver: a corrupt file fails here, naming the model, instead
    of as an executor stack trace in the middle of a Spark job."""
    import onnxruntime as ort

    try:
        ort.InferenceSession(model.data, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"{uri}: {model.source} version {model.version} "
                             f"({len(model.data)} bytes) is not a loadable ONNX model: "
                             f"{str(exc).splitlines()[0][:300]}") from exc
    log.info("model %s: %s version %s", model.name, model.source, model.version)
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
