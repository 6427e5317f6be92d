"""The generators in the model registry: their names, and how a job opens them (no torch).

Registration and resolution are the project's one mechanism (:mod:`adstage.registry`): the
staging jobs load ``models:/<name>@champion`` and fall back to the ONNX shipped in
``models/generative/`` when the registry has no champion yet (a fresh store, ``make demo``).

With ``generator_precision=int8`` they load ``models:/<name>@int8`` instead: an int8 version of
the same registered model that passed the quantization quality gate
(:mod:`adstage.generative.quantize_job`), else a shipped ``<stem>.int8.onnx``. An int8 model is
used only when it was quantized from the fp32 model the job would otherwise run (its card's
``quantized_from.sha256``); when the alias is missing or stale the job runs fp32 and says why in
its log, so a refused quantization never stops the night.
"""
from __future__ import annotations

import logging

from adstage import model_catalog, registry
from adstage.config import Settings
from adstage.onnx_runtime import session_from_bytes

EDGE_MODEL = model_catalog.EDGECONNECT_EDGE.name
INPAINT_MODEL = model_catalog.EDGECONNECT_INPAINT.name
PIX2PIX_MODEL = model_catalog.PIX2PIX.name
CHAMPION = registry.CHAMPION
INT8 = "int8"
PRECISIONS = ("fp32", "int8")
SHIPPED_FOLDER = "generative"
SHIPPED = {n: model_catalog.get(n).file for n in (EDGE_MODEL, INPAINT_MODEL, PIX2PIX_MODEL)}
SHIPPED_INT8 = {name: file.replace(".onnx", ".int8.onnx") for name, file in SHIPPED.items()}

log = logging.getLogger(__name__)

register_onnx = registry.register_onnx


def model_uri(name: str, alias: str = CHAMPION) -> str:
    return f"models:/{name}@{alias}"


def resolve(settings: Settings, name: str, alias: str = CHAMPION) -> registry.ResolvedModel:
    """``models:/<name>@<alias>``, else the shipped file (for the three shipped generators);
    the result says which."""
    shipped_file = SHIPPED.get(name)
    return registry.resolve(settings, name, SHIPPED_FOLDER if shipped_file else None,
                            shipped_file, alias)


def load_session(settings: Settings, name: str, alias: str = CHAMPION, device: str = "cpu"):
    """An onnxruntime session for the resolved model (cached per process)."""
    return session_from_bytes(resolve(settings, name, alias).data, device)


def resolve_generators(settings: Settings, names: list[str]) -> list[registry.ResolvedModel]:
    """The models a staging job runs, in ``settings.generator_precision``: all of ``names`` in
    int8, or all in fp32 (the EdgeConnect pair was gated together; a mixed pair was not)."""
    import hashlib

    if settings.generator_precision not in PRECISIONS:
        raise ValueError(f"generator_precision must be one of {PRECISIONS}, "
                         f"got {settings.generator_precision!r}")
    fp32 = [resolve(settings, n) for n in names]
    if settings.generator_precision == "fp32":
        return fp32
    int8, why = [], ""
    for name, base in zip(names, fp32):
        shipped_file = SHIPPED_INT8.get(name)
        if shipped_file and not (registry.MODELS_DIR / SHIPPED_FOLDER / shipped_file).is_file():
            shipped_file = None
        try:
            model = registry.resolve(settings, name, SHIPPED_FOLDER if shipped_file else None,
                                     shipped_file, INT8)
        except LookupError as exc:  # no @int8: never quantized, or every try was refused
            why = str(exc).splitlines()[0]
            break
        source = (model.card.get("quantized_from") or {}).get("sha256")
        if source != hashlib.sha256(base.data).hexdigest():
            why = (f"models:/{name}@{INT8} ({model.source} version {model.version}) was quantized "
                   f"from another fp32 model than {base.source} version {base.version}")
            break
        int8.append(model)
    else:
        return int8
    log.warning("generator_precision=int8 but %s; running fp32 %s", why,
                ", ".join(f"{m.name}@{m.version}" for m in fp32))
    return fp32
