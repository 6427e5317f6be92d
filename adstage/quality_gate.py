"""Quality gate: the nightly run fails loudly when a date's output is not fit to publish.

Checks, each with its threshold in ``Settings`` (``gate_*``):

* **accounting** — every unstaged product of the date has a copy-paste image or a recorded
  reason (nothing lost silently);
* **product preserved** — copy-paste never changed an opaque product pixel
  (``preservation_max`` = 0 on every row: the method's guarantee, so any other value is a bug);
* **rejects** — the share of products without a copy-paste image (among those whose
  category has a like slot: a ``no_like_slot`` refusal is by design and counted apart), of
  refused feed rows, and of refused images of accepted rows (two shares: rows and images are not one unit) stay under
  their limits;
* **donor spread** — copy-paste images do not pile onto a handful of donor slots
  (``gate_top_slots`` slots hold at most ``gate_max_top_slots_excess`` more than an even
  spread over each category's usable slots would give them) nor onto slots of
  another category than the product's (``gate_max_unlike_slot_share``);
* **no regression** — the copy-paste Fréchet distance and seam accuracy of the date against the
  median of the previous evaluated dates measured with the same extractor, judged only where
  the date and those past dates each compared enough images for the figures to mean something.

Reads the tables with delta-rs (no Spark) and the date's ingest figures from the ingest job's
MLflow run (feed rows, images, each refused; counted there on the tables as written); records
the verdict on its MLflow run, which ends FAILED on a failed check; exits non-zero with every
failed check listed, which fails the Airflow task (not retried: the checks are deterministic)
and the run.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from adstage.config import Settings
from adstage.report import read_table
from adstage.staging import codes
from adstage.vision.codes import VisionReason
from adstage.vision.donors import product_slot_category

log = logging.getLogger(__name__)


class GateFailed(RuntimeError):
    def __init__(self, ds: str, failures: list[str]):
        self.failures = failures
        super().__init__(f"quality gate failed for {ds}:\n  - " + "\n  - ".join(failures))


@dataclass(frozen=True)
class Evidence:
    """What the checks look at, gathered from the tables (pure data: testable without Delta)."""

    products: set[str]
    staged: pd.DataFrame        # staged_images rows of the date
    rejects: pd.DataFrame       # staging_rejects rows of the date
    ingest_rows: int            # feed rows of the date
    ingest_rows_rejected: int   # of them refused (ingest_rejects, level row)
    ingest_images: int          # images of the accepted rows
    ingest_images_rejected: int  # of them refused (ingest_rejects, level image)
    metrics: pd.DataFrame       # staging_metrics, every date
    slot_categories: dict[str, str | None] | None = None   # donor_slots: slot_id -> category
    usable_slots: dict[str, int] | None = None              # slot category -> distinct usable slots


def check(ds: str, ev: Evidence, s: Settings) -> tuple[list[str], dict[str, float]]:
    """The failed checks (empty = pass) and the figures they were judged on."""
    failures: list[str] = []
    cp = ev.staged[ev.staged["method"] == codes.COPY_PASTE]
    cp_rej = ev.rejects[ev.rejects["method"] == codes.COPY_PASTE]
    figures: dict[str, float] = {"products": len(ev.products), "copy_paste_staged": len(cp)}
    lost = ev.products - set(cp["product_id"]) - set(cp_rej["product_id"])
    if lost:
        failures.append(f"{len(lost)} products have neither a copy-paste image nor a reason: "
                        f"{sorted(lost)[:10]}")
    worst = float(cp["preservation_max"].max()) if len(cp) else 0.0
    figures["preservation_max"] = worst
    if worst > 0:
        failures.append(f"copy-paste changed product pixels (preservation_max {worst:g} > 0)")
    # A product of a category no detector sees (a lamp, a cabinet) is refused by design
    # (no_like_slot): counted apart, not as the method failing.
    detail = cp_rej["detail"] if "detail" in cp_rej else pd.Series("", index=cp_rej.index)
    unlike = set(cp_rej.loc[detail.fillna("").astype(str).str.startswith(
        VisionReason.NO_LIKE_SLOT.value), "product_id"])
    figures["no_like_slot"] = len(unlike)
    stageable = ev.products - unlike
    if stageable:
        share = len(set(cp_rej["product_id"]) - unlike) / len(stageable)
        figures["reject_share"] = round(share, 4)
        if share > s.gate_max_reject_share:
            failures.append(f"{share:.0%} of the products with a like slot category have no "
                            f"copy-paste image (> {s.gate_max_reject_share:.0%})")
    for unit, total, refused in (("feed rows", ev.ingest_rows, ev.ingest_rows_rejected),
                                 ("images", ev.ingest_images, ev.ingest_images_rejected)):
        if not total:
            continue
        share = refused / total
        figures[f"ingest_{unit.split()[-1]}_reject_share"] = round(share, 4)
        if share > s.gate_max_ingest_reject_share:
            failures.append(f"ingest refused {share:.0%} of {unit} ({refused} of {total}; "
                            f"> {s.gate_max_ingest_reject_share:.0%})")
    failures += _donor_spread(cp, ev.slot_categories or {}, ev.usable_slots or {}, s, figures)
    failures += _regressions(ds, ev.metrics, s, figures)
    return failures, figures


def even_top_share(images_per_category: dict, slots_per_category: dict, top: int) -> float:
    """The share of images the ``top`` most used slots would hold if every category's images
    were spread evenly over that category's usable slots: the floor like-for-like pairing
    cannot go below (three chair slots for thirty chairs hold all thirty, whatever pairing does)."""
    loads = []
    for cat, n in images_per_category.items():
        k = max(int(slots_per_category.get(cat, 0)), 1)
        loads += [n / k] * k
    total = sum(images_per_category.values())
    return sum(sorted(loads, reverse=True)[:top]) / total if total else 0.0


def _donor_spread(cp: pd.DataFrame, slot_categories: dict, usable_slots: dict, s: Settings,
                  figures: dict) -> list[str]:
    """Copy-paste images piled onto a handful of donor slots, or onto slots of another
    category than the product's, are the failure a real catalog showed first (61 of 156
    images on one wall poster): judged once the date has ``gate_min_spread_images``. The
    pile-up is judged against an even spread over each category's usable slots
    (`even_top_share`), so a catalog that simply has few sofa slots is not failed for it."""
    if len(cp) < s.gate_min_spread_images:
        return []
    counts = cp["slot_id"].value_counts()
    top = int(counts.head(s.gate_top_slots).sum())
    cats = cp["category"].map(product_slot_category).value_counts().to_dict()
    even = even_top_share(cats, usable_slots, s.gate_top_slots)
    figures["distinct_donor_slots"] = int(len(counts))
    figures["top_slots_share"] = round(top / len(cp), 4)
    figures["top_slots_share_even"] = round(even, 4)
    figures["usable_slots"] = int(sum(usable_slots.values()))
    out = []
    if top / len(cp) > even + s.gate_max_top_slots_excess:
        out.append(f"{top} of {len(cp)} copy-paste images use the {s.gate_top_slots} most used "
                   f"donor slots ({top / len(cp):.0%}; an even spread over each category's "
                   f"usable slots gives {even:.0%}, tolerance +{s.gate_max_top_slots_excess:.0%}):"
                   f" {list(counts.index[:3])}")
    unlike = sum(product_slot_category(c) != product_slot_category(slot_categories.get(sid))
                 for c, sid in zip(cp["category"], cp["slot_id"]))
    figures["unlike_slot_share"] = round(unlike / len(cp), 4)
    if unlike / len(cp) > s.gate_max_unlike_slot_share:
        out.append(f"{unlike} of {len(cp)} copy-paste images replace a slot of another category "
                   f"than the product's (> {s.gate_max_unlike_slot_share:.0%})")
    return out


def _regressions(ds: str, metrics: pd.DataFrame, s: Settings, figures: dict) -> list[str]:
    m = metrics[metrics["method"] == codes.COPY_PASTE].copy()
    m["ds"] = m["ds"].astype(str)
    today = m[m["ds"] == ds]
    if today.empty:
        return [f"no copy-paste row in staging_metrics for {ds} (did the evaluation run?)"]
    row = today.iloc[0]
    figures["regression_images"] = int(row["n_images"])
    if row["n_images"] < s.gate_min_regression_images:
        log.warning("quality gate ds=%s: regression not judged, %d images < %d "
                    "(gate_min_regression_images)", ds, row["n_images"],
                    s.gate_min_regression_images)
        return []
    past = m[(m["ds"] < ds) & (m["extractor"] == row["extractor"])
             & (m["n_images"] >= s.gate_min_regression_images)].sort_values("ds")
    past = past.tail(s.gate_history_days)
    out = []
    for col, limit, relative in (("fd", s.gate_max_fd_regression, True),
                                 ("seam_accuracy", s.gate_max_seam_regression, False)):
        value, base = row[col], past[col].dropna().median() if len(past) else None
        if pd.isna(value) or base is None or pd.isna(base):
            continue
        figures[col], figures[f"{col}_baseline"] = float(value), float(base)
        bound = base * (1 + limit) if relative else base + limit
        if value > bound:
            out.append(f"copy-paste {col} {value:.4f} regressed beyond {bound:.4f} (median of "
                       f"{len(past)} previous dates {base:.4f}, extractor {row['extractor']})")
    return out


class MissingEvidence(RuntimeError):
    """Something the gate judges was not recorded for the date."""


def ingest_figures(settings: Settings, ds: str) -> dict[str, int]:
    """Feed rows and images of the date, and how many of each ingest refused: the metrics of
    the date's newest finished ingest run (adstage.ingest counts them on the written tables).
    The tables alone cannot say it: catalog_images is current state, and image_labels holds
    only the images that changed that date."""
    from adstage import tracking

    run = tracking.latest_run(settings, "ingest", ds)
    if run is None:
        raise MissingEvidence(f"no finished ingest run for {ds} in MLflow "
                              f"({settings.mlflow_experiment}): did ingest run for this date?")
    m = run.data.metrics
    need = ("feed_rows", "rows_rejected", "images_in", "images_rejected")
    if any(k not in m for k in need):
        raise MissingEvidence(f"ingest run {run.info.run_id} for {ds} lacks {need}")
    return {k: int(m[k]) for k in need}


def gather(settings: Settings, ds: str) -> Evidence:
    """The date's evidence: the tables, and the date's ingest figures (`ingest_figures`)."""
    cut = read_table(settings, "product_cutouts", ["ds", "product_id"])
    cut = cut[cut["ds"].astype(str) <= ds]
    ingest = ingest_figures(settings, ds)
    return Evidence(products=set(cut["product_id"]),
                    staged=read_table(settings, "staged_images", ds=ds),
                    rejects=read_table(settings, "staging_rejects", ds=ds),
                    ingest_rows=ingest["feed_rows"],
                    ingest_rows_rejected=ingest["rows_rejected"],
                    ingest_images=ingest["images_in"],
                    ingest_images_rejected=ingest["images_rejected"],
                    metrics=read_table(settings, "staging_metrics"),
                    **_donor_slots(settings, ds))


def _donor_slots(settings: Settings, ds: str) -> dict:
    """slot_id -> category of every slot as of the date, and per category how many distinct
    slots pairing could pick: usable, of each photo's latest date, one per photo content, and
    not a photo held apart for the evaluation (`shape_index.current_slots`' rule: a held-apart
    photo is never a donor, so its slots must not lower the spread floor); none before
    cutouts ever ran."""
    from deltalake.exceptions import TableNotFoundError

    from adstage.evalsplit import photo_is_holdout

    try:
        slots = read_table(settings, "donor_slots", ["ds", "image_id", "slot_id", "category",
                                                     "usable", "image_uri", "slot_index"])
    except TableNotFoundError:
        return {"slot_categories": {}, "usable_slots": {}}
    slots = slots[slots["ds"].astype(str) <= ds].sort_values("ds")
    latest = slots.groupby("image_id")["ds"].transform("max")
    usable = slots[(slots["ds"] == latest) & slots["usable"].fillna(False).astype(bool)]
    usable = usable[~usable["image_uri"].map(
        lambda u: photo_is_holdout(u, settings.eval_holdout_share))]
    return {"slot_categories": {k: (None if pd.isna(v) else v)
                                for k, v in zip(slots["slot_id"], slots["category"])},
            "usable_slots": usable.drop_duplicates(["image_uri", "slot_index"])["category"]
            .dropna().map(product_slot_category).value_counts().to_dict()}


def run(settings: Settings, ds: str) -> dict[str, float]:
    failures, figures = check(ds, gather(settings, ds), settings)
    for k, v in figures.items():
        log.info("quality gate ds=%s %s = %s", ds, k, v)
    if failures:
        raise GateFailed(ds, failures)
    log.info("quality gate ds=%s: pass", ds)
    return figures


def main(argv: list[str] | None = None) -> int:
    """CLI of the quality gate (`jobs/quality_gate.py`)."""
    from adstage.jobrunner import guarded, job_parser

    args = job_parser("quality_gate", __doc__).parse_args(argv)
    return guarded("quality_gate", args.ds, lambda: _main(args))


def _main(args) -> int:
    import mlflow

    from adstage import tracking
    from adstage.jobrunner import load_settings

    settings = load_settings(args)
    try:
        # A failed gate leaves the run FAILED (the exception passes through job_run), not
        # FINISHED with a failing exit code.
        with tracking.job_run(settings, "quality_gate", args.ds):
            try:
                figures = run(settings, args.ds)
            except (GateFailed, MissingEvidence) as exc:
                mlflow.set_tag("adstage.gate", "fail")
                mlflow.log_text(str(exc), "gate_failures.txt")
                raise
            mlflow.set_tag("adstage.gate", "pass")
            mlflow.log_metrics({k: float(v) for k, v in figures.items()})
    except (GateFailed, MissingEvidence) as exc:
        log.error("%s", exc)
        return 1
    return 0
