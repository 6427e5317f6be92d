"""Every network adstage runs, in one place (after torchvision's weights enums).

A ``ModelSpec`` says, per model: the registered name jobs resolve, the shipped file, where the
weights come from (a registry package at an exact version, or the training command), the
licence, the classes, the one preprocessing function every caller uses, how the output is
decoded, and who trains and gates it. Resolution is the registry's, unchanged: the MLflow
``@champion`` first, the shipped file in ``models/<folder>/`` second
(:func:`adstage.registry.resolve`). Nothing else in the code base knows a model's file name.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from adstage.config import Settings


@dataclass(frozen=True)
class ModelSpec:
    name: str                       # registered name: models:/<name>@champion
    role: str                       # detector | salient_mask | slot_segmenter | classifier |
                                    # generator | fid_features
    folder: str                     # models/<folder>/
    file: str                       # the shipped ONNX in that folder
    source: str                     # package@version (and the path inside), or "trained here"
    licence: str
    preprocess: str                 # dotted path of the one input function
    decode: str                     # dotted path of the output decoding (or what the output is)
    classes: tuple[str, ...] = ()
    trainer: str | None = None      # command that trains it (trained models only)
    gate: str | None = None         # promotion figure (adstage.promotion), trained models only
    opt_in: bool = False            # never on the default path (e.g. an AGPL network)
    notes: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)


_SPECS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in _SPECS:
        raise ValueError(f"model {spec.name!r} is declared twice")
    _SPECS[spec.name] = spec
    return spec


def get(name: str) -> ModelSpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise LookupError(f"unknown model {name!r}; the catalog has {sorted(_SPECS)}") from None


def all_specs() -> list[ModelSpec]:
    return [_SPECS[n] for n in sorted(_SPECS)]


def resolve(settings: Settings, name: str, alias: str = "champion"):
    """The model's bytes, version and card: ``models:/<name>@<alias>``, else the shipped file
    (a name the catalog does not know has no shipped file: the registry only)."""
    from adstage import registry

    if name not in _SPECS:  # a model registered under another name: the registry only
        return registry.resolve(settings, name, None, None, alias)
    spec = get(name)
    return registry.resolve(settings, spec.name, spec.folder, spec.file, alias)


# --- trained here -------------------------------------------------------------------------
CLASSIFIER = register(ModelSpec(
    name="adstage-staged-classifier", role="classifier", folder="classifier",
    file="classifier.onnx", source="trained here (python jobs/train_classifier.py)",
    licence="project's own", preprocess="adstage.vision.preprocess.classifier_input",
    decode="logit of P(staged)", classes=("unstaged", "staged"),
    trainer="python jobs/train_classifier.py", gate="balanced accuracy on the held-apart set"))

SLOT_SEGMENTER = register(ModelSpec(
    name="adstage-slot-segmenter", role="slot_segmenter", folder="segmenter",
    file="segmenter.onnx", source="trained here (python jobs/train_segmenter.py)",
    licence="project's own", preprocess="adstage.vision.preprocess.segmenter_input",
    decode="adstage.vision.slots.find_slots", classes=("product",),
    trainer="python jobs/train_segmenter.py", gate="slot IoU on the held-apart set"))
