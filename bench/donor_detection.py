"""Donor detection per room photo on the CPU: each detector's session alone, U²-Netp per
crop, and the whole ``donor_slots`` of a room (both detectors + a salient mask per candidate
box), fp32 (the shipped ONNX files on onnxruntime) against int8 copies quantized here and
against torch eager; and whether int8 (and torch) keep the boxes.

    python bench/donor_detection.py --rooms 30 --demo-rooms 2 --threads 1 2 \\
        --int8 qdq qoperator --torch --out docs/bench/donor-detection

What runs, per room photo, for every thread count and precision (the precisions take turns
within a room, their order rotating from room to room, so a neighbour's load lands on all of
them alike):

* the room's slots as the cutouts stage finds them (``adstage.vision.cutouts.DetectorSlots``
  less the row writing): ``Detector.detect`` of ``adstage-detector-oid-ssd`` and
  ``adstage-detector-coco-centernet`` at ``DonorParams().min_score``, then
  ``adstage.vision.donors.donor_slots`` with ``SalientMasker.mask`` of ``adstage-salient-u2netp``;
  timed whole (wall and process CPU);
* inside that run every ``session.run`` is timed on its own: (a) each detector's session alone,
  (b) U²-Netp once per crop the room asked a mask for.

Precisions (every model of a run in the same one):

* ``fp32``: the shipped files as the pipeline opens them;
* ``qdq``: ``quantize_static``, QDQ, int8 activations and per-channel int8 weights, convolutions
  only (``adstage.generative.quantize.quantize_bytes``, the generators' settings);
* ``qoperator``: the same as QLinearConv (uint8 activations, int8 per-channel weights);
* ``dynamic``: ``quantize_dynamic`` (int8 weights; ConvInteger with activations quantized on the
  fly), no calibration;
* ``prepared``: no quantization, the fp32 graph after the pre-processing below (the control: what
  the int8 variants lose that the preparation does not);
* ``torch`` (``--torch``): the shipped fp32 graphs run op by op with torch kernels in eager
  mode (``bench/onnx_torch.py``; these networks have no torch definition or weights of their
  own, so this is the eager form of the same graph), ``torch.set_num_threads`` = threads.

Before quantizing each model goes through ``quant_pre_process`` (shape inference, constant
folding: the SSD's fp16 weights behind Cast nodes become fp32 initializers) and, below opset 13
(U²-Netp is opset 11), the ONNX version converter (per-channel QDQ needs opset 13). Static
calibration: the detectors on whole photos, U²-Netp on the crops the fp32 detectors give, of
``--calib-rooms`` IKEA rooms that are *not* among the measured ones (the next ones in sorted
order; demo rooms when no IKEA folder is given). The quantized files live in a temporary folder
and are deleted: nothing is shipped.

Agreement of int8 with fp32 on the measured rooms (from the first thread count's runs):
detections of each detector at score >= ``--match-score`` matched one to one (same label, IoU >=
``--match-iou``) -> recall and precision of int8 against fp32 (and "tolerant" figures where the
other side may score down to ``--tolerant-score``: a box kept but scored across the threshold);
U²-Netp's map on fp32's own crops, thresholded at 0.5 -> mask IoU int8 vs fp32; the rooms'
usable slots matched the same way (slot category, IoU of the silhouette boxes).

Timings on a shared machine are upper bounds: the load average is recorded with every room.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
IKEA_ROOMS = Path("/work/shared/datasets/ikea/rooms")
DETECTORS = ("adstage-detector-oid-ssd", "adstage-detector-coco-centernet")
SALIENT = "adstage-salient-u2netp"
PRECISIONS = ("qdq", "qoperator", "dynamic", "prepared")
SHORT = {"adstage-detector-oid-ssd": "oid_ssd", "adstage-detector-coco-centernet":
         "coco_centernet", "adstage-salient-u2netp": "u2netp"}


# --- machine ------------------------------------------------------------------------------
def machine() -> dict:
    import onnxruntime as ort

    info = {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "onnxruntime": ort.__version__,
            "numpy": np.__version__, "opencv": cv2.__version__}
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        lines = {k.strip(): v.strip() for k, v in lines.items()}
        info["cpu_model"] = lines.get("model name", "?")
        info["cpu_family"] = lines.get("cpu family", "?")
        flags = set(lines.get("flags", "").split())
        info["isa"] = sorted(f for f in flags if f in {"avx2", "avx512f", "avx512_vnni",
                                                       "avx_vnni", "amx_int8", "amx_bf16"})
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
        info["mem_gb"] = round(int(mem) / 1024 ** 2, 1)
    except OSError:
        info["cpu_model"] = platform.processor() or platform.machine()
    return info


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# --- photos -------------------------------------------------------------------------------
def ikea_photos(root: Path | None) -> list[Path]:
    if root is None or not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def demo_photos(n: int, work: Path) -> list[Path]:
    """The staged photos of a small demo catalog (seed 7), sorted: ``n`` of them at least."""
    if n <= 0:
        return []
    from adstage.demo.catalog import generate_catalog

    products = max(4, int(np.ceil(n / 0.6)) + 2)
    generate_catalog(work / "demo", n_products=products)
    photos = sorted((work / "demo" / "images" / "staged").glob("*.png"))
    return photos


# --- quantization -------------------------------------------------------------------------
def prepared(model: bytes, tmp: Path, name: str) -> bytes:
    """``quant_pre_process`` (shape inference, constant folding), then opset >= 13."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = tmp / f"{name}.fp32.onnx", tmp / f"{name}.pre.onnx"
    src.write_bytes(model)
    try:
        quant_pre_process(str(src), str(dst))
    except Exception:  # symbolic shape inference refused the graph: ONNX's alone
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    m = onnx.load(str(dst))
    if max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) < 13:
        from onnx import version_converter

        m = version_converter.convert_version(m, 13)
    return m.SerializeToString()


