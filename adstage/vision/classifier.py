"""Staged / unstaged classifier: a small CNN, its training data and its training loop (torch).

Unstaged = a product photographed alone on a (near-)uniform backdrop; staged = a product in a
scene. Training data: the demo catalog (generated here) and the IKEA set's train split (product
photos = unstaged; room photos and random crops of rooms = staged: a close-up of a sofa in a room
is still staged). The exported ONNX graph ends in a sigmoid: output = P(staged).
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from adstage.vision import ikea
from adstage.vision.preprocess import CLASSIFIER_SIZE, classifier_input

log = logging.getLogger(__name__)

UNSTAGED, STAGED = 0, 1


def build_net(width: int = 16):
    """Five strided conv blocks, global average pool, one logit. ~0.1 M parameters."""
    from torch import nn

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True)]

    w = width
    return nn.Sequential(*block(3, w), *block(w, 2 * w), *block(2 * w, 4 * w),
                         *block(4 * w, 4 * w), *block(4 * w, 8 * w),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8 * w, 1))




def exportable(net):
    """The net with a sigmoid and a flat output: (N,3,S,S) float -> (N,) P(staged)."""
    from adstage.onnx_export import SigmoidHead

    return SigmoidHead(net, flat=True)


# ---- data ------------------------------------------------------------------------------------
@dataclass
class Pool:
    """Decoded training images held small in memory."""
    unstaged: list[np.ndarray]
    staged: list[np.ndarray]


def _load(path: Path, max_side: int) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        return None
    s = max_side / max(img.shape[:2])
    return cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else img


def demo_pool(out_dir: Path, n_products: int, seed: int) -> Pool:
    from adstage.demo.catalog import generate_catalog

    generate_catalog(out_dir, n_products, seed=seed)
    un = [_load(p, 160) for p in sorted((out_dir / "images/products").glob("*.png"))]
    st = [_load(p, 320) for p in sorted((out_dir / "images/staged").glob("*.png"))]
    return Pool([i for i in un if i is not None], [i for i in st if i is not None])


def ikea_pool(test: bool, root: Path = ikea.DEFAULT_ROOT) -> Pool:
    un, st = [], []
    for it in ikea.items(root):
        if it.test != test:
            continue
        img = _load(it.path, 160 if it.kind == "product" else 320)
        if img is not None:
            (un if it.kind == "product" else st).append(img)
    return Pool(un, st)


def random_crop(img: np.ndarray, rng: np.random.Generator, min_area: float = 0.15) -> np.ndarray:
    """A random sub-window (area share in [min_area, 1], aspect 0.6-1.6) of a room photo."""
    h, w = img.shape[:2]
    for _ in range(10):
        area = rng.uniform(min_area, 1.0) * h * w
        aspect = np.exp(rng.uniform(np.log(0.6), np.log(1.6)))
        cw, ch = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if 16 <= cw <= w and 16 <= ch <= h:
            x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
            return img[y:y + ch, x:x + cw]
    return img


def augment_unstaged(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pad (product smaller in frame) or crop its middle (product fills it); keep the backdrop."""
    h, w = img.shape[:2]
    r = rng.uniform()
    if r < 0.35:  # pad with the backdrop's own colour (from the corner) to shrink the product
        pad = int(rng.uniform(0.05, 0.4) * max(h, w))
        colour = [int(v) for v in img[:4, :4].reshape(-1, 3).mean(0)]
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=colour)
    elif r < 0.6:
        f = rng.uniform(0.8, 1.0)
        ch, cw = int(h * f), int(w * f)
        y, x = (h - ch) // 2, (w - cw) // 2
        img = img[y:y + ch, x:x + cw]
    if rng.uniform() < 0.3:  # non-square product shots
        a = rng.uniform(0.7, 1.4)
        img = cv2.resize(img, (max(16, int(img.shape[1] * a)), img.shape[0]))
    return img


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32) * rng.uniform(0.85, 1.1) + rng.uniform(-12, 12)
    if rng.uniform() < 0.5:
        out = out[:, ::-1]
    if rng.uniform() < 0.3:  # JPEG-ish softness
        out = cv2.GaussianBlur(out, (3, 3), 0)
    return np.clip(out, 0, 255).astype(np.uint8)


def sample(pool: Pool, label: int, rng: np.random.Generator) -> np.ndarray:
    if label == UNSTAGED:
        img = augment_unstaged(pool.unstaged[rng.integers(len(pool.unstaged))], rng)
    else:
        img = pool.staged[rng.integers(len(pool.staged))]
        if rng.uniform() < 0.7:
            img = random_crop(img, rng)
    return classifier_input(photometric(img, rng))


