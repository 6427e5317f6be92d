"""Champion / challenger: register a candidate model, move ``@champion`` only when it is at
least as good as the current champion on the same held-apart set, by the same metric.

Generic on purpose: any gate (the training DAG's, the int8 quantization's) states its metric,
whether higher is better, a tolerance and gets a :class:`Verdict`, which :func:`register_candidate`
records on the new model version's tags and on the active MLflow run, promoted or not. A refused
candidate stays registered (a person may still promote it: ``adstage promote NAME VERSION``).
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from adstage.config import Settings
from adstage.registry import CHAMPION, register_onnx

log = logging.getLogger(__name__)

TAG = "adstage.promotion"


@dataclass(frozen=True)
class Verdict:
    """A gate's decision on one candidate.

    :param promote: True when the candidate may take the alias.
    :param metric: name of the figure compared, e.g. ``heldout_hole_l1``.
    :param candidate: the candidate's value; ``champion`` the champion's (None: no champion).
    :param higher_is_better: direction of the metric.
    :param tolerance: how much worse than the champion still counts as "as good" (absolute).
    :param reason: one line a person reads in the registry to know why.
    """

    promote: bool
    metric: str
    candidate: float
    champion: float | None
    higher_is_better: bool
    tolerance: float
    reason: str


def decide(metric: str, candidate: float, champion: float | None, *,
           higher_is_better: bool, tolerance: float = 0.0) -> Verdict:
    """At least as good = not worse than the champion by more than ``tolerance``. No champion
    figure (first model, or a champion the set cannot score) promotes; a candidate without a
    finite figure never does."""
    args = dict(metric=metric, candidate=candidate, champion=champion,
                higher_is_better=higher_is_better, tolerance=tolerance)
    if candidate is None or not math.isfinite(candidate):
        return Verdict(False, reason=f"candidate has no finite {metric} ({candidate})", **args)
    if champion is None or not math.isfinite(champion):
        return Verdict(True, reason=f"no champion {metric} to beat", **args)
    worse_by = (champion - candidate) if higher_is_better else (candidate - champion)
    op = ">=" if higher_is_better else "<="
    bound = champion - tolerance if higher_is_better else champion + tolerance
    if worse_by <= tolerance:
        return Verdict(True, reason=f"{metric} {candidate:.4g} {op} {bound:.4g} "
                                    f"(champion {champion:.4g}, tolerance {tolerance:g})", **args)
    return Verdict(False, reason=f"{metric} {candidate:.4g} worse than champion {champion:.4g} "
                                 f"beyond tolerance {tolerance:g}", **args)


def register_candidate(settings: Settings, name: str, onnx_path: Path, card: Mapping[str, Any],
                       verdict: Verdict, alias: str = CHAMPION,
                       champion_version: str | None = None) -> dict[str, Any]:
    """Register ``onnx_path`` as a new version of ``name`` (alias untouched), tag it with the
    verdict, and point ``alias`` at it only when the verdict promotes. The same tags and the
    figures go on the active MLflow run (opened here when there is none). Returns what
    happened: version, promoted, reason, the alias's version before and after."""
    import mlflow
    from mlflow import MlflowClient

    from adstage import tracking

    tracking.configure(settings)
    card = {**card, "promotion": asdict(verdict)}
    own = mlflow.active_run() is None
    run = mlflow.start_run(run_name=f"candidate {name}") if own else mlflow.active_run()
    try:
        version = register_onnx(settings, onnx_path, name, card, alias=None)
        client = MlflowClient()
        tags = {f"{TAG}.decision": "promoted" if verdict.promote else "kept_champion",
                f"{TAG}.reason": verdict.reason, f"{TAG}.metric": verdict.metric,
                f"{TAG}.candidate": f"{verdict.candidate:.6g}",
                f"{TAG}.champion": "" if verdict.champion is None else f"{verdict.champion:.6g}",
                f"{TAG}.champion_version": champion_version or "",
                f"{TAG}.higher_is_better": str(verdict.higher_is_better).lower(),
                f"{TAG}.tolerance": f"{verdict.tolerance:g}"}
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
        mlflow.set_tags({**tags, f"{TAG}.model": name, f"{TAG}.version": version})
        figures = {f"candidate_{verdict.metric}": verdict.candidate}
        if verdict.champion is not None and math.isfinite(verdict.champion):
            figures[f"champion_{verdict.metric}"] = verdict.champion
        mlflow.log_metrics({k: v for k, v in figures.items() if math.isfinite(v)})
    finally:
        if own:
            mlflow.end_run()
    before = _alias_version(client, name, alias)
    if verdict.promote:
        client.set_registered_model_alias(name, alias, version)
    after = _alias_version(client, name, alias)
    log.info("%s v%s: %s (%s); @%s v%s -> v%s", name, version,
             "promoted" if verdict.promote else "champion kept", verdict.reason, alias,
             before or "-", after or "-")
    return {"name": name, "version": version, "promoted": verdict.promote,
            "reason": verdict.reason, "alias_before": before, "alias_after": after,
            "run_id": run.info.run_id}


def _alias_version(client, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:  # the alias does not exist yet
        return None