def quantize(model: bytes, precision: str, calibration: Sequence[dict], tmp: Path,
             name: str) -> bytes:
    from adstage.generative.quantize import quantize_bytes

    pre = prepared(model, tmp, name)
    if precision == "prepared":
        return pre
    if precision == "dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        src, dst = tmp / f"{name}.pre.onnx", tmp / f"{name}.dynamic.onnx"
        src.write_bytes(pre)
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return dst.read_bytes()
    return quantize_bytes(pre, calibration, {"qdq": "qdq", "qoperator": "qoperator"}[precision],
                          per_channel=True, ops=("Conv",))


# --- timed sessions -----------------------------------------------------------------------
class Timed:
    """A session stand-in that times every ``run`` (wall and process CPU) and keeps the last
    outputs."""

    def __init__(self, session):
        self.session = session
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.last = None

    def run(self, *args, **kwargs):
        w, c = time.perf_counter(), time.process_time()
        out = self.session.run(*args, **kwargs)
        self.wall.append(time.perf_counter() - w)
        self.cpu.append(time.process_time() - c)
        self.last = out
        return out

    def take(self) -> tuple[list[float], list[float]]:
        w, c = self.wall, self.cpu
        self.wall, self.cpu = [], []
        return w, c

    def __getattr__(self, name):
        return getattr(self.session, name)


