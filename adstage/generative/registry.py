"""The generators in the model registry: their names, and how a job opens them (no torch).

Registration and resolution are the project's one mechanism (:mod:`adstage.registry`): the
staging jobs load ``models:/<name>@champion`` and fall back to the ONNX shipped in
``models/generative/`` when the registry has no champion yet (a fresh store, ``make demo``).
"""
from __future__ import annotations

from adstage import registry
from adstage.config import Settings
from adstage.onnx_runtime import session_from_bytes

EDGE_MODEL = "adstage-edgeconnect-edge"
INPAINT_MODEL = "adstage-edgeconnect-inpaint"
PIX2PIX_MODEL = "adstage-pix2pix"
CHAMPION = registry.CHAMPION
SHIPPED_FOLDER = "generative"
SHIPPED = {EDGE_MODEL: "edgeconnect_edge.onnx", INPAINT_MODEL: "edgeconnect_inpaint.onnx",
           PIX2PIX_MODEL: "pix2pix.onnx"}

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
