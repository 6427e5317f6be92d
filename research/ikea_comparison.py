"""The paper's comparison on the IKEA research set: hard paste, copy-paste (EdgeConnect with and
without the weighted boundary loss, then + contact shadow + harmonisation) and vanilla pix2pix,
scored exactly as the nightly evaluation job scores them (``evaluate.compare``/``control_sets``).

    # prerequisite (~60 min CPU): the EdgeConnect models trained on IKEA rooms
    PYTHONPATH=. python research/boundary_experiment.py --out /tmp/adstage-boundary
    # the comparison: ~8 min on 2 shared vCPUs; ~19 min with --train-pix2pix 6000 (adds a
    # pix2pix trained on the IKEA donor rooms as the row vanilla_ikea)
    PYTHONPATH=. python research/ikea_comparison.py --out /tmp/adstage-ikea-cmp

What it does:

1. Rooms (read in place): held apart by ``evalsplit.is_holdout(room_id, 0.2)`` = the real
   reference set (never donors); the others go through the shipped segmenter and
   ``slots.find_slots`` at the working resolution; usable slots -> ``shape.describe`` -> one
   FAISS inner-product index. The IKEA rooms list which products they show but not where, and
   the pipeline names only a photo's largest usable slot, so every donor slot is category-less:
   ONE index, and ``pair_donors.pair`` matches by shape alone (its ``shape_only`` path).
2. Products: every IKEA product in a pipeline category (``ikea.category_of``; 527), or a
   seeded sample of ``--products``; cut out; paired; the first donor in rank order that passes the
   copy-paste job's checks (fit IoU >= 0.3, gap share <= 0.6: ``CopyPasteParams``) gets every
   method rendered on it. Vanilla pix2pix paints a whole scene from the product alone.
   Reference rows beside the five methods: ``copy_paste_opencv_telea`` (model-free
   inpainting) and ``donor_unchanged`` (the donor photo itself, sampled on the donor slot's
   outline: what a real photo scores under outline sampling).
3. Per method against the held-apart rooms: whole-image FD and KID, the seam two-sample test
   (balanced accuracy ± std over folds) and seam KID, mean object expansion, worst product-pixel
   change; the real-vs-real control; and the goal check
   ``(acc_hard - acc_method) / (acc_hard - acc_control)`` (>= 0.5: half the gap closed).
   Beside it, the outline-referenced variant (``OUTLINE_REFERENCES``): the real side is then
   patches along the outlines of real products, the shipped segmenter's slots in the
   held-apart rooms sampled like the outputs' outlines, with its own control (real outlines
   half vs half), gap closure and goal check; and the same rooms' outline patches against their
   own strong-edge patches (``real_outline_vs_real_edge``: how much the edge-referenced
   measure detects "object outline" rather than "paste").
4. Writes ``results.json``, ``results.md`` and the picture grids ``grid_best.jpg`` /
   ``grid_worst.jpg`` under ``--out`` (IKEA-derived pictures: never into the repository).

Cheap to re-run: every product's features are cached under ``--out/cache/<fingerprint>/`` (the
fingerprint covers the models, the extractor and every setting that changes a number), so a
second run only recomputes the metrics; ``--phase metrics`` never renders.
Donor rooms are staged at ``--room-side`` px on the short side (default 384: the generators were
trained on rooms at 160 px, the seam measure looks at 256 px); the real rooms are read at full size.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from adstage import safecache
from adstage.config import Settings
from adstage.evalsplit import is_holdout
from adstage.evaluation.evaluate import CONTROL, FeatureSet, compare, control_sets
from adstage.evaluation.seam import two_sample
from adstage.staging import donor_fit, quality
from adstage.staging.composite import InpaintFn, hard_paste, stage_copy_paste
from adstage.staging.copy_paste import CopyPasteParams
from adstage.staging.harmonize import HarmonizeParams
from adstage.staging.outputs import alpha_png
from adstage.staging.placement import Placed, mask_box
from adstage.staging.shadow import ShadowParams
from adstage.staging.vanilla import canvas_input, output_region

log = logging.getLogger("adstage.ikea_comparison")

HARD = "hard_paste"
CP_BASELINE = "copy_paste_baseline"
CP_BOUNDARY = "copy_paste_boundary"
CP_FULL = "copy_paste_boundary_shadow_harmonize"
VANILLA = "vanilla"
VANILLA_IKEA = "vanilla_ikea"        # only with --pix2pix-ikea
CP_TELEA = "copy_paste_opencv_telea"  # reference: model-free inpainting, no shadow/harmonisation
DONOR = "donor_unchanged"            # reference: the donor room as photographed, donor outline
METHODS = (HARD, CP_BASELINE, CP_BOUNDARY, CP_FULL, VANILLA)
REFERENCES = (CP_TELEA, DONOR)


@dataclass(frozen=True)
class PasteSpec:
    """One copy-paste variant: which inpainter, contact shadow, harmonisation."""

    inpainter: str            # key into the inpainters dict ("baseline" | "boundary")
    shadow: bool
    harmonize: bool


PASTE_SPECS = {
    CP_BASELINE: PasteSpec("baseline", False, False),
    CP_BOUNDARY: PasteSpec("boundary", False, False),
    CP_FULL: PasteSpec("boundary", True, True),
    CP_TELEA: PasteSpec("telea", False, False),
}

BOUNDARY_RUNS = {"edge": "edge", "baseline": "inpaint_silhouette_baseline",
                 "boundary": "inpaint_silhouette_boundary"}
BOUNDARY_COMMAND = ("PYTHONPATH=. python research/boundary_experiment.py --out {dir}")
# The IKEA-trained generators (docs/generators-ikea.md): G1 edge, G2 boundary weight 1
# (baseline) and 5 (boundary; this pair is the shipped models/generative/edgeconnect_*.onnx).
GENERATOR_RUNS = {"edge": "edge", "baseline": "baseline", "boundary": "boundary"}
GENERATORS_COMMAND = ("research/generators_ikea_train.sh edge 600; ... baseline 600; ... "
                      "boundary 600 (docs/generators-ikea.md; OUT={dir})")
SLOT_SOURCES = ("detector", "segmenter")
SPLITS = {"generators": "adstage.vision.ikea.items / generative.data.ikea_split: room key "
                        "'r' + room_id, the generators' own split",
          "evalsplit": "evalsplit.is_holdout(room_id): the old comparison's split"}
# Paired differences the bootstrap reports (a - b, same products and real rooms per draw).
PAIRED = ((CP_BOUNDARY, CP_BASELINE), (CP_BOUNDARY, HARD), (CP_FULL, HARD),
          (CP_BOUNDARY, CP_TELEA), (CP_BOUNDARY, VANILLA), (CP_FULL, VANILLA))

TABLE_COLUMNS = ("method", "fd", "kid", "seam_accuracy", "seam_kid", "object_expansion",
                 "preservation_max", "gap_closed", "n_images", "n_patches")


# ---- pure helpers ---------------------------------------------------------------------------
def gap_closure(acc_hard: float | None, acc_method: float | None,
                acc_control: float | None) -> float | None:
    """Share of the seam gap between the hard paste and the real-vs-real floor that a method
    closes: ``(acc_hard - acc_method) / (acc_hard - acc_control)``; 1 = at the floor, 0 = no
    better than the hard paste, < 0 = worse. None when a figure is missing or the hard paste
    is already at (or below) the floor (no gap to close)."""
    if acc_hard is None or acc_method is None or acc_control is None:
        return None
    gap = acc_hard - acc_control
    if gap <= 1e-9:
        return None
    return float((acc_hard - acc_method) / gap)


def goal_check(rows: Sequence[dict], target: float = 0.5) -> dict[str, dict]:
    """Per method: the gap closure and whether it reaches ``target`` (the issue's "at least
    half of the gap"). ``rows`` carry ``method`` and ``seam_accuracy``; the control row is
    ``evaluate.CONTROL``."""
    acc = {r["method"]: r.get("seam_accuracy") for r in rows}
    out = {}
    for r in rows:
        m = r["method"]
        if m in (HARD, CONTROL, DONOR):
            continue
        g = gap_closure(acc.get(HARD), acc.get(m), acc.get(CONTROL))
        out[m] = {"gap_closed": g, "meets_goal": None if g is None else bool(g >= target)}
    return out


def _verdict(meets: bool) -> str:
    return "meets" if meets else "misses"


def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{float(v):.{digits}f}"


def format_table(rows: Sequence[dict], extractor: str, seam_extractor: str | None = None) -> str:
    """The markdown results table (one row per method, the control row last)."""
    head = ("| method | FD | KID | seam accuracy ± std | seam KID | object expansion "
            "| preservation max | gap closed | n images / real | n patches / real |")
    if "inception" in extractor.lower():
        note = (f"FD/KID: `{extractor}` (FID Inception-v3, 2048-d pool3); seam: "
                f"`{seam_extractor or extractor}` (as the nightly evaluation).")
    else:
        note = f"Features: `{extractor}` (not Inception; comparable within this project only)."
    lines = [note, "", head, "|" + "---|" * 10]
    for r in rows:
        seam = (f"{_fmt(r.get('seam_accuracy'))} ± {_fmt(r.get('seam_accuracy_std'))}"
                if r.get("seam_accuracy") is not None else "–")
        lines.append(
            f"| {r['method']} | {_fmt(r.get('fd'), 3)} | {_fmt(r.get('kid'))} | {seam} "
            f"| {_fmt(r.get('seam_kid'))} | {_fmt(r.get('object_expansion'), 3)} "
            f"| {_fmt(r.get('preservation_max'), 0)} | {_fmt(r.get('gap_closed'), 2)} "
            f"| {r.get('n_images', '–')} / {r.get('n_real', '–')} "
            f"| {r.get('n_patches', '–')} / {r.get('n_real_patches', '–')} |")
    return "\n".join(lines)


# ---- bootstrap confidence intervals (pure helpers) ----------------------------------------------
def percentile_ci(values: Sequence[float], level: float = 0.95) -> list[float] | None:
    """The percentile interval of bootstrap values (non-finite ones dropped); None if none."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
    if not len(v):
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    return [float(np.percentile(v, tail)), float(np.percentile(v, 100.0 - tail))]


def weighted_balanced_accuracy(y: np.ndarray, correct: np.ndarray, w: np.ndarray) -> float:
    """Balanced accuracy (mean of the two sides' hit rates) with a weight per row; NaN when a
    side has no weight. A bootstrap draw of images gives each patch its image's draw count."""
    y, correct, w = np.asarray(y), np.asarray(correct, np.float64), np.asarray(w, np.float64)
    rates = []
    for side in (1, 0):
        ws = w * (y == side)
        tot = ws.sum()
        rates.append(np.nan if tot <= 0 else float((ws * correct).sum() / tot))
    return float(np.mean(rates))


def oof_correct(a: np.ndarray, a_groups: Sequence[str], b: np.ndarray, b_groups: Sequence[str],
                folds: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The seam test's out-of-fold verdicts (``seam._out_of_fold``, the classifier and folds of
    ``two_sample``): per patch of a then b its label, whether it was classified right (a patch
    never predicted counts as wrong) and its group."""
    from adstage.evaluation.seam import _out_of_fold

    proba, _ = _out_of_fold(a, list(a_groups), b, list(b_groups), folds, seed)
    y = np.r_[np.ones(len(a), int), np.zeros(len(b), int)]
    correct = np.isfinite(proba) & ((proba >= 0.5) == (y == 1))
    return y, correct, [str(g) for g in a_groups] + [str(g) for g in b_groups]


def group_positions(groups: Sequence[str], ids: Sequence[str]) -> np.ndarray:
    """Per row, the index of its group in ``ids`` (-1: not there)."""
    pos = {k: i for i, k in enumerate(ids)}
    return np.array([pos.get(g, -1) for g in groups], int)


def draw_weights(positions: np.ndarray, n_ids: int, draw: np.ndarray) -> np.ndarray:
    """Per row, how often its group is in ``draw`` (indices into the ids; rows at -1 get 0)."""
    counts = np.r_[np.bincount(np.asarray(draw, int), minlength=n_ids), 0].astype(np.float64)
    return counts[np.asarray(positions, int)]


def bootstrap_figures(gen: dict[str, FeatureSet], real: FeatureSet,
                      pairs: Sequence[tuple[str, str]] = (), reps: int = 1000, seed: int = 0,
                      folds: int = 5, level: float = 0.95,
                      control: tuple[FeatureSet, FeatureSet] | None = None) -> dict:
    """Bootstrap intervals by resampling images: per draw, the generated images (one per
    product; the SAME product draw for every method whose ids are the same, so differences are
    paired) and the real rooms are drawn with replacement. Per set: FD (``frechet_distance`` on
    the drawn rows) and the seam test's out-of-fold balanced accuracy re-weighted by the draw
    (the classifiers are fitted once, ``oof_correct``; their fold-to-fold spread is the
    ``seam_accuracy_std`` beside). Per pair (a, b): the point difference a - b and its interval.
    ``control``: the real-vs-real halves, each half resampled on its own."""
    from adstage.evaluation.frechet import frechet_distance

    rng = np.random.default_rng(seed)
    sets = {m: (g, real) for m, g in gen.items()}
    if control is not None:
        sets[CONTROL] = control
    fixed, draws = {}, {}
    for name, (a, b) in sets.items():
        try:
            y, ok, groups = oof_correct(a.patches, a.patch_groups, b.patches, b.patch_groups,
                                        folds, seed)
        except ValueError:
            fixed[name] = None
            continue
        na = int(y.sum())
        fixed[name] = (y, ok, group_positions(groups[:na], a.ids),
                       group_positions(groups[na:], b.ids))
    point_fd = {m: float(frechet_distance(a.whole, b.whole)) for m, (a, b) in sets.items()}
    point_seam = {m: (weighted_balanced_accuracy(f[0], f[1], np.ones(len(f[0])))
                      if f is not None else None) for m, f in fixed.items()}
    fd = {m: [] for m in sets}
    seam = {m: [] for m in sets}
    for _ in range(reps):
        for key in sorted({tuple(a.ids) for a, _ in sets.values()}
                          | {tuple(b.ids) for _, b in sets.values()}):
            draws[key] = rng.integers(0, len(key), len(key))
        for m, (a, b) in sets.items():
            da, db = draws[tuple(a.ids)], draws[tuple(b.ids)]
            fd[m].append(float(frechet_distance(a.whole[da], b.whole[db])))
            if fixed[m] is not None:
                y, ok, pa, pb = fixed[m]
                w = np.r_[draw_weights(pa, len(a.ids), da), draw_weights(pb, len(b.ids), db)]
                seam[m].append(weighted_balanced_accuracy(y, ok, w))
    out = {"reps": reps, "level": level, "seed": seed, "methods": {}, "paired": {}}
    for m in sets:
        out["methods"][m] = {"fd": point_fd[m], "fd_ci": percentile_ci(fd[m], level),
                             "seam_oof": point_seam[m],
                             "seam_oof_ci": percentile_ci(seam[m], level)}
    for a, b in pairs:
        if a not in sets or b not in sets:
            continue
        paired = tuple(sets[a][0].ids) == tuple(sets[b][0].ids)
        d_seam = (None if point_seam[a] is None or point_seam[b] is None
                  else point_seam[a] - point_seam[b])
        out["paired"][f"{a} - {b}"] = {
            "a": a, "b": b, "paired": paired, "fd": point_fd[a] - point_fd[b],
            "fd_ci": percentile_ci(np.subtract(fd[a], fd[b]), level),
            "seam_oof": d_seam,
            "seam_oof_ci": (percentile_ci(np.subtract(seam[a], seam[b]), level)
                            if seam[a] and seam[b] else None)}
    return out


def ci_excludes_zero(ci: Sequence[float] | None) -> bool | None:
    return None if ci is None else bool(ci[0] > 0 or ci[1] < 0)


def paper_goals(boot: dict) -> list[dict]:
    """The paper's claims, each from the bootstrap's paired differences: met when the point
    difference has the claimed sign and its interval excludes 0; 'not resolved' when the sign
    is right but the interval holds 0; missed otherwise."""
    claims = [("copy-paste + boundary below hard paste on seam accuracy", CP_BOUNDARY, HARD,
               "seam_oof", -1),
              ("copy-paste + boundary below Telea on seam accuracy", CP_BOUNDARY, CP_TELEA,
               "seam_oof", -1),
              ("boundary no worse than baseline on FID", CP_BOUNDARY, CP_BASELINE, "fd", -1),
              ("boundary no worse than baseline on seam accuracy", CP_BOUNDARY, CP_BASELINE,
               "seam_oof", -1),
              ("copy-paste FID below vanilla", CP_BOUNDARY, VANILLA, "fd", -1),
              ("copy-paste (+shadow/harmonize) FID below vanilla", CP_FULL, VANILLA, "fd", -1)]
    out = []
    for text, a, b, key, sign in claims:
        d = (boot.get("paired") or {}).get(f"{a} - {b}")
        if d is None or d.get(key) is None:
            out.append({"claim": text, "verdict": "n/a"})
            continue
        ci = d.get(f"{key}_ci")
        no_worse = text.startswith("boundary no worse")
        if no_worse:   # "no worse": missed only when the interval lies wholly on the bad side
            bad = ci is not None and (ci[0] > 0 if sign < 0 else ci[1] < 0)
            verdict = "missed" if bad else "met"
        elif np.sign(d[key]) == sign:
            verdict = "met" if ci_excludes_zero(ci) else "not resolved (CI holds 0)"
        else:
            verdict = "missed"
        out.append({"claim": text, "a": a, "b": b, "figure": key, "diff": d[key], "ci": ci,
                    "verdict": verdict})
    return out


def _ci(ci: Sequence[float] | None, digits: int) -> str:
    return "–" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def format_ci_table(rows: Sequence[dict], boot: dict) -> str:
    """The paper table: per method FID [95 % CI], KID ± subset std, seam accuracy (fold mean ±
    std, and the pooled out-of-fold figure [95 % CI]), seam KID, object expansion, worst
    product-pixel change, images; the control row last."""
    lines = ["| method | FID [95 % CI] | KID ± std | seam acc. (folds) ± std "
             "| seam acc. pooled [95 % CI] | seam KID | object expansion | product pixels "
             "changed (max) | n images / real |", "|" + "---|" * 9]
    for r in rows:
        b = (boot.get("methods") or {}).get(r["method"], {})
        seam = (f"{_fmt(r.get('seam_accuracy'), 3)} ± {_fmt(r.get('seam_accuracy_std'), 3)}"
                if r.get("seam_accuracy") is not None else "–")
        kid = (f"{_fmt(r.get('kid'), 4)} ± {_fmt(r.get('kid_std'), 4)}"
               if r.get("kid") is not None else "–")
        lines.append(
            f"| {r['method']} | {_fmt(r.get('fd'), 1)} {_ci(b.get('fd_ci'), 1)} | {kid} | {seam} "
            f"| {_fmt(b.get('seam_oof'), 3)} {_ci(b.get('seam_oof_ci'), 3)} "
            f"| {_fmt(r.get('seam_kid'), 4)} | {_fmt(r.get('object_expansion'), 3)} "
            f"| {_fmt(r.get('preservation_max'), 0)} | {r.get('n_images', '–')} / "
            f"{r.get('n_real', '–')} |")
    return "\n".join(lines)


def format_paired(boot: dict) -> str:
    """Paired differences a − b with their 95 % intervals (same product and room draws)."""
    lines = ["| a − b | FID diff [95 % CI] | seam acc. diff [95 % CI] |", "|---|---|---|"]
    for name, d in (boot.get("paired") or {}).items():
        lines.append(f"| {name.replace(' - ', ' − ')} | {_fmt(d.get('fd'), 1)} "
                     f"{_ci(d.get('fd_ci'), 1)} | {_fmt(d.get('seam_oof'), 3)} "
                     f"{_ci(d.get('seam_oof_ci'), 3)} |")
    return "\n".join(lines)


def format_goals(goals: Sequence[dict]) -> str:
    lines = []
    for g in goals:
        if g["verdict"] == "n/a":
            lines.append(f"- {g['claim']}: n/a")
            continue
        digits = 1 if g["figure"] == "fd" else 3
        lines.append(f"- {g['claim']}: **{g['verdict']}** ({g['a']} − {g['b']} = "
                     f"{g['diff']:+.{digits}f} {_ci(g['ci'], digits)})")
    return "\n".join(lines)


# ---- outline-referenced seam measure (pure helpers) ---------------------------------------------
# The edge-referenced measure above compares outline patches of the outputs with patches on the
# strongest Canny edges of real rooms, so it also detects "object outline" vs "arbitrary strong
# edge". The outline-referenced variant takes its real side from the outlines of REAL products:
# the shipped segmenter's slots in the held-apart rooms, sampled exactly as the outputs are.
OUTLINE_REFERENCES = {
    "usable_slots": "the held-apart rooms' usable slots (the pipeline's donor rule: "
                    "slots.find_slots with SlotParams(), usable = no flag)",
    "any_slot": "sensitivity: every slot find_slots reports except too_small specks "
                "(adds the segmenter's too-large furniture blobs, low-quality and frame-cut "
                "slots, whose outlines are coarser: too-large ones are not GrabCut-refined)",
}
DETECTOR_OUTLINE_REFERENCES = {
    "usable_slots": "the held-apart rooms' usable detector slots (donors.donor_slots, the "
                    "pipeline's donor rule: no flag)",
    "any_slot": "sensitivity: every detected piece with a silhouette except too_small ones "
                "(silhouettes are made only for pieces without a geometry flag, so this adds "
                "the poor_mask ones)",
}
OUTLINE_PICK = "all"   # several slots in a room: their union, points spaced over all outlines
OUTLINE_VS_EDGE = "real_outline_vs_real_edge"


def select_slots(slots: Sequence[dict], kind: str) -> list[dict]:
    """The slots of one real room that serve as its real outlines: ``usable_slots`` keeps the
    usable ones, ``any_slot`` every one not flagged too_small. ``slots`` carry ``usable`` and
    ``flags``."""
    from adstage.vision.slots import TOO_SMALL

    if kind == "usable_slots":
        return [s for s in slots if s["usable"]]
    if kind == "any_slot":
        return [s for s in slots if TOO_SMALL not in s["flags"]]
    raise ValueError(f"unknown outline reference {kind!r} (one of {sorted(OUTLINE_REFERENCES)})")


def reference_outline_mask(masks: Sequence[np.ndarray], pick: str = OUTLINE_PICK
                           ) -> np.ndarray | None:
    """One mask per real room for ``seam.outline_patches``: the union of its slot masks
    (``pick="all"``; ``seam.outline_points`` then spaces the room's points by arc length over
    every outline, so each slot gets points in proportion to its outline's length) or the
    largest slot alone (``"largest"``). None when no mask has a pixel."""
    masks = [np.asarray(m) > 127 for m in masks]
    masks = [m for m in masks if m.any()]
    if not masks:
        return None
    if pick == "largest":
        out = max(masks, key=lambda m: int(m.sum()))
    elif pick == "all":
        out = np.logical_or.reduce(masks)
    else:
        raise ValueError(f"pick must be 'all' or 'largest', got {pick!r}")
    return np.where(out, 255, 0).astype(np.uint8)


def seam_row(method: str, a: np.ndarray, a_groups: Sequence[str], b: np.ndarray,
             b_groups: Sequence[str], cv_seeds: int = 0, folds: int = 5,
             seed: int = 0) -> dict:
    """The seam figures of side a (label 1) against side b: balanced accuracy ± std over folds
    (``seam.two_sample``, by image), patch KID (``kid.kid``), the accuracy over ``cv_seeds``
    fold seeds; None figures with the reason in ``detail`` when a side is too small."""
    from adstage.evaluation.kid import kid

    row: dict = {"method": method, "n_images": len(set(a_groups)), "n_real": len(set(b_groups)),
                 "n_patches": len(a), "n_real_patches": len(b), "seam_accuracy": None,
                 "seam_accuracy_std": None, "seam_kid": None, "seam_accuracy_cv_seeds": [],
                 "detail": None}
    try:
        acc, std, _ = two_sample(a, list(a_groups), b, list(b_groups), folds, seed)
        row.update(seam_accuracy=acc, seam_accuracy_std=std,
                   seam_kid=kid(a, b, seed=seed)[0],
                   seam_accuracy_cv_seeds=[
                       float(acc if k == seed else
                             two_sample(a, list(a_groups), b, list(b_groups), folds, k)[0])
                       for k in range(cv_seeds)])
    except ValueError as exc:
        row["detail"] = str(exc)
    return row


def outline_rows(gen: dict[str, FeatureSet], real: FeatureSet, cv_seeds: int = 0,
                 folds: int = 5, seed: int = 0) -> list[dict]:
    """The outline-referenced table: every generated set's outline patches against the real
    outline patches, then the control (the real outline patches half vs half,
    ``seam.split_halves``) last, and each row's ``gap_closed`` against that control."""
    from adstage.evaluation.seam import SeamPatches, split_halves

    rows = [seam_row(m, g.patches, g.patch_groups, real.patches, real.patch_groups, cv_seeds,
                     folds, seed) for m, g in gen.items()]
    first, second = split_halves(SeamPatches(np.asarray(real.patches), list(real.patch_groups)))
    rows.append(seam_row(CONTROL, first.patches, first.groups, second.patches, second.groups,
                         cv_seeds, folds, seed))
    goals = goal_check(rows)
    for r in rows:
        r["gap_closed"] = goals.get(r["method"], {}).get("gap_closed")
    return rows


def floor_check(rows: Sequence[dict]) -> dict:
    """Whether the gap between the hard paste and the control is resolved at all: it must
    exceed the control's own fold-to-fold spread (``seam_accuracy_std``), else the gap-closure
    ratio divides by noise and no verdict is drawn from it."""
    acc = {r["method"]: r.get("seam_accuracy") for r in rows}
    std = {r["method"]: r.get("seam_accuracy_std") for r in rows}
    if acc.get(HARD) is None or acc.get(CONTROL) is None:
        return {"gap": None, "control_std": std.get(CONTROL), "resolved": False}
    gap = float(acc[HARD] - acc[CONTROL])
    cstd = float(std.get(CONTROL) or 0.0)
    return {"gap": gap, "control_std": cstd, "resolved": bool(gap > cstd)}


def resolved_goal_check(rows: Sequence[dict], target: float = 0.5) -> dict[str, dict]:
    """``goal_check`` with no verdict (``meets_goal`` None, ``floor_resolved`` False) where
    ``floor_check`` finds the gap unresolved; the ratio itself is kept as computed."""
    ok = floor_check(rows)["resolved"]
    return {m: {**g, "floor_resolved": ok, "meets_goal": g["meets_goal"] if ok else None}
            for m, g in goal_check(rows, target).items()}


def regroup(fs: FeatureSet, group_of: dict[str, str]) -> FeatureSet:
    """The same features with every patch's group replaced by ``group_of[group]`` (e.g. the
    product id by the donor room it was staged in); unmapped groups stay as they are."""
    return FeatureSet(list(fs.ids), fs.whole, fs.patches,
                      [group_of.get(g, g) for g in fs.patch_groups])


def regrouped_rows(gen: dict[str, FeatureSet], group_of: dict[str, str], real: FeatureSet,
                   control_row: dict, keep: Sequence[str] = (), folds: int = 5,
                   seed: int = 0) -> list[dict]:
    """Every generated set against ``real`` with its patches grouped by ``group_of`` (the
    cross-validation then never splits a donor room across a fold; the sets in ``keep`` keep
    their groups), the given control row last (the real side is grouped by room already, so
    its control is unchanged), and each row's ``gap_closed``."""
    rows = []
    for m, g in gen.items():
        rg = g if m in keep else regroup(g, group_of)
        rows.append(seam_row(m, rg.patches, rg.patch_groups, real.patches, real.patch_groups,
                             0, folds, seed))
    rows.append({"method": CONTROL, **{k: control_row.get(k) for k in (
        "seam_accuracy", "seam_accuracy_std", "seam_kid", "n_images", "n_real", "n_patches",
        "n_real_patches")}})
    goals = goal_check(rows)
    for r in rows:
        r["gap_closed"] = goals.get(r["method"], {}).get("gap_closed")
    return rows


def format_grouping_table(diag: dict[str, dict]) -> str:
    """One row per method, per reference (column pair) the seam accuracy ± std and the gap
    closed, with the generated side grouped by donor room; the control row last."""
    refs = list(diag)
    lines = ["| method | " + " | ".join(f"{r}: accuracy ± std | {r}: gap closed" for r in refs)
             + " |", "|" + "---|" * (1 + 2 * len(refs))]
    methods = [r["method"] for r in diag[refs[0]]["rows"]] if refs else []
    for m in methods:
        cells = []
        for ref in refs:
            r = next((x for x in diag[ref]["rows"] if x["method"] == m), {})
            cells.append(f"{_fmt(r.get('seam_accuracy'))} ± {_fmt(r.get('seam_accuracy_std'))}"
                         if r.get("seam_accuracy") is not None else "–")
            cells.append(_fmt(r.get("gap_closed"), 2))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_outline_table(rows: Sequence[dict]) -> str:
    """The markdown table of the outline-referenced seam measure (control row last)."""
    lines = ["| method | seam accuracy ± std | fold seeds mean ± sd | seam KID | gap closed "
             "| n images / real rooms | n patches / real |", "|" + "---|" * 7]
    for r in rows:
        seam = (f"{_fmt(r.get('seam_accuracy'))} ± {_fmt(r.get('seam_accuracy_std'))}"
                if r.get("seam_accuracy") is not None else "–")
        v = r.get("seam_accuracy_cv_seeds") or []
        seeds = f"{np.mean(v):.4f} ± {np.std(v):.4f}" if v else "–"
        lines.append(f"| {r['method']} | {seam} | {seeds} | {_fmt(r.get('seam_kid'))} "
                     f"| {_fmt(r.get('gap_closed'), 2)} | {r.get('n_images', '–')} / "
                     f"{r.get('n_real', '–')} | {r.get('n_patches', '–')} / "
                     f"{r.get('n_real_patches', '–')} |")
    return "\n".join(lines)


def accept_donor(room_hw: tuple[int, int], slot_mask: np.ndarray, product: np.ndarray,
                 alpha: np.ndarray, params: CopyPasteParams, product_box=None,
                 backdrop_bgr=None) -> tuple[Placed | None, str]:
    """The copy-paste job's donor checks (``donor_fit.check``): the placement and an empty
    reason when the donor is acceptable, else None and why not."""
    if slot_mask.shape != tuple(room_hw):
        raise ValueError(f"slot mask {slot_mask.shape} does not match the room {room_hw}")
    fit = donor_fit.check(slot_mask, None, product, alpha, params, product_box=product_box,
                          backdrop_bgr=backdrop_bgr)
    return (None, fit.refusal) if fit.refusal else (fit.placed, "")


@dataclass
class Rendered:
    """One method's output: BGR image, its product mask (uint8, as the job stores it: the
    placed alpha as 8 bit; the seam measure thresholds it at 127) and its scores."""

    image: np.ndarray
    mask: np.ndarray
    scores: dict


def render_paste_methods(room: np.ndarray, slot_mask: np.ndarray, product: np.ndarray,
                         alpha: np.ndarray, inpainters: dict[str, InpaintFn],
                         params: CopyPasteParams, *, placed: Placed | None = None,
                         product_box=None, backdrop_bgr=None,
                         methods: Sequence[str] = (HARD, CP_BASELINE, CP_BOUNDARY, CP_FULL)
                         ) -> dict[str, Rendered]:
    """Hard paste, the copy-paste variants (``PASTE_SPECS``) and the unchanged donor (``DONOR``:
    the room itself, its mask the donor slot) on one donor slot, one placement for all."""
    out: dict[str, Rendered] = {}
    for m in methods:
        if m == DONOR:
            out[m] = Rendered(room.copy(), np.where(slot_mask > 0, 255, 0).astype(np.uint8), {})
            continue
        if m == HARD:
            res = hard_paste(room, slot_mask, product, alpha, product_box=product_box)
        else:
            spec = PASTE_SPECS[m]
            res = stage_copy_paste(
                room, slot_mask, product, alpha, inpainters[spec.inpainter],
                dilate_px=params.dilate_px, crop_size=params.crop_size,
                shadow=ShadowParams() if spec.shadow else None,
                harmonize=HarmonizeParams() if spec.harmonize else None,
                product_box=product_box, backdrop_bgr=backdrop_bgr, placed=placed,
                max_frame_px=params.full_frame_max_px)  # as the nightly job renders
        out[m] = Rendered(res.image, alpha_png(res.product_alpha), dict(res.scores))
    return out


def render_vanilla(product: np.ndarray, alpha: np.ndarray, stager: Callable,
                   segment: Callable[[list[np.ndarray]], list[np.ndarray]]) -> Rendered:
    """Vanilla staging as ``VanillaWorker``: the product on the training canvas -> pix2pix
    scene; preservation against the canvas, object expansion from the segmenter's region.

    :param stager: RGB uint8 list -> N x S x S x 3 RGB (``Pix2PixStager``), ``stager.size``.
    :param segment: BGR list -> probability maps (``Segmenter.predict``).
    """
    canvas, a = canvas_input(product, alpha, stager.size)
    rgb = np.asarray(stager([np.ascontiguousarray(canvas[..., ::-1])])[0])
    scene = np.ascontiguousarray(rgb[..., ::-1])
    prob = segment([scene])[0]
    intended = ((a >= 0.5) * 255).astype(np.uint8)
    region = output_region(prob, intended)
    pmax, pmean = quality.preservation(canvas, a, scene)
    scores = {"preservation_max": pmax, "preservation_mean": pmean,
              "object_expansion": quality.object_expansion(intended, region),
              "outline_growth": quality.outline_growth(intended, region)}
    return Rendered(scene, alpha_png(a), scores)


def features_of(embed, image: np.ndarray, mask: np.ndarray | None, key: str,
                settings: Settings, patch_embed=None) -> tuple[np.ndarray, np.ndarray]:
    """Whole-image features and seam patch features of one image, as ``evaluate.embed_frame``:
    outline patches for a generated image (``mask`` given), strong-edge patches for a real one.
    ``patch_embed`` (default ``embed``) embeds the patches: the nightly job keeps the seam on
    the random features when FD/KID run on Inception."""
    from adstage.evaluation.features import whole_image_features
    from adstage.evaluation.seam import edge_patches, outline_patches

    if mask is not None:
        sp = outline_patches([(key, image, mask)], settings.seam_scale, settings.seam_patch,
                             settings.seam_points_per_image)
    else:
        sp = edge_patches([(key, image)], settings.seam_scale, settings.seam_patch,
                          settings.seam_points_per_image)
    return (whole_image_features(embed, [image], settings.eval_image_size)[0],
            (patch_embed or embed)(sp.patches))


def feature_set(items: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> FeatureSet:
    """``(id, whole (D,), patches (k, D))`` -> ``FeatureSet`` (as ``evaluate._collect``)."""
    if not items:
        return FeatureSet()
    ids = [k for k, _, _ in items]
    whole = np.stack([np.asarray(w, np.float64) for _, w, _ in items])
    # the patches may come from another extractor than the whole images (Inception FD/KID,
    # random-feature seam): their own width
    dim = next((np.asarray(p).shape[-1] for _, _, p in items if np.asarray(p).ndim == 2
                and np.asarray(p).size), whole.shape[1])
    patches = [np.asarray(p, np.float64).reshape(-1, dim) for _, _, p in items]
    groups = [k for k, p in zip(ids, patches) for _ in range(len(p))]
    return FeatureSet(ids, whole, np.concatenate(patches), groups)


def fit_short_side(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Area-resize so the short side is ``side`` (never enlarged); returns the image and the
    factor applied."""
    h, w = image.shape[:2]
    f = min(1.0, side / min(h, w))
    if f >= 1.0:
        return image, 1.0
    return cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))),
                      interpolation=cv2.INTER_AREA), f


def sample_products(records: Sequence[dict], n: int, seed: int,
                    like_only: bool = False) -> list[dict]:
    """A seeded sample of ``n`` products with a pipeline category (``like_only``: one with a
    like slot category, ``donors.product_slot_category``), in a stable order."""
    from adstage.vision.donors import product_slot_category
    from adstage.vision.ikea import category_of

    def keep(r):
        c = category_of(r.get("type", ""))
        return bool(c) and (not like_only or product_slot_category(c) is not None)

    pool = sorted((r for r in records if keep(r)), key=lambda r: r["product_id"])
    if n <= 0 or n >= len(pool):
        return pool
    idx = np.random.default_rng(seed).choice(len(pool), n, replace=False)
    return [pool[i] for i in sorted(idx)]


def zoom_box(mask: np.ndarray, margin: float = 0.75,
             min_side: int = 128) -> tuple[int, int, int, int]:
    """A crop box around a mask's tight box: ``margin`` of its size on every side, at least
    ``min_side`` px a side, inside the frame (the grids zoom on the seam with it)."""
    H, W = mask.shape[:2]
    box = mask_box(mask > 127)
    if box is None:
        return 0, 0, W, H
    x0, y0, x1, y1 = box
    half_w = max((x1 - x0) * (0.5 + margin), min_side / 2)
    half_h = max((y1 - y0) * (0.5 + margin), min_side / 2)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (max(0, int(cx - half_w)), max(0, int(cy - half_h)),
            min(W, int(np.ceil(cx + half_w))), min(H, int(np.ceil(cy + half_h))))


def _tile(img: np.ndarray, h: int, w: int) -> np.ndarray:
    ih, iw = img.shape[:2]
    s = min(h / ih, w / iw)
    small = cv2.resize(img, (max(1, round(iw * s)), max(1, round(ih * s))),
                       interpolation=cv2.INTER_AREA)
    out = np.full((h, w, 3), 32, np.uint8)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


def picture_grid(rows: Sequence[tuple[str, Sequence[np.ndarray | None]]], header: Sequence[str],
                 tile_h: int = 240, tile_w: int = 320) -> np.ndarray:
    """A labelled grid: one row per ``(label, images)``; a None image is a blank tile."""
    def text(img, s, y):
        cv2.putText(img, s, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)

    label_w = 150
    head = np.zeros((28, label_w + tile_w * len(header), 3), np.uint8)
    for i, name in enumerate(header):
        cv2.putText(head, name[:40], (label_w + i * tile_w + 6, 19), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45, (255, 255, 255), 1, cv2.LINE_AA)
    out = [head]
    for label, images in rows:
        lab = np.zeros((tile_h, label_w, 3), np.uint8)
        for j, part in enumerate(label.split("\n")):
            text(lab, part[:22], 20 + 18 * j)
        blank = np.zeros((tile_h, tile_w, 3), np.uint8)
        tiles = [_tile(im, tile_h, tile_w) if im is not None else blank for im in images]
        out.append(np.hstack([lab] + tiles))
    return np.vstack(out)


# ---- the run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunConfig:
    out: str
    products: int = 0          # 0 = every product in a pipeline category
    seed: int = 0
    boundary_experiment: str = ""   # old layout (research/boundary_experiment.py); else:
    generators: str = "/tmp/adstage-train"   # research/generators_ikea_train.sh runs
    inception: str = ""
    ikea_root: str = ""
    room_side: int = 384
    holdout_share: float = 0.2
    grid_rows: int = 6
    cv_seeds: int = 5          # fold seeds of the seam robustness check (0 = off)
    pix2pix_ikea: str = ""     # optional ONNX of a pix2pix trained on IKEA donor rooms
    slots: str = "detector"    # detector (pretrained detectors, like for like) | segmenter
    split: str = "generators"  # generators (ikea.items, 'r' + room_id) | evalsplit (old)
    bootstrap: int = 1000      # bootstrap draws for the 95 % intervals (0 = off)
    outline: bool = True       # the outline-referenced and donor-room diagnostics
    shipped_pair: bool = False  # G1 + boundary G2 = the shipped files; only baseline is trained

    @property
    def generator_dir(self) -> str:
        return self.boundary_experiment or self.generators

    @property
    def generator_runs(self) -> dict[str, str]:
        if self.boundary_experiment:
            return BOUNDARY_RUNS
        return {"baseline": "baseline"} if self.shipped_pair else GENERATOR_RUNS

    def generator_command(self) -> str:
        return (BOUNDARY_COMMAND if self.boundary_experiment else GENERATORS_COMMAND).format(
            dir=self.generator_dir)


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _missing_experiment(d: Path, runs: dict[str, str] = BOUNDARY_RUNS) -> list[str]:
    return [str(d / run / "checkpoint.pt") for run in runs.values()
            if not (d / run / "checkpoint.pt").is_file()]


def export_generators(boundary_dir: Path, out: Path,
                      runs: dict[str, str] = BOUNDARY_RUNS) -> dict[str, dict]:
    """Export G1 (shared) and the two G2s (``runs``: key -> run folder under ``boundary_dir``)
    to ONNX under ``out`` (skipped when the ONNX is newer than its checkpoint). Returns per
    model: path, sha256, checkpoint step, boundary weight, Canny sigma, training data, and
    whether the export is byte-identical to the shipped ONNX of its role."""
    from adstage.generative import checkpoint as ckpt
    from adstage.generative import publish
    from adstage.registry import MODELS_DIR

    models = {}
    for key, run in runs.items():
        ck = boundary_dir / run / "checkpoint.pt"
        stem = "edgeconnect_edge" if key == "edge" else "edgeconnect_inpaint"
        dest = out / "models" / key / f"{stem}.onnx"
        if not dest.is_file() or dest.stat().st_mtime < ck.stat().st_mtime:
            log.info("exporting %s (%s) -> %s", run, ck, dest)
            publish.export_checkpoint(ck, [stem], dest.parent, training={
                "data": "IKEA rooms (research.boundary_experiment)",
                "checkpoint": str(ck)})
        blob = ckpt.load(ck)
        cfg = blob["config"]
        models[key] = {"path": str(dest), "sha256": _sha(dest), "checkpoint": str(ck),
                       "run": run, "steps": int(blob["step"]), "mask_kind": cfg.get("mask_kind"),
                       "boundary_weight": cfg.get("boundary_weight"),
                       "boundary_band": cfg.get("boundary_band"),
                       "canny_sigma": float((blob["preprocessing"].get("canny") or {})
                                            .get("sigma", 2.0)),
                       "size": cfg.get("size"), "load_short_side": cfg.get("load_short_side"),
                       "holdout_rooms": cfg.get("holdout_rooms"),
                       "holdout_share": cfg.get("holdout_share"), "data": cfg.get("data"),
                       "architecture": blob["arch"].get("inpaint_generator" if key != "edge"
                                                        else "edge_generator")}
        shipped = MODELS_DIR / "generative" / f"{stem}.onnx"
        models[key]["same_as_shipped"] = shipped.is_file() and _sha(shipped) == models[key]["sha256"]
    return models


# The shipped pair IS the IKEA G1 + boundary G2 of generators_ikea_train.sh (their cards name
# the runs; docs/generators-ikea.md: byte-identical to the evaluated export), so the table
# needs only the baseline G2 trained again (same seed, init and batch stream: paired).
SHIPPED_PAIR = {"edge": "edgeconnect_edge", "boundary": "edgeconnect_inpaint"}


def shipped_generators(card_keys=("steps", "boundary_weight", "boundary_band", "size",
                                  "load_short_side", "holdout_share", "holdout_rooms",
                                  "data", "mask_kind")) -> dict[str, dict]:
    """The shipped G1 and boundary G2 described as ``export_generators`` describes an export."""
    from adstage.registry import MODELS_DIR

    models = {}
    for key, stem in SHIPPED_PAIR.items():
        path = MODELS_DIR / "generative" / f"{stem}.onnx"
        card = json.loads(path.with_suffix(".card.json").read_text())
        train = card.get("training") or {}
        conf = {**(train.get("config") or {}), **{k: train[k] for k in ("step", "steps")
                                                   if k in train}}
        models[key] = {"path": str(path), "sha256": _sha(path), "checkpoint": None,
                       "run": f"shipped {stem}", "same_as_shipped": True,
                       "canny_sigma": float(card.get("canny_sigma", 2.0)),
                       "architecture": card.get("architecture"),
                       **{k: conf.get(k) for k in card_keys}}
    return models


PIX2PIX_IKEA_PAIRS = 1200   # composites drawn once (train_pix2pix's default is 400)


def train_pix2pix_ikea(root: Path, donor_rooms: Sequence[dict], out: Path, steps: int,
                       seed: int = 0) -> Path:
    """Train a small pix2pix on the IKEA DONOR rooms only (``train_pix2pix`` with
    ``data="ikea"``) and export it; returns the ONNX path. Skipped when done, resumed when
    interrupted.

    ``train_pix2pix`` reads ``<data_root>/rooms/*.jpg`` and ``products/*.jpg`` and holds rooms
    back by its own seeded split; to keep every held-apart evaluation room out of training, the
    data root is a folder of symbolic links (under ``out``, never in the repository, no pixel
    copied) to the donor rooms and to all product photos, with ``holdout_rooms=0``.
    """
    from adstage.generative import checkpoint as ckpt
    from adstage.generative import publish
    from adstage.generative.train_pix2pix import Pix2PixTrainConfig, train

    data = out / "pix2pix_ikea" / "data"
    for sub, paths in (("rooms", [root / r["image"] for r in donor_rooms]),
                       ("products", sorted((root / "products").glob("*.jpg")))):
        (data / sub).mkdir(parents=True, exist_ok=True)
        for p in paths:
            link = data / sub / p.name
            if not link.is_symlink():
                link.symlink_to(p.resolve())
    run_dir = out / "pix2pix_ikea" / "run"
    ck = run_dir / "checkpoint.pt"
    done = ck.is_file() and int(ckpt.load(ck)["step"]) >= steps
    onnx_dir = out / "models" / "pix2pix_ikea"
    if not done:
        cfg = Pix2PixTrainConfig(data="ikea", data_root=str(data), holdout_rooms=0, steps=steps,
                                 ikea_pairs=PIX2PIX_IKEA_PAIRS, batch_size=4, seed=seed,
                                 threads=1, out_dir=str(run_dir),
                                 resume=str(ck) if ck.is_file() else "",
                                 sample_every=max(1, steps // 4), checkpoint_every=100)
        log.info("training pix2pix on %d IKEA donor rooms x %d composites for %d steps "
                 "(~0.1 s/step on one core) -> %s", len(donor_rooms), PIX2PIX_IKEA_PAIRS, steps,
                 run_dir)
        train(cfg)
    else:
        log.info("pix2pix on IKEA donor rooms: %s already at %d steps, not retrained", ck, steps)
    onnx = onnx_dir / "pix2pix.onnx"
    if not onnx.is_file() or onnx.stat().st_mtime < ck.stat().st_mtime:
        summary = run_dir / "summary.json"
        extra = json.loads(summary.read_text()) if summary.is_file() else {}
        publish.export_checkpoint(ck, ["pix2pix"], onnx_dir, {
            "data": f"IKEA donor rooms ({len(donor_rooms)}; held-apart rooms excluded) x IKEA "
                    f"product composites (train_pix2pix data=ikea)",
            **{k: extra[k] for k in ("train_seconds", "threads") if k in extra}})
    return onnx


def product_slot(category: str | None) -> str | None:
    from adstage.vision.donors import product_slot_category

    return product_slot_category(category)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _encode_png(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", mask)
    if not ok:
        raise ValueError("could not encode mask")
    return buf.tobytes()


def donor_slots(rooms: Sequence[dict], root: Path, room_side: int, segmenter,
                cache: Path) -> list[dict]:
    """Usable slots of the donor rooms at the working resolution (cached)."""
    from adstage.vision.slots import SlotParams, find_slots

    if cache.is_file():
        slots = safecache.load(cache)
        log.info("donor slots: %d usable (cached %s)", len(slots), cache)
        return slots
    params, slots, t0 = SlotParams(), [], time.monotonic()
    flags: dict[str, int] = {}
    found = 0
    for n, rec in enumerate(rooms, 1):
        native = cv2.imread(str(root / rec["image"]))
        if native is None:
            log.warning("room %s unreadable, skipped", rec["room_id"])
            continue
        img, f = fit_short_side(native, room_side)
        prob = segmenter.predict([img])[0]
        for i, s in enumerate(find_slots(prob, img.shape[:2], params, bgr=img)):
            found += 1
            for fl in s.flags:
                flags[fl] = flags.get(fl, 0) + 1
            if not s.usable:
                continue
            slots.append(_slot_record(rec, i, s, f))
        if n % 20 == 0:
            log.info("donor slots: %d/%d rooms, %d usable slots so far (%.0fs)", n, len(rooms),
                     len(slots), time.monotonic() - t0)
    log.info("donor slots: %d rooms -> %d slots found, %d usable in %d rooms; refused: %s (%.0fs)",
             len(rooms), found, len(slots), len({s["image_id"] for s in slots}), flags,
             time.monotonic() - t0)
    cache.parent.mkdir(parents=True, exist_ok=True)
    safecache.dump(slots, cache)
    return slots


def _slot_record(rec: dict, i: int, s, f: float, **extra) -> dict:
    """One usable slot of room ``rec`` in ``donor_slots``' format (``f``: working / native
    scale; the pairing's upscale check sees the photo's native pixels)."""
    from adstage.vision import shape

    d = shape.describe(s.mask)
    return {"slot_id": f"{rec['room_id']}#{i}", "image_id": rec["room_id"],
            "image": rec["image"], "mask_png": _encode_png(s.mask),
            "box": [int(v) for v in s.box], "box_native": [int(round(v / f)) for v in s.box],
            "area_frac": s.area_frac, "quality": s.quality, **extra,
            "vector": d.vector, "aspect": d.aspect, "fill": d.fill}


def detector_slot_finder(settings: Settings):
    """The nightly cutouts stage's detector slot finder (``cutouts.slot_finder``: the models of
    ``settings.detector_models`` + ``salient_model`` through the model catalog), one thread."""
    from adstage.vision import cutouts

    return cutouts.slot_finder(settings, cutouts.slot_models(settings))


def find_detector_slots(img: np.ndarray, finder) -> list:
    """Every ``donors.DonorSlot`` of one photo, as ``DetectorSlots.rows`` makes them."""
    from adstage.vision.donors import donor_slots as detect_slots

    dets = [d for det in finder.detectors for d in det.detect(img, min_score=finder.params.min_score)]
    return detect_slots(img, dets, finder.masker.mask, finder.params)


def detector_donor_slots(rooms: Sequence[dict], root: Path, room_side: int, finder,
                         cache: Path) -> list[dict]:
    """Usable detector slots (one per piece of furniture, with its category) of the donor
    rooms at the working resolution, in ``donor_slots``' format (cached)."""
    if cache.is_file():
        slots = safecache.load(cache)
        log.info("donor slots (detector): %d usable (cached %s)", len(slots), cache)
        return slots
    slots, flags, found, t0 = [], {}, 0, time.monotonic()
    for n, rec in enumerate(rooms, 1):
        native = cv2.imread(str(root / rec["image"]))
        if native is None:
            log.warning("room %s unreadable, skipped", rec["room_id"])
            continue
        img, f = fit_short_side(native, room_side)
        for i, s in enumerate(find_detector_slots(img, finder)):
            found += 1
            for fl in s.flags:
                flags[fl] = flags.get(fl, 0) + 1
            if not s.usable or s.mask is None:
                continue
            slots.append(_slot_record(rec, i, s, f, category=s.category, label=s.label,
                                      score=s.score))
        if n % 20 == 0:
            log.info("donor slots: %d/%d rooms, %d usable so far (%.0fs)", n, len(rooms),
                     len(slots), time.monotonic() - t0)
    by_cat: dict[str, int] = {}
    for sl in slots:
        by_cat[sl["category"]] = by_cat.get(sl["category"], 0) + 1
    log.info("donor slots (detector): %d rooms -> %d detections, %d usable in %d rooms %s; "
             "flags %s (%.0fs)", len(rooms), found, len(slots),
             len({s["image_id"] for s in slots}), by_cat, flags, time.monotonic() - t0)
    cache.parent.mkdir(parents=True, exist_ok=True)
    safecache.dump(slots, cache)
    return slots


def shape_index(slots: Sequence[dict], settings: Settings):
    """One ``LoadedIndex`` per slot category (as ``shape_index.run`` keys them); slots without
    a category (the segmenter's) share the key ``_unknown``."""
    import pandas as pd

    from adstage.vision import shape_index as si
    from adstage.vision.pair_donors import LoadedIndex

    out = {}
    for key in sorted({s.get("category") or si.UNKNOWN for s in slots}):
        part = [s for s in slots if (s.get("category") or si.UNKNOWN) == key]
        vectors = np.stack([s["vector"] for s in part]).astype(np.float32)
        itype = si.index_type_for(len(part), settings.shape_index_exact_max)
        members = pd.DataFrame([{"slot_id": s["slot_id"], "image_id": s["image_id"],
                                 "product_id": None, "category": s.get("category"),
                                 "aspect": s["aspect"], "fill": s["fill"],
                                 "box": s["box_native"], "quality": s["quality"]} for s in part])
        out[key] = LoadedIndex(key, f"{key}@ikea-{itype}", si.build(vectors, itype), members)
    return out


class Comparison:
    """Holds the models and caches of one run; ``render()`` then ``metrics()``."""

    def __init__(self, cfg: RunConfig):
        import torch

        from adstage import registry
        from adstage.evaluation.features import embedder
        from adstage.vision import ikea

        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.root = Path(cfg.ikea_root) if cfg.ikea_root else ikea.DEFAULT_ROOT
        if not (self.root / "rooms.jsonl").is_file():
            raise SystemExit(f"IKEA research set not found at {self.root} (set --ikea-root or "
                             f"ADSTAGE_IKEA_ROOT)")
        if cfg.slots not in SLOT_SOURCES or cfg.split not in SPLITS:
            raise SystemExit(f"--slots one of {SLOT_SOURCES}, --split one of {sorted(SPLITS)}")
        bdir = Path(cfg.generator_dir)
        missing = _missing_experiment(bdir, cfg.generator_runs)
        if missing:
            raise SystemExit(
                "the generators' checkpoints are missing:\n  " + "\n  ".join(missing)
                + "\nrun them first (about 60 min on 2 CPU cores):\n  "
                + cfg.generator_command()
                + "\nor point --generators (or --boundary-experiment) at their folder")
        self.settings = Settings()
        self.params = CopyPasteParams()
        self.embed = embedder(cfg.inception)
        # FD/KID on the given extractor; the seam on the random features, as the nightly job
        self.patch_embed = embedder("") if self.embed.native_size else self.embed
        self.seg_model = registry.shipped("segmenter", "segmenter.onnx")
        self.p2p_model = registry.shipped("generative", "pix2pix.onnx")
        self.p2p_ikea = None
        if cfg.pix2pix_ikea:
            path = Path(cfg.pix2pix_ikea)
            card = path.with_suffix(".card.json")
            self.p2p_ikea = registry.ResolvedModel(
                VANILLA_IKEA, path.read_bytes(), f"file-{_sha(path)[:12]}", str(path),
                json.loads(card.read_text()) if card.is_file() else {})
        self.methods = METHODS + ((VANILLA_IKEA,) if self.p2p_ikea else ()) + REFERENCES
        self.out.mkdir(parents=True, exist_ok=True)
        self.models = {**(shipped_generators() if cfg.shipped_pair else {}),
                       **export_generators(bdir, self.out, cfg.generator_runs)}
        self.rooms = _read_jsonl(self.root / "rooms.jsonl")
        held = self.held_apart
        self.real_rooms = [r for r in self.rooms if held(r)]
        self.donor_rooms = [r for r in self.rooms if not held(r)]
        s = self.settings
        self.fingerprint_doc = {
            "extractor": self.embed.name, "eval_image_size": s.eval_image_size,
            **({} if cfg.slots == "segmenter" and cfg.split == "evalsplit" else {
                "seam_extractor": self.patch_embed.name, "slots": cfg.slots, "split": cfg.split,
                "detectors": list(s.detector_models), "salient": s.salient_model,
                "detector_min_score": s.detector_min_score, "mask": s.slot_mask_method,
                "like_only": cfg.slots == "detector", "diversity": s.pairing_diversity,
                "accept": "fit+gap+size"}),
            "seam": [s.seam_scale, s.seam_patch, s.seam_points_per_image],
            "room_side": cfg.room_side, "holdout_share": cfg.holdout_share,
            "copy_paste": asdict(self.params), "shadow": asdict(ShadowParams()),
            "harmonize": asdict(HarmonizeParams()),
            "pairing": [s.pairing_top_k, s.pairing_max_aspect_log_ratio,
                        s.pairing_min_similarity, s.pairing_max_upscale],
            "models": {k: v["sha256"] for k, v in self.models.items()},
            "segmenter": self.seg_model.version, "pix2pix": self.p2p_model.version,
            "pix2pix_ikea": self.p2p_ikea.version if self.p2p_ikea else None}
        fp = hashlib.sha256(json.dumps(self.fingerprint_doc, sort_keys=True, default=str)
                            .encode()).hexdigest()[:12]
        self.cache = self.out / "cache" / fp
        (self.cache / "products").mkdir(parents=True, exist_ok=True)
        (self.cache / "fingerprint.json").write_text(json.dumps(self.fingerprint_doc, indent=1,
                                                                default=str))
        log.info("IKEA comparison: %d rooms (%d donors, %d held apart as the real set), "
                 "extractor %s, cache %s", len(self.rooms), len(self.donor_rooms),
                 len(self.real_rooms), self.embed.name, self.cache)
        self._sessions = None
        self._finder = None

    def held_apart(self, room: dict) -> bool:
        """A real reference room (never a donor) under ``cfg.split``."""
        from adstage.vision import ikea

        if self.cfg.split == "generators":
            return ikea.holdout("r" + room["room_id"], self.cfg.holdout_share)
        return is_holdout(room["room_id"], self.cfg.holdout_share)

    def finder(self):
        if self._finder is None:
            self._finder = detector_slot_finder(self.settings)
        return self._finder

    # -- models
    def sessions(self):
        if self._sessions is None:
            from adstage.generative.inference import EdgeConnectInpainter, Pix2PixStager, session
            from adstage.onnx_runtime import session_from_bytes
            from adstage.staging.composite import opencv_inpainter, rgb_inpainter
            from adstage.vision.slots import Segmenter

            m = self.models
            edge = session(m["edge"]["path"], "cpu", 1)
            inpainters = {k: rgb_inpainter(EdgeConnectInpainter(
                edge, session(m[k]["path"], "cpu", 1), sigma=m[k]["canny_sigma"]))
                for k in ("baseline", "boundary")}
            inpainters["telea"] = opencv_inpainter()
            stagers = {}
            for name, model in ((VANILLA, self.p2p_model), (VANILLA_IKEA, self.p2p_ikea)):
                if model is not None:
                    size = int((model.card or {}).get("resolution") or 128)
                    stagers[name] = Pix2PixStager(session_from_bytes(model.data, "cpu"), size)
            seg = Segmenter(session_from_bytes(self.seg_model.data, "cpu"))
            self._sessions = (inpainters, stagers, seg)
        return self._sessions

    def products(self) -> list[dict]:
        return sample_products(_read_jsonl(self.root / "products.jsonl"), self.cfg.products,
                               self.cfg.seed, like_only=self.cfg.slots == "detector")

    # -- phase 1+2: render and embed
    def render(self) -> dict:
        from adstage.vision import shape
        from adstage.vision.backdrop_cutout import cut_out
        from adstage.vision.ikea import category_of
        from adstage.vision.pair_donors import PairingParams, Query, pair

        inpainters, stagers, seg = self.sessions()
        s = self.settings
        if self.cfg.slots == "detector":
            slots = detector_donor_slots(self.donor_rooms, self.root, self.cfg.room_side,
                                         self.finder(), self.cache / "slots_detector.npz")
        else:
            slots = donor_slots(self.donor_rooms, self.root, self.cfg.room_side, seg,
                                self.cache / "slots.npz")
        if not slots:
            raise SystemExit("no usable donor slot in the donor rooms: nothing to stage")
        by_id = {sl["slot_id"]: sl for sl in slots}
        indexes = shape_index(slots, s)
        # like for like with the detector slots (the pairing stage's default); the segmenter's
        # slots have no category, so shape alone decides there
        like = self.cfg.slots == "detector"
        pparams = PairingParams(s.pairing_top_k, s.pairing_max_aspect_log_ratio,
                                s.pairing_min_similarity, s.pairing_max_upscale,
                                like_only=like, diversity=s.pairing_diversity if like else 0.0)
        products = self.products()
        log.info("products: %d sampled (seed %d) of those in a pipeline category",
                 len(products), self.cfg.seed)
        rooms: dict[str, np.ndarray] = {}
        t0, done, cached = time.monotonic(), 0, 0
        for n, rec in enumerate(products, 1):
            pid = rec["product_id"]
            meta_path = self.cache / "products" / f"{pid}.json"
            if meta_path.is_file():
                cached += 1
                continue
            meta: dict = {"product_id": pid, "category": category_of(rec.get("type", "")),
                          "type": rec.get("type"), "image": rec["image"]}
            started = time.monotonic()
            feats: dict[str, np.ndarray] = {}
            try:
                product = cv2.imread(str(self.root / rec["image"]))
                if product is None:
                    raise ValueError("unreadable product photo")
                c = cut_out(product)
                if not c.ok:
                    meta["reason"] = f"no_usable_cutout: {c.flags}"
                else:
                    d = shape.describe(c.mask)
                    ranked = pair(Query(pid, meta["category"], pid, d.vector, d.aspect, c.box),
                                  indexes, pparams)
                    if ranked and ranked[0].get("reason"):
                        meta["reason"] = f"{ranked[0]['reason']}: {ranked[0].get('detail')}"
                    else:
                        meta.update(self._stage_one(pid, product, c, ranked, by_id, rooms,
                                                    inpainters, stagers, seg, feats))
            except Exception as exc:  # one product never stops the run
                log.exception("product %s failed", pid)
                meta["reason"] = f"internal_error: {type(exc).__name__}: {exc}"
            meta["seconds"] = round(time.monotonic() - started, 3)
            if feats:
                np.savez_compressed(self.cache / "products" / f"{pid}.npz", **feats)
            meta_path.write_text(json.dumps(meta, default=float))
            done += 1
            if n % 10 == 0 or n == len(products):
                el = time.monotonic() - t0
                eta = el / max(done, 1) * (len(products) - n)
                log.info("staging: %d/%d products (%d from cache), %.0fs elapsed, ETA %.0fs",
                         n, len(products), cached, el, eta)
        return {"products": [r["product_id"] for r in products], "slots": len(slots),
                "donor_rooms_with_slot": len({sl["image_id"] for sl in slots})}

    def _stage_one(self, pid, product, c, ranked, by_id, rooms, inpainters, stagers, seg,
                   feats) -> dict:
        refusals = []
        for donor in ranked:
            sl = by_id[donor["slot_id"]]
            room = rooms.get(sl["image_id"])
            if room is None:
                photo = cv2.imread(str(self.root / sl["image"]))
                room = fit_short_side(photo, self.cfg.room_side)[0]
                rooms[sl["image_id"]] = room
            slot_mask = cv2.imdecode(np.frombuffer(sl["mask_png"], np.uint8), cv2.IMREAD_GRAYSCALE)
            placed, why = accept_donor(room.shape[:2], slot_mask, product, c.alpha, self.params,
                                       product_box=c.box, backdrop_bgr=c.background_bgr)
            if placed is None:
                refusals.append(f"#{donor['rank']} {donor['slot_id']}: {why}")
                continue
            renders = render_paste_methods(
                room, slot_mask, product, c.alpha, inpainters, self.params, placed=placed,
                product_box=c.box, backdrop_bgr=c.background_bgr,
                methods=[m for m in self.methods if m in PASTE_SPECS or m in (HARD, DONOR)])
            for name, stager in stagers.items():
                renders[name] = render_vanilla(product, c.alpha, stager, seg.predict)
            folder = self.out / "renders" / pid.replace("/", "_")
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / "slot.png"), slot_mask)
            scores = {}
            for m, r in renders.items():
                w, p = features_of(self.embed, r.image, r.mask, pid, self.settings,
                                   self.patch_embed)
                feats[f"{m}__whole"], feats[f"{m}__patches"] = w, p
                cv2.imwrite(str(folder / f"{m}.jpg"), r.image, [cv2.IMWRITE_JPEG_QUALITY, 88])
                scores[m] = {k: float(v) for k, v in r.scores.items()}
            return {"donor": {k: donor.get(k) for k in ("rank", "slot_id", "donor_image_id",
                                                         "similarity", "score", "match",
                                                         "aspect_log_ratio", "upscale")},
                    "donor_image": sl["image"], "attempts": len(refusals) + 1,
                    "slot_category": sl.get("category"), "slot_label": sl.get("label"),
                    "refusals": refusals, "scores": scores}
        return {"reason": "no_acceptable_donor: " + "; ".join(refusals)}

    def real_features(self) -> FeatureSet:
        path = self.cache / "real.npz"
        if path.is_file():
            return safecache.load(path, (FeatureSet,))
        items, t0 = [], time.monotonic()
        for rec in self.real_rooms:
            img = cv2.imread(str(self.root / rec["image"]))
            if img is None:
                log.warning("real room %s unreadable: left out", rec["room_id"])
                continue
            w, p = features_of(self.embed, img, None, rec["room_id"], self.settings,
                               self.patch_embed)
            items.append((rec["room_id"], w, p))
        fs = feature_set(items)
        log.info("real set: %d held-apart rooms, %d edge patches (%.0fs)", len(fs.ids),
                 len(fs.patch_groups), time.monotonic() - t0)
        safecache.dump(fs, path)
        return fs

    # -- the outline-referenced seam measure's real side
    def real_room_slots(self) -> dict[str, list[dict]]:
        """Every slot ``find_slots`` reports in each held-apart room, usable or not, found as
        for the donor rooms (shipped segmenter, ``SlotParams()``, rooms at ``--room-side``);
        cached. Room id -> [{mask_png, usable, flags, area_frac, quality}]."""
        from adstage.onnx_runtime import session_from_bytes
        from adstage.vision.slots import Segmenter, SlotParams, find_slots

        path = self.cache / "real_slots.npz"
        if path.is_file():
            return safecache.load(path)
        detector = self.cfg.slots == "detector"
        seg = None if detector else Segmenter(session_from_bytes(self.seg_model.data, "cpu"))
        out, t0 = {}, time.monotonic()
        for rec in self.real_rooms:
            native = cv2.imread(str(self.root / rec["image"]))
            if native is None:
                log.warning("real room %s unreadable: left out", rec["room_id"])
                continue
            img = fit_short_side(native, self.cfg.room_side)[0]
            found = (find_detector_slots(img, self.finder()) if detector else
                     find_slots(seg.predict([img])[0], img.shape[:2], SlotParams(), bgr=img))
            out[rec["room_id"]] = [
                {"mask_png": _encode_png(s.mask), "usable": bool(s.usable), "flags": list(s.flags),
                 "area_frac": float(s.area_frac), "quality": float(s.quality)}
                for s in found if s.mask is not None]
        log.info("held-apart rooms: %d slots found in %d rooms, %d usable in %d rooms (%.0fs)",
                 sum(map(len, out.values())), len(out),
                 sum(s["usable"] for v in out.values() for s in v),
                 sum(any(s["usable"] for s in v) for v in out.values()), time.monotonic() - t0)
        safecache.dump(out, path)
        return out

    def real_outline_features(self, kind: str) -> tuple[FeatureSet, dict]:
        """Outline patches of real products in the held-apart rooms (the ``kind`` of slots,
        ``OUTLINE_PICK`` across a room's slots), embedded exactly as the outputs' outline patches
        (``features_of``: same scale, patch size, points per image; group = room id); cached.
        Returns the feature set and a description of what it holds."""
        path = self.cache / f"real_outline_{kind}.npz"
        if path.is_file():
            return safecache.load(path, (FeatureSet,))
        by_room = {r["room_id"]: r for r in self.real_rooms}
        items, slots_used, areas, t0 = [], {}, [], time.monotonic()
        for room_id, slots in self.real_room_slots().items():
            chosen = select_slots(slots, kind)
            masks = [cv2.imdecode(np.frombuffer(s["mask_png"], np.uint8), cv2.IMREAD_GRAYSCALE)
                     for s in chosen]
            mask = reference_outline_mask(masks)
            if mask is None:
                continue
            img = fit_short_side(cv2.imread(str(self.root / by_room[room_id]["image"])),
                                 self.cfg.room_side)[0]
            w, p = features_of(self.embed, img, mask, room_id, self.settings, self.patch_embed)
            if len(p) == 0:
                continue
            items.append((room_id, w, p))
            slots_used[room_id] = len(chosen)
            areas += [s["area_frac"] for s in chosen]
        fs = feature_set(items)
        refs = DETECTOR_OUTLINE_REFERENCES if self.cfg.slots == "detector" else OUTLINE_REFERENCES
        meta = {"kind": kind, "description": refs[kind], "pick": OUTLINE_PICK,
                "real_rooms": len(self.real_rooms), "rooms_with_outline": len(fs.ids),
                "slots": int(sum(slots_used.values())),
                "rooms_with_several_slots": int(sum(v > 1 for v in slots_used.values())),
                "slot_area_frac_median": float(np.median(areas)) if areas else None,
                "slot_area_frac_range": [float(min(areas)), float(max(areas))] if areas else None,
                "patches": len(fs.patch_groups)}
        log.info("real outlines (%s): %s (%.0fs)", kind, meta, time.monotonic() - t0)
        safecache.dump((fs, meta), path)
        return fs, meta

    def outline_referenced(self, kind: str, gen: dict[str, FeatureSet],
                           real_edges: FeatureSet) -> dict:
        """The outline-referenced seam table for one kind of real outline, its goal check, and
        the same rooms' real outline patches against their own strong-edge patches."""
        ref, meta = self.real_outline_features(kind)
        rows = outline_rows(gen, ref, self.cfg.cv_seeds)
        edges = real_edges.subset(set(ref.ids))
        # one room id on both sides is one group: the classifier must tell a room's outline
        # patches from its own strong-edge patches, never recognise the room
        ove = seam_row(OUTLINE_VS_EDGE, ref.patches, ref.patch_groups, edges.patches,
                       edges.patch_groups, self.cfg.cv_seeds)
        for r in rows + [ove]:
            log.info("outline-referenced (%s) %s: acc %s ± %s, kid %s, gap closed %s%s", kind,
                     r["method"], _fmt(r["seam_accuracy"]), _fmt(r["seam_accuracy_std"]),
                     _fmt(r["seam_kid"]), _fmt(r.get("gap_closed"), 2),
                     f" ({r['detail']})" if r["detail"] else "")
        return {"real": meta, "rows": rows, "floor": floor_check(rows),
                "goal_check": resolved_goal_check(rows), "outline_vs_edge": ove}

    def donor_room_grouping(self, gen: dict[str, FeatureSet], staged: Sequence[dict],
                            real_edges: FeatureSet, edge_control: dict,
                            outline: dict[str, dict]) -> dict[str, dict]:
        """Diagnostic: the seam test with the generated side grouped by DONOR ROOM instead of
        product. The 270 outputs come from ~20 donor rooms, so with product groups the same
        room (for ``donor_unchanged`` the very same patches) sits on both sides of a fold and
        the classifier can recognise the room. Against the edge and both outline references;
        goal checks against the unchanged controls. Vanilla outputs use no donor room: they
        keep their product groups (their rows equal the product-grouped ones)."""
        donor_room = {m["product_id"]: m["donor"]["donor_image_id"] for m in staged}
        refs = {"edge": (real_edges, edge_control)}
        for kind, o in outline.items():
            refs[f"outline_{kind}"] = (self.real_outline_features(kind)[0], o["rows"][-1])
        out = {}
        for name, (ref, ctrl) in refs.items():
            rows = regrouped_rows(gen, donor_room, ref, ctrl, keep=(VANILLA, VANILLA_IKEA))
            out[name] = {"rows": rows, "floor": floor_check(rows),
                         "goal_check": resolved_goal_check(rows)}
            log.info("grouped by donor room, %s: %s", name,
                     {r["method"]: _fmt(r["seam_accuracy"]) for r in rows})
        return out

    # -- phase 3: metrics, tables, grids
    def metrics(self, product_ids: Sequence[str] | None = None) -> dict:
        if product_ids is None:
            product_ids = [r["product_id"] for r in self.products()]
        metas, per_method = [], {m: [] for m in self.methods}
        funnel = {"sampled": len(product_ids), "not_rendered_yet": 0}
        for pid in product_ids:
            mp = self.cache / "products" / f"{pid}.json"
            if not mp.is_file():
                funnel["not_rendered_yet"] += 1
                continue
            meta = json.loads(mp.read_text())
            metas.append(meta)
            if meta.get("reason"):
                key = meta["reason"].split(":")[0]
                funnel[key] = funnel.get(key, 0) + 1
                continue
            with np.load(self.cache / "products" / f"{pid}.npz") as z:
                for m in self.methods:
                    per_method[m].append((pid, z[f"{m}__whole"], z[f"{m}__patches"]))
        staged = [m for m in metas if not m.get("reason")]
        funnel["staged"] = len(staged)
        if len(staged) < 2:
            raise SystemExit(f"only {len(staged)} product(s) staged: too few for any figure "
                             f"(funnel {funnel}); raise --products")
        real = self.real_features()
        rows, per_image = [], {}
        for m in self.methods:
            row, scores = compare(feature_set(per_method[m]), real)
            vals = [meta["scores"][m] for meta in staged]
            row["method"] = m
            if m != DONOR:
                row.update(object_expansion=float(np.mean([v["object_expansion"] for v in vals])),
                           preservation_max=float(np.max([v["preservation_max"] for v in vals])))
            if m in PASTE_SPECS or m == HARD:
                row.update(mean_gap_share=float(np.mean([v["gap_share"] for v in vals])),
                           mean_fit_iou=float(np.mean([v["fit_iou"] for v in vals])))
            rows.append(row)
            per_image[m] = scores
            log.info("%s: %s", m, {k: row.get(k) for k in ("n_images", "fd", "kid", "seam_accuracy",
                                                            "seam_kid", "object_expansion")})
        first, second = control_sets(real)
        crow, _ = compare(first, second)
        crow["method"] = CONTROL
        rows.append(crow)
        # Robustness of the seam accuracy to the cross-validation split (the nightly job uses
        # seed 0 only): the same two-sample test with other fold seeds.
        sets = {m: feature_set(per_method[m]) for m in self.methods}
        sets[CONTROL] = (first, second)
        for r in rows:
            a, b = sets[r["method"]] if r["method"] == CONTROL else (sets[r["method"]], real)
            accs = [two_sample(a.patches, a.patch_groups, b.patches, b.patch_groups, 5, k)[0]
                    for k in range(self.cfg.cv_seeds)]
            r["seam_accuracy_cv_seeds"] = [float(x) for x in accs]
        goals = goal_check(rows)
        for r in rows:
            r["gap_closed"] = goals.get(r["method"], {}).get("gap_closed")
        for r in rows:
            for k, v in list(r.items()):
                if isinstance(v, (np.floating, np.integer)):
                    r[k] = v.item()
        gen_sets = {m: sets[m] for m in self.methods}
        boot, goals_paper = {}, []
        if self.cfg.bootstrap > 0:
            t_boot = time.monotonic()
            boot = bootstrap_figures(gen_sets, real, PAIRED, self.cfg.bootstrap, self.cfg.seed,
                                     control=(first, second))
            goals_paper = paper_goals(boot)
            log.info("bootstrap (%d draws): %.0fs", self.cfg.bootstrap, time.monotonic() - t_boot)
        # the outline-referenced variant (an additional analysis; the rows above are unchanged)
        outline, by_donor_room, t_outline = {}, {}, time.monotonic()
        if self.cfg.outline:
            outline = {kind: self.outline_referenced(kind, gen_sets, real)
                       for kind in OUTLINE_REFERENCES}
            by_donor_room = self.donor_room_grouping(gen_sets, staged, real, crow, outline)
            log.info("outline-referenced measure and donor-room diagnostic: %.0fs",
                     time.monotonic() - t_outline)
        s = self.settings
        ec_holdout = self._edgeconnect_overlap()
        result = {
            "command": "python research/ikea_comparison.py " + " ".join(sys.argv[1:]),
            "config": asdict(self.cfg), "extractor": self.embed.name,
            "seam_extractor": self.patch_embed.name, "slot_summary": self.slot_summary(staged),
            "settings": {"eval_image_size": s.eval_image_size, "seam_scale": s.seam_scale,
                         "seam_patch": s.seam_patch, "seam_points_per_image": s.seam_points_per_image,
                         "copy_paste": asdict(self.params)},
            "split": {"rooms": len(self.rooms), "donor_rooms": len(self.donor_rooms),
                      "real_rooms": len(self.real_rooms), "key": "room_id",
                      "share": self.cfg.holdout_share, **ec_holdout},
            "funnel": funnel,
            "donors_used": len({m["donor"]["slot_id"] for m in staged}),
            "donor_rooms_used": len({m["donor"]["donor_image_id"] for m in staged}),
            "mean_attempts": float(np.mean([m["attempts"] for m in staged])),
            "match": {k: sum(m["donor"]["match"] == k for m in staged)
                      for k in {m["donor"]["match"] for m in staged}},
            "models": {**self.models,
                       "pix2pix": {"version": self.p2p_model.version,
                                   "data": (self.p2p_model.card or {}).get("data"),
                                   "resolution": (self.p2p_model.card or {}).get("resolution")},
                       "pix2pix_ikea": None if self.p2p_ikea is None else {
                           "version": self.p2p_ikea.version, "path": self.p2p_ikea.source,
                           "data": (self.p2p_ikea.card or {}).get("data"),
                           "steps": ((self.p2p_ikea.card or {}).get("training") or {}).get("steps")},
                       "segmenter": {"version": self.seg_model.version}},
            "rows": rows, "goal_check": goals, "bootstrap": boot, "paper_goals": goals_paper,
            "outline_referenced": outline, "by_donor_room": by_donor_room,
            "seconds_per_product": float(np.mean([m["seconds"] for m in staged])),
            "hardware": {"cpu": platform.processor() or platform.machine(), "threads": 1},
        }
        (self.out / "results.json").write_text(json.dumps(result, indent=1, default=float))
        (self.out / "results.md").write_text(self._markdown(result))
        (self.out / "per_image_seam.json").write_text(json.dumps(
            {m: dict(sorted(v.items(), key=lambda kv: -kv[1])) for m, v in per_image.items()},
            indent=0))
        self._grids(staged, per_image.get(CP_FULL, {}))
        log.info("wrote %s, %s and the picture grids", self.out / "results.json",
                 self.out / "results.md")
        return result

    def slot_summary(self, staged: Sequence[dict]) -> dict:
        """Donor slots (from the render phase's cache) and how the staged products used them."""
        name = "slots_detector.npz" if self.cfg.slots == "detector" else "slots.npz"
        slots = safecache.load(self.cache / name) if (self.cache / name).is_file() else []
        count = lambda xs: dict(sorted({x: xs.count(x) for x in set(xs)}.items()))  # noqa: E731
        used = [m["donor"]["slot_id"] for m in staged]
        return {"source": self.cfg.slots, "usable_slots": len(slots),
                "donor_rooms_with_slot": len({s["image_id"] for s in slots}),
                "usable_by_category": count([str(s.get("category")) for s in slots]),
                "staged_by_category": count([str(m.get("category")) for m in staged]),
                "unlike_slot_images": sum(
                    1 for m in staged if m.get("slot_category") is not None
                    and product_slot(m.get("category")) != m.get("slot_category")),
                "distinct_slots_used": len(set(used)),
                "max_slot_uses": max((used.count(u) for u in set(used)), default=0)}

    def _edgeconnect_overlap(self) -> dict:
        """How many held-apart real rooms the EdgeConnect runs trained on (their own split)."""
        from adstage.generative import data as data_mod

        if (self.models["baseline"].get("holdout_share") or 0) > 0:   # ikea_split's runs
            train = data_mod.ikea_split(str(self.root),
                                        self.models["baseline"]["holdout_share"])["train_rooms"]
        else:
            hold = self.models["baseline"].get("holdout_rooms") or 0
            train, _ = data_mod.split_holdout(data_mod.ikea_room_paths(str(self.root)), int(hold))
        names = {Path(p).name for p in train}
        n = sum(Path(r["image"]).name in names for r in self.real_rooms)
        return {"real_rooms_in_edgeconnect_training": n}

    def _markdown(self, res: dict) -> str:
        lines = ["# IKEA staging comparison", "",
                 format_table(res["rows"], res["extractor"], res.get("seam_extractor")), ""]
        if res.get("bootstrap"):
            b = res["bootstrap"]
            lines += [f"## With {int(b['level'] * 100)} % bootstrap intervals ({b['reps']} draws "
                      f"of products and real rooms)", "", format_ci_table(res["rows"], b), "",
                      format_paired(b), "", "Paper goals:", "", format_goals(res["paper_goals"]),
                      "", f"Slots: {res.get('slot_summary')}", ""]
        lines += ["Goal (seam): close at least half of the gap between hard paste and the "
                 "real-vs-real floor: (acc_hard - acc_method) / (acc_hard - acc_control).", ""]
        for m, g in res["goal_check"].items():
            verdict = "n/a" if g["meets_goal"] is None else "meets" if g["meets_goal"] else "misses"
            lines.append(f"- {m}: {_fmt(g['gap_closed'], 2)} ({verdict})")
        lines += ["", "Seam accuracy over cross-validation fold seeds (mean ± sd, min-max):", ""]
        for r in res["rows"]:
            v = r.get("seam_accuracy_cv_seeds") or []
            if v:
                lines.append(f"- {r['method']}: {np.mean(v):.4f} ± {np.std(v):.4f} "
                             f"({min(v):.4f}-{max(v):.4f}, {len(v)} seeds)")
        lines += ["", f"Funnel: {res['funnel']}", f"Split: {res['split']}",
                  f"Donor slots used: {res['donors_used']} in {res['donor_rooms_used']} rooms; "
                  f"mean attempts {res['mean_attempts']:.2f}; match {res['match']}", ""]
        for kind, o in (res.get("outline_referenced") or {}).items():
            meta = o["real"]
            lines += [f"## Outline-referenced seam measure: {kind}", "",
                      f"Real side: outline patches of {meta['description']}; several slots in a "
                      f"room: {meta['pick']} (union). {meta['rooms_with_outline']} of "
                      f"{meta['real_rooms']} held-apart rooms have one ({meta['slots']} slots, "
                      f"{meta['rooms_with_several_slots']} rooms with several), "
                      f"{meta['patches']} patches.", "", format_outline_table(o["rows"]), "",
                      "Goal under this floor:", ""]
            fl = o["floor"]
            lines.append(f"Gap hard paste - control {_fmt(fl['gap'])}, control fold std "
                         f"{_fmt(fl['control_std'])}: floor "
                         f"{'resolved' if fl['resolved'] else 'NOT resolved (no verdict)'}.")
            lines.append("")
            for m, g in o["goal_check"].items():
                verdict = ("n/a" if g["meets_goal"] is None
                           else "meets" if g["meets_goal"] else "misses")
                lines.append(f"- {m}: {_fmt(g['gap_closed'], 2)} ({verdict})")
            ove = o["outline_vs_edge"]
            lines += ["", f"Same rooms, real outline vs real strong-edge patches "
                      f"({OUTLINE_VS_EDGE}): {_fmt(ove['seam_accuracy'])} ± "
                      f"{_fmt(ove['seam_accuracy_std'])}, seam KID {_fmt(ove['seam_kid'])}"
                      + (f" ({ove['detail']})" if ove["detail"] else ""), ""]
        if res.get("by_donor_room"):
            lines += ["## Diagnostic: generated side grouped by donor room", "",
                      "Cross-validation folds grouped by the donor room an output was staged in "
                      "(not by product); real sides and controls unchanged.", "",
                      format_grouping_table(res["by_donor_room"]), ""]
            for ref, d in res["by_donor_room"].items():
                fl = d["floor"]
                verdicts = ", ".join(
                    f"{m} {'n/a' if g['meets_goal'] is None else _verdict(g['meets_goal'])}"
                    for m, g in d["goal_check"].items())
                lines.append(f"- {ref}: gap {_fmt(fl['gap'])}, control std "
                             f"{_fmt(fl['control_std'])}, floor "
                             f"{'resolved' if fl['resolved'] else 'not resolved'}; {verdicts}")
            lines.append("")
        return "\n".join(lines)

    def _grids(self, staged: list[dict], scores: dict[str, float]) -> None:
        ranked = sorted((p for p in scores), key=lambda p: scores[p])
        k = self.cfg.grid_rows
        shown = [m for m in self.methods if m not in REFERENCES]
        header = (["product", "donor room (slot outlined)"]
                  + [f"{m} (zoom)" if m in PASTE_SPECS or m == HARD else m for m in shown])
        by_pid = {m["product_id"]: m for m in staged}
        for name, pids in (("grid_best.jpg", ranked[:k]), ("grid_worst.jpg", ranked[::-1][:k])):
            rows = []
            for pid in pids:
                meta = by_pid[pid]
                folder = self.out / "renders" / pid.replace("/", "_")
                room = cv2.imread(str(folder / f"{DONOR}.jpg"))
                slot = cv2.imread(str(folder / "slot.png"), cv2.IMREAD_GRAYSCALE)
                x0, y0, x1, y1 = zoom_box(slot)
                contours, _ = cv2.findContours((slot > 127).astype(np.uint8),
                                               cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                cv2.drawContours(room, contours, -1, (0, 0, 255), 2)
                cv2.rectangle(room, (x0, y0), (x1 - 1, y1 - 1), (0, 255, 255), 1)
                images = [cv2.imread(str(self.root / meta["image"])), room]
                for m in shown:
                    im = cv2.imread(str(folder / f"{m}.jpg"))
                    zoom = m in PASTE_SPECS or m == HARD
                    images.append(im[y0:y1, x0:x1] if zoom and im is not None else im)
                rows.append((f"{pid}\n{meta['category']}\nseam {scores[pid]:.3f}", images))
            if rows:
                cv2.imwrite(str(self.out / name), picture_grid(rows, header),
                            [cv2.IMWRITE_JPEG_QUALITY, 85])


def main(argv: list[str] | None = None) -> int:
    from adstage import logs

    p = argparse.ArgumentParser(prog="python research/ikea_comparison.py",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder, outside the repository "
                   "(results, picture grids, renders, cache)")
    p.add_argument("--products", type=int, default=RunConfig.products,
                   help="products to sample (those in a pipeline category)")
    p.add_argument("--seed", type=int, default=0, help="product sample seed")
    p.add_argument("--slots", choices=SLOT_SOURCES, default=RunConfig.slots,
                   help="donor slots: detector (pretrained detectors + salient masks, one slot "
                   "per piece with its category, like-for-like pairing; the pipeline's default) "
                   "or segmenter (the old demo-trained segmenter, shape-only pairing)")
    p.add_argument("--split", choices=sorted(SPLITS), default=RunConfig.split,
                   help="held-apart real rooms: generators (the IKEA generators' own split, "
                   "ikea.items, 21 rooms) or evalsplit (the old is_holdout(room_id), 27 rooms)")
    p.add_argument("--generators", default=RunConfig.generators,
                   help="folder holding edge/, baseline/, boundary/ checkpoint.pt "
                   "(research/generators_ikea_train.sh); the boundary pair is the shipped one")
    p.add_argument("--shipped-pair", action="store_true",
                   help="G1 and the boundary G2 are the shipped models/generative files (the "
                   "IKEA runs of generators_ikea_train.sh); --generators needs only baseline/")
    p.add_argument("--boundary-experiment", default=RunConfig.boundary_experiment,
                   help="instead of --generators: the --out folder of the old "
                   "research.boundary_experiment (its run folder names)")
    p.add_argument("--bootstrap", type=int, default=RunConfig.bootstrap,
                   help="bootstrap draws (products and real rooms) for the 95%% intervals")
    p.add_argument("--no-outline", action="store_true",
                   help="skip the outline-referenced measure and the donor-room diagnostic")
    p.add_argument("--inception", default="", help="local ONNX Inception, e.g. the set-up's "
                   "~/.cache/adstage/models/fid/inception_fid.onnx (tools/build_fid.py; docs/"
                   "fid.md); default: the project's adstage-randfeat-v1 features")
    p.add_argument("--ikea-root", default="", help="IKEA research set (default: ikea.DEFAULT_ROOT)")
    p.add_argument("--room-side", type=int, default=RunConfig.room_side,
                   help="short side, px, donor rooms are staged at")
    p.add_argument("--pix2pix-ikea", default="", help="optional ONNX of a pix2pix trained on the "
                   "IKEA donor rooms: adds the row vanilla_ikea")
    p.add_argument("--train-pix2pix", type=int, default=0, metavar="STEPS",
                   help="first train a pix2pix on the IKEA donor rooms for STEPS steps (~0.1 s a "
                   "step on one core; 0 = off) and add it as vanilla_ikea")
    p.add_argument("--cv-seeds", type=int, default=RunConfig.cv_seeds,
                   help="also run the seam test with this many fold seeds (robustness; 0 = off)")
    p.add_argument("--phase", choices=["all", "render", "metrics"], default="all",
                   help="metrics: only recompute the figures from the cache")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logs.setup(args.log_level)
    t0 = time.monotonic()
    if args.train_pix2pix > 0 and not args.pix2pix_ikea:
        from adstage.vision import ikea

        root = Path(args.ikea_root) if args.ikea_root else ikea.DEFAULT_ROOT
        held = ((lambda r: ikea.holdout("r" + r["room_id"], RunConfig.holdout_share))
                if args.split == "generators"
                else (lambda r: is_holdout(r["room_id"], RunConfig.holdout_share)))
        donors = [r for r in _read_jsonl(root / "rooms.jsonl") if not held(r)]
        args.pix2pix_ikea = str(train_pix2pix_ikea(root, donors, Path(args.out),
                                                   args.train_pix2pix, args.seed))
    cfg = RunConfig(out=args.out, products=args.products, seed=args.seed,
                    boundary_experiment=args.boundary_experiment, inception=args.inception,
                    ikea_root=args.ikea_root, room_side=args.room_side,
                    pix2pix_ikea=args.pix2pix_ikea, cv_seeds=args.cv_seeds,
                    generators=args.generators, slots=args.slots, split=args.split,
                    bootstrap=args.bootstrap, outline=not args.no_outline,
                    shipped_pair=args.shipped_pair)
    cmp_ = Comparison(cfg)
    if args.phase in ("all", "render"):
        cmp_.render()
    if args.phase in ("all", "metrics"):
        res = cmp_.metrics()
        print(format_table(res["rows"], res["extractor"], res.get("seam_extractor")))
        if res.get("bootstrap"):
            print("\n" + format_ci_table(res["rows"], res["bootstrap"]) + "\n\n"
                  + format_paired(res["bootstrap"]) + "\n\n" + format_goals(res["paper_goals"]))
        for kind, o in res["outline_referenced"].items():
            print(f"\noutline-referenced ({kind}):\n" + format_outline_table(o["rows"]))
    log.info("done in %.0fs", time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