class Stack:
    """One precision's models at one thread count: two detectors and the masker."""

    def __init__(self, blobs: dict[str, bytes], threads: int, torch_eager: bool = False):
        from adstage import model_catalog
        from adstage.vision.detectors import Detector
        from adstage.vision.salient import SalientMasker

        self.detectors = [Detector(blobs[n], model_catalog.get(n), "cpu", threads)
                          for n in DETECTORS]
        self.masker = SalientMasker(blobs[SALIENT], model_catalog.get(SALIENT), "cpu", threads)
        runners = self.detectors + [self.masker]
        if torch_eager:   # the same graphs, op by op in torch, in place of the ORT sessions
            from bench.onnx_torch import TorchGraph

            for r, n in zip(runners, (*DETECTORS, SALIENT)):
                r.session = TorchGraph(blobs[n], threads)
        for r in runners:
            r.session = Timed(r.session)
        # warm-up: the first run of a session allocates its buffers
        blank = np.full((480, 640, 3), 127, np.uint8)
        for d in self.detectors:
            d.raw(blank)
        self.masker.mask(blank[:200, :200])
        for s in self.sessions().values():
            s.take()
            s.last = None

    def sessions(self) -> dict[str, Timed]:
        out = {d.spec.name: d.session for d in self.detectors}
        out[SALIENT] = self.masker.session
        return out

    def room(self, bgr: np.ndarray, params, keep_crops: bool):
        """The room's slots as the cutouts stage finds them; crops asked a mask kept on demand."""
        from adstage.vision.donors import donor_slots

        crops: list[tuple[np.ndarray, np.ndarray]] = []

        def mask_fn(crop):
            prob = self.masker.mask(crop)
            if keep_crops:
                crops.append((crop.copy(), prob))
            return prob

        w, c = time.perf_counter(), time.process_time()
        dets = [d for det in self.detectors for d in det.detect(bgr, min_score=params.min_score)]
        slots = donor_slots(bgr, dets, mask_fn, params)
        return slots, crops, time.perf_counter() - w, time.process_time() - c


# --- agreement ----------------------------------------------------------------------------
def match(a_boxes, a_labels, b_boxes, b_labels, iou_min: float) -> list[tuple[int, int, float]]:
    """One-to-one matches (same label, IoU >= iou_min), greedy by IoU."""
    from adstage.vision.detectors import iou_matrix

    if not len(a_boxes) or not len(b_boxes):
        return []
    iou = iou_matrix(np.asarray(a_boxes, float), np.asarray(b_boxes, float))
    same = np.asarray(a_labels, object)[:, None] == np.asarray(b_labels, object)[None, :]
    iou = np.where(same, iou, 0.0)
    pairs = sorted(((iou[i, j], i, j) for i, j in zip(*np.nonzero(iou >= iou_min))),
                   reverse=True)
    used_a, used_b, out = set(), set(), []
    for v, i, j in pairs:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            out.append((int(i), int(j), float(v)))
    return out


def decoded(det, outputs, hw, min_score):
    return det._decode(outputs, hw, labels=det.spec.classes, detector=det.spec.name,
                       min_score=min_score, iou_threshold=0.5, max_detections=100)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 0.5, b >= 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


# --- statistics ---------------------------------------------------------------------------
def pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.asarray(values, float), q))


def summary_ms(values: Sequence[float]) -> dict:
    ms = [1e3 * v for v in values]
    return {"n": len(ms), "median_ms": _r(pct(ms, 50)), "p90_ms": _r(pct(ms, 90)),
            "mean_ms": _r(statistics.fmean(ms)) if ms else None}


def _r(v, nd=1):
    return None if v is None else round(float(v), nd)


def ratio(a, b):
    return None if not a or not b else round(a / b, 2)