def eval_set(pool: Pool, crops_per_room: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every unstaged image as is; every staged image whole plus fixed random crops."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for img in pool.unstaged:
        xs.append(classifier_input(img)); ys.append(UNSTAGED)
    for img in pool.staged:
        xs.append(classifier_input(img)); ys.append(STAGED)
        for _ in range(crops_per_room):
            xs.append(classifier_input(random_crop(img, rng, min_area=0.25))); ys.append(STAGED)
    return np.stack(xs), np.array(ys)


# ---- metrics ---------------------------------------------------------------------------------
def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, int]:
    return {"tn": int(((y_true == 0) & (y_pred == 0)).sum()),
            "fp": int(((y_true == 0) & (y_pred == 1)).sum()),
            "fn": int(((y_true == 1) & (y_pred == 0)).sum()),
            "tp": int(((y_true == 1) & (y_pred == 1)).sum())}


def balanced_accuracy(c: dict[str, int]) -> float:
    tpr = c["tp"] / max(c["tp"] + c["fn"], 1)
    tnr = c["tn"] / max(c["tn"] + c["fp"], 1)
    return 0.5 * (tpr + tnr)


# ---- training --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1500
    batch: int = 48
    lr: float = 3e-3
    width: int = 16
    seed: int = 0
    demo_products: int = 200
    use_ikea: bool = True
    threads: int = 2


def train(cfg: TrainConfig, work: Path, out_onnx: Path) -> dict:
    """Train, export `out_onnx` and return the evaluation report (also written beside it)."""
    import torch
    from torch import nn

    from adstage.onnx_export import export_onnx

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    started = time.time()
    demo_train = demo_pool(work / "demo_train", cfg.demo_products, seed=1000 + cfg.seed)
    pools = [demo_train]
    if cfg.use_ikea:
        pools.append(ikea_pool(test=False))
    log.info("data loaded in %.0fs: %s", time.time() - started,
             [(len(p.unstaged), len(p.staged)) for p in pools])

    net = build_net(cfg.width)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps)
    loss_fn = nn.BCEWithLogitsLoss()
    net.train()
    for step in range(cfg.steps):
        labels = rng.integers(0, 2, cfg.batch)
        # Half the batch from IKEA (real photos), half from the demo catalog.
        xs = [sample(pools[(i % len(pools))], int(y), rng) for i, y in enumerate(labels)]
        x = torch.from_numpy(np.stack(xs))
        y = torch.from_numpy(labels.astype(np.float32))
        loss = loss_fn(net(x).flatten(), y)
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        if step % 100 == 0 or step == cfg.steps - 1:
            log.info("step %d/%d loss %.4f (%.0fs)", step, cfg.steps, loss.item(),
                     time.time() - started)

    model = exportable(net).eval()
    export_onnx(model, [torch.zeros(1, 3, CLASSIFIER_SIZE, CLASSIFIER_SIZE)], out_onnx,
                ["image"], ["p_staged"], dynamic_axes={"image": {0: "batch"}, "p_staged": {0: "batch"}})
    report = {"config": asdict(cfg), "train_seconds": round(time.time() - started, 1)}
    report["eval"] = evaluate_onnx(out_onnx, work, use_ikea=cfg.use_ikea)
    return report


def evaluate_onnx(onnx_path: Path, work: Path, use_ikea: bool = True) -> dict:
    """Accuracy and confusion matrix of an exported classifier on data training never saw:
    a fresh demo catalog (other seed) and the IKEA test split (held-out products and rooms)."""
    from adstage.onnx_runtime import session_from_bytes

    sess = session_from_bytes(Path(onnx_path).read_bytes(), device="cpu")
    sets = {"demo_heldout": eval_set(demo_pool(work / "demo_eval", 60, seed=99), 2, seed=5)}
    if use_ikea:
        sets["ikea_test"] = eval_set(ikea_pool(test=True), 4, seed=5)
    out = {}
    for name, (x, y) in sets.items():
        p = np.concatenate([sess.run(None, {"image": x[i:i + 64]})[0]
                            for i in range(0, len(x), 64)])
        c = confusion(y, (p >= 0.5).astype(int))
        out[name] = {"n": int(len(y)), "n_staged": int(y.sum()), "confusion": c,
                     "accuracy": round((c["tp"] + c["tn"]) / len(y), 4),
                     "balanced_accuracy": round(balanced_accuracy(c), 4)}
    return out