# --- main ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ikea-root", type=Path, default=IKEA_ROOMS,
                    help="folder of IKEA room photos (sorted by name); missing = none")
    ap.add_argument("--rooms", type=int, default=30, help="IKEA rooms measured (the first N)")
    ap.add_argument("--demo-rooms", type=int, default=2,
                    help="staged photos of a generated demo catalog measured too")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="intra-op threads per session; agreement uses the first")
    ap.add_argument("--int8", nargs="*", default=["qdq", "qoperator"], choices=PRECISIONS,
                    help="int8 precisions compared with fp32")
    ap.add_argument("--torch", action="store_true",
                    help="also torch eager: the fp32 graphs op by op in torch "
                         "(bench/onnx_torch.py)")
    ap.add_argument("--calib-rooms", type=int, default=6,
                    help="rooms (not measured) whose photos and fp32 crops calibrate the "
                         "static int8 models")
    ap.add_argument("--calib-crops", type=int, default=16, help="U²-Netp calibration crops")
    ap.add_argument("--match-score", type=float, default=0.35)
    ap.add_argument("--match-iou", type=float, default=0.7)
    ap.add_argument("--tolerant-score", type=float, default=0.25)
    ap.add_argument("--out", type=Path, default=None,
                    help="write OUT.json and OUT.md (default: print only)")
    args = ap.parse_args(argv)

    from adstage import model_catalog
    from adstage.registry import MODELS_DIR
    from adstage.vision.donors import DonorParams, crop_box_of, merge_detections

    command = "python bench/donor_detection.py " + shlex.join(argv if argv is not None
                                                              else sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    mach = machine()
    load_start = loadavg()
    print(f"{mach.get('cpu_model')}, {mach['nproc']} CPUs, load {load_start}", flush=True)
    params = DonorParams(min_score=args.match_score)
    precisions = ["fp32", *(["torch"] if args.torch else []), *dict.fromkeys(args.int8)]
    int8 = [p for p in precisions if p in PRECISIONS]

    with tempfile.TemporaryDirectory(prefix="adstage-donor-bench-") as tmp_s:
        tmp = Path(tmp_s)
        ikea = ikea_photos(args.ikea_root)
        n_ikea = min(args.rooms, len(ikea))
        measured_ikea = ikea[:n_ikea]
        calib_ikea = ikea[n_ikea:n_ikea + args.calib_rooms]
        extra_demo = 0 if calib_ikea or not args.calib_rooms else args.calib_rooms
        demo = demo_photos(args.demo_rooms + extra_demo, tmp)
        measured = [("ikea", p) for p in measured_ikea] + [("demo", p)
                                                           for p in demo[:args.demo_rooms]]
        calib = calib_ikea or demo[args.demo_rooms:args.demo_rooms + args.calib_rooms] or \
            [p for _, p in measured[:1]]
        if not measured:
            raise SystemExit("no room photos: give --ikea-root or --demo-rooms")

        fp32 = {n: (MODELS_DIR / model_catalog.get(n).folder / model_catalog.get(n).file
                    ).read_bytes() for n in (*DETECTORS, SALIENT)}
        blobs: dict[str, dict[str, bytes]] = {"fp32": fp32, "torch": fp32}
        quant_info: dict[str, dict] = {}
        if int8:
            # calibration feeds, as the pipeline builds them
            ref = Stack(fp32, max(args.threads))
            feeds = {d.spec.name: [] for d in ref.detectors}
            feeds[SALIENT] = []
            from adstage.vision.salient import u2netp_input

            for p in calib:
                bgr = cv2.imread(str(p))
                dets = []
                for d in ref.detectors:
                    x = d._preprocess(bgr)
                    feeds[d.spec.name].append({d._input: x})
                    dets += d.detect(bgr, min_score=params.min_score)
                for m in merge_detections(dets, params):
                    if len(feeds[SALIENT]) >= args.calib_crops:
                        break
                    H, W = bgr.shape[:2]
                    box = [int(v) for v in m.box]
                    c = crop_box_of(box, (H, W), params.crop_margin)
                    if c[2] - c[0] > 4 and c[3] - c[1] > 4:
                        feeds[SALIENT].append({ref.masker._input: u2netp_input(
                            np.ascontiguousarray(bgr[c[1]:c[3], c[0]:c[2]]))})
            if not feeds[SALIENT]:  # no detections at all: whole photos
                feeds[SALIENT] = [{ref.masker._input: u2netp_input(cv2.imread(str(p)))}
                                  for p in calib]
            del ref
            from adstage.generative.quantize import quantized_ops

            for prec in int8:
                blobs[prec] = {}
                for n in (*DETECTORS, SALIENT):
                    t = time.perf_counter()
                    blobs[prec][n] = quantize(fp32[n], prec, feeds[n], tmp, SHORT[n])
                    ops = quantized_ops(blobs[prec][n])
                    quant_info.setdefault(prec, {})[SHORT[n]] = {
                        "seconds": round(time.perf_counter() - t, 1),
                        "mb": round(len(blobs[prec][n]) / 2 ** 20, 2),
                        "fp32_mb": round(len(fp32[n]) / 2 ** 20, 2),
                        "int8_ops": sum(ops["int8"].values()), "ops": ops,
                        "calibration_feeds": 0 if prec in ("dynamic", "prepared")
                        else len(feeds[n])}
                    print(f"quantized {SHORT[n]} {prec}: {quant_info[prec][SHORT[n]]['mb']} MB, "
                          f"{quant_info[prec][SHORT[n]]['int8_ops']} int8 ops, "
                          f"{quant_info[prec][SHORT[n]]['seconds']} s", flush=True)

        stacks = {(p, t): Stack(blobs[p], t, torch_eager=p == "torch")
                  for p in precisions for t in args.threads}
        times = {(p, t): {"room_wall": [], "room_cpu": [], "crops": [],
                          **{SHORT[n]: ([], []) for n in (*DETECTORS, SALIENT)}}
                 for p in precisions for t in args.threads}
        paired = {(p, t): [] for p in precisions[1:] for t in args.threads}
        agree = {p: {"det": {SHORT[n]: [] for n in DETECTORS}, "mask": [], "mask_mad": [],
                     "slots": [], "slot_mask_iou": []} for p in precisions[1:]}
        loads, per_room = [], []
        t0 = time.perf_counter()
        for i, (kind, path) in enumerate(measured):
            bgr = cv2.imread(str(path))
            if bgr is None:
                raise SystemExit(f"cannot read {path}")
            hw = bgr.shape[:2]
            order = precisions[i % len(precisions):] + precisions[:i % len(precisions)]
            room = {"room": path.name if kind == "ikea" else f"demo/{path.name}",
                    "size": [hw[1], hw[0]], "load_1min": loadavg()[0]}
            loads.append(room["load_1min"])
            got = {}
            for t in args.threads:
                walls = {}
                for p in order:
                    st = stacks[(p, t)]
                    first = t == args.threads[0]
                    slots, crops, w, c = st.room(bgr, params, keep_crops=first and p == "fp32")
                    walls[p] = w
                    rec = times[(p, t)]
                    rec["room_wall"].append(w)
                    rec["room_cpu"].append(c)
                    rec["crops"].append(len(st.masker.session.wall))
                    for n, s in st.sessions().items():
                        sw, sc = s.take()
                        rec[SHORT[n]][0].extend(sw)
                        rec[SHORT[n]][1].extend(sc)
                    if first:
                        got[p] = {"slots": slots, "crops": crops,
                                  "raw": {d.spec.name: d.session.last for d in st.detectors}}
                for p in precisions[1:]:
                    paired[(p, t)].append(walls["fp32"] / walls[p])
                room[f"ms_fp32_t{t}"] = round(1e3 * walls["fp32"], 1)
            # agreement, first thread count
            base = got["fp32"]
            room["fp32_slots"] = len(base["slots"])
            room["fp32_usable"] = sum(s.usable for s in base["slots"])
            room["mask_crops"] = len(base["crops"])
            for p in precisions[1:]:
                q = got[p]
                st = stacks[(p, args.threads[0])]
                for d_ref, d_q in zip(stacks[("fp32", args.threads[0])].detectors, st.detectors):
                    name = d_ref.spec.name
                    fa = decoded(d_ref, base["raw"][name], hw, args.match_score)
                    fa_lo = decoded(d_ref, base["raw"][name], hw, args.tolerant_score)
                    qa = decoded(d_q, q["raw"][name], hw, args.match_score)
                    qa_lo = decoded(d_q, q["raw"][name], hw, args.tolerant_score)
                    bx = lambda ds: [d.box for d in ds]
                    lb = lambda ds: [d.label for d in ds]
                    m = match(bx(fa), lb(fa), bx(qa), lb(qa), args.match_iou)
                    m_rec_tol = match(bx(fa), lb(fa), bx(qa_lo), lb(qa_lo), args.match_iou)
                    m_prec_tol = match(bx(qa), lb(qa), bx(fa_lo), lb(fa_lo), args.match_iou)
                    agree[p]["det"][SHORT[name]].append({
                        "fp32": len(fa), "int8": len(qa), "matched": len(m),
                        "matched_tol_recall": len(m_rec_tol),
                        "matched_tol_precision": len(m_prec_tol),
                        "iou": [v for _, _, v in m],
                        "dscore": [qa[j].score - fa[i].score for i, j, _ in m]})
                crops = base["crops"]
                if crops:
                    probs = [st.masker.mask(c) for c, _ in crops]   # untimed: same crops
                    st.masker.session.take()
                    for (c, pf), pq in zip(crops, probs):
                        agree[p]["mask"].append(mask_iou(pf, pq))
                        agree[p]["mask_mad"].append(float(np.abs(pf - pq).mean()))
                su = [s for s in base["slots"] if s.usable]
                qu = [s for s in q["slots"] if s.usable]
                ms = match([s.box for s in su], [s.category for s in su],
                           [s.box for s in qu], [s.category for s in qu], args.match_iou)
                agree[p]["slots"].append({"fp32": len(su), "int8": len(qu), "matched": len(ms)})
                for a, b, _ in ms:
                    agree[p]["slot_mask_iou"].append(mask_iou(su[a].mask / 255.0,
                                                              qu[b].mask / 255.0))
            per_room.append(room)
            print(f"{i + 1}/{len(measured)} {room['room'][:50]}: {room['fp32_slots']} slots, "
                  f"{room['mask_crops']} crops, fp32 "
                  + " ".join(f"t{t} {room[f'ms_fp32_t{t}']} ms" for t in args.threads)
                  + f", load {room['load_1min']}, {time.perf_counter() - t0:.0f} s", flush=True)

    # --- tables ---------------------------------------------------------------------------
    rows = []
    for t in args.threads:
        for p in precisions:
            rec = times[(p, t)]
            row = {"precision": p, "threads": t, "rooms": len(rec["room_wall"]),
                   "crops": int(sum(rec["crops"]))}
            for n in (*DETECTORS, SALIENT):
                row[SHORT[n]] = summary_ms(rec[SHORT[n]][0])
                row[SHORT[n]]["cpu_median_ms"] = _r(pct([1e3 * v for v in rec[SHORT[n]][1]], 50))
            row["donor_slots"] = summary_ms(rec["room_wall"])
            row["donor_slots"]["cpu_median_ms"] = _r(pct([1e3 * v for v in rec["room_cpu"]], 50))
            rows.append(row)
    ref = {(r["threads"]): r for r in rows if r["precision"] == "fp32"}
    for r in rows:
        f = ref[r["threads"]]
        r["speedup_vs_fp32"] = {k: ratio(f[k]["median_ms"], r[k]["median_ms"])
                                for k in (*SHORT.values(), "donor_slots")}
        r["cpu_speedup_vs_fp32"] = {k: ratio(f[k]["cpu_median_ms"], r[k]["cpu_median_ms"])
                                    for k in (*SHORT.values(), "donor_slots")}
        if r["precision"] != "fp32":
            r["speedup_vs_fp32"]["donor_slots_paired_median"] = _r(
                pct(paired[(r["precision"], r["threads"])], 50), 2)
    agreement = {}
    for p in precisions[1:]:
        a = agree[p]
        det = {}
        for n, per in a["det"].items():
            nf, nq = sum(x["fp32"] for x in per), sum(x["int8"] for x in per)
            nm = sum(x["matched"] for x in per)
            det[n] = {"fp32_boxes": nf, "int8_boxes": nq, "matched": nm,
                      "recall": _r(nm / nf, 3) if nf else None,
                      "precision": _r(nm / nq, 3) if nq else None,
                      "recall_tolerant": _r(sum(x["matched_tol_recall"] for x in per) / nf, 3)
                      if nf else None,
                      "precision_tolerant": _r(sum(x["matched_tol_precision"] for x in per) / nq,
                                               3) if nq else None,
                      "matched_iou_median": _r(pct([v for x in per for v in x["iou"]], 50), 3),
                      "score_delta_median_abs": _r(pct([abs(v) for x in per
                                                        for v in x["dscore"]], 50), 3)}
        sf = sum(x["fp32"] for x in a["slots"])
        sq = sum(x["int8"] for x in a["slots"])
        sm = sum(x["matched"] for x in a["slots"])
        agreement[p] = {
            "detections": det,
            "u2netp_mask_iou": {"crops": len(a["mask"]), "median": _r(pct(a["mask"], 50), 3),
                                "p10": _r(pct(a["mask"], 10), 3),
                                "min": _r(min(a["mask"]), 3) if a["mask"] else None,
                                "share_ge_0.9": _r(np.mean(np.asarray(a["mask"]) >= 0.9), 3)
                                if a["mask"] else None,
                                "mean_abs_prob_diff": _r(pct(a["mask_mad"], 50), 4)},
            "usable_slots": {"fp32": sf, "int8": sq, "matched": sm,
                             "recall": _r(sm / sf, 3) if sf else None,
                             "precision": _r(sm / sq, 3) if sq else None,
                             "matched_silhouette_iou_median":
                                 _r(pct(a["slot_mask_iou"], 50), 3)}}
    result = {"command": command, "started": started,
              "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": mach,
              "load_average": {"start": load_start, "end": loadavg(),
                               "per_room_1min": {"min": min(loads),
                                                 "median": _r(pct(loads, 50), 2),
                                                 "max": max(loads)}},
              "rooms": {"ikea": len(measured_ikea), "demo": len(measured) - len(measured_ikea),
                        "calibration": [p.name for p in calib]
                        if {"qdq", "qoperator"} & set(precisions) else []},
              "params": {"min_score": params.min_score, "match_iou": args.match_iou,
                         "tolerant_score": args.tolerant_score, "threads": args.threads,
                         "precisions": precisions},
              "quantization": quant_info, "timings": rows, "agreement": agreement,
              "per_room": per_room,
              "torch_eager": ("the shipped fp32 ONNX graphs run op by op with torch kernels "
                              f"(bench/onnx_torch.py, torch {_torch_version()})"
                              if args.torch else "not measured (--torch)")}
    md = render(result)
    print(md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(md)
    return 0


def _torch_version() -> str:
    import torch

    return torch.__version__


def render(r: dict) -> str:
    m, la = r["machine"], r["load_average"]
    out = ["# Donor detection per room: onnxruntime fp32 vs int8 vs torch eager (CPU)", "",
           f"    {r['command']}", "",
           f"{r['started']} – {r['finished']}; {m.get('cpu_model')} (family "
           f"{m.get('cpu_family', '?')}, {', '.join(m.get('isa', []))}), {m['nproc']} CPUs, "
           f"{m.get('mem_gb', '?')} GB; onnxruntime {m['onnxruntime']}. Load average at start "
           f"{la['start']}, end {la['end']}; 1-min load per room {la['per_room_1min']['min']}–"
           f"{la['per_room_1min']['max']} (median {la['per_room_1min']['median']}). "
           "Timings on a shared machine are upper bounds.", "",
           f"Rooms: {r['rooms']['ikea']} IKEA + {r['rooms']['demo']} demo; static calibration "
           f"on {len(r['rooms']['calibration'])} other rooms. torch eager: {r['torch_eager']}.",
           "", "## Wall time (ms, median / p90; speed-up vs fp32 of the medians)", "",
           "| precision | threads | oid_ssd session | coco_centernet session | u2netp per crop "
           "| crops | donor_slots per room | per room, paired (median of fp32 / this) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in r["timings"]:
        sp = row["speedup_vs_fp32"]

        def cell(k, row=row, sp=sp):
            s = row[k]
            return f"{s['median_ms']} / {s['p90_ms']} ({sp[k]}×)"
        paired = sp.get("donor_slots_paired_median")
        out.append(f"| {row['precision']} | {row['threads']} | {cell('oid_ssd')} | "
                   f"{cell('coco_centernet')} | {cell('u2netp')} | {row['crops']} | "
                   f"{cell('donor_slots')} | {'–' if paired is None else f'{paired}×'} |")
    out += ["", "## Process CPU time (ms, median; speed-up vs fp32)", "",
            "Less sensitive to the neighbours' load than wall time (with 2 threads it includes "
            "onnxruntime's spinning worker thread).", "",
            "| precision | threads | oid_ssd session | coco_centernet session | u2netp per crop "
            "| donor_slots per room |", "| --- | --- | --- | --- | --- | --- |"]
    for row in r["timings"]:
        sp = row["cpu_speedup_vs_fp32"]
        out.append(f"| {row['precision']} | {row['threads']} | "
                   + " | ".join(f"{row[k]['cpu_median_ms']} ({sp[k]}×)"
                                for k in ("oid_ssd", "coco_centernet", "u2netp", "donor_slots"))
                   + " |")
    if r["agreement"]:
        out += ["", "## Do int8 and torch keep the boxes? (each vs onnxruntime fp32, same rooms)",
                "",
                f"Detections at score >= {r['params']['min_score']}, matched one to one by label "
                f"and IoU >= {r['params']['match_iou']}; tolerant: the other side may score down "
                f"to {r['params']['tolerant_score']}.", "",
                "| precision | detector | fp32 boxes | its boxes | recall | precision | "
                "recall (tolerant) | precision (tolerant) | matched IoU median | |Δscore| median |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for p, a in r["agreement"].items():
            for n, d in a["detections"].items():
                out.append(f"| {p} | {n} | {d['fp32_boxes']} | {d['int8_boxes']} | {d['recall']}"
                           f" | {d['precision']} | {d['recall_tolerant']} | "
                           f"{d['precision_tolerant']} | {d['matched_iou_median']} | "
                           f"{d['score_delta_median_abs']} |")
        out += ["", "| precision | U²-Netp crops | mask IoU median | p10 | min | share >= 0.9 | "
                "mean |Δp| median | usable slots fp32 / its / matched | slot recall | "
                "slot precision | silhouette IoU median |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for p, a in r["agreement"].items():
            u, s = a["u2netp_mask_iou"], a["usable_slots"]
            out.append(f"| {p} | {u['crops']} | {u['median']} | {u['p10']} | {u['min']} | "
                       f"{u['share_ge_0.9']} | {u['mean_abs_prob_diff']} | {s['fp32']} / "
                       f"{s['int8']} / {s['matched']} | {s['recall']} | {s['precision']} | "
                       f"{s['matched_silhouette_iou_median']} |")
    if r["quantization"]:
        out += ["", "## Quantized models (temporary; not shipped)", "",
                "| precision | model | MB (fp32 MB) | int8 ops | calibration feeds | "
                "quantize s |", "| --- | --- | --- | --- | --- | --- |"]
        for p, models in r["quantization"].items():
            for n, q in models.items():
                out.append(f"| {p} | {n} | {q['mb']} ({q['fp32_mb']}) | {q['int8_ops']} | "
                           f"{q['calibration_feeds']} | {q['seconds']} |")
    out += ["", "## Per room", "", "| room | size | fp32 slots | usable | mask crops | "
            + " | ".join(f"fp32 ms t{t}" for t in r["params"]["threads"]) + " | load 1-min |",
            "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in r["params"]["threads"])
            + " | --- |"]
    for room in r["per_room"]:
        out.append(f"| {room['room'][:60]} | {room['size'][0]}×{room['size'][1]} | "
                   f"{room['fp32_slots']} | {room['fp32_usable']} | {room['mask_crops']} | "
                   + " | ".join(str(room[f"ms_fp32_t{t}"]) for t in r["params"]["threads"])
                   + f" | {room['load_1min']} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
