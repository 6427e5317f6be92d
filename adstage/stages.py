"""The nightly stages after ingest, in one list: the DAG builds its tasks and edges from it, the
one-application layout (`adstage.carry_forward`) runs it in order, and the tests read it.

Adding a stage is one entry here (plus its module and its `jobs/` script); nothing else lists
the stages. Pure data: the Airflow scheduler imports this without Spark or onnxruntime.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    job: str                      # task id, job name, MLflow run name
    module: str                   # its run(spark, settings, ds)
    after: tuple[str, ...] = ()   # upstream stages (none: right after the night plan)
    # Reads earlier dates: waits for the previous date's instance in a backfill.
    depends_on_past: bool = False

    @property
    def script(self) -> str:
        return f"{self.job}.py"


STAGES: tuple[Stage, ...] = (
    Stage("classify", "adstage.vision.classify"),
    Stage("cutouts", "adstage.vision.cutouts", ("classify",)),
    # The index of D must hold D-1's slots, whatever order a backfill's scheduler picked.
    Stage("shape_index", "adstage.vision.shape_index", ("cutouts",), depends_on_past=True),
    Stage("pair_donors", "adstage.vision.pair_donors", ("shape_index",)),
    Stage("stage_copy_paste", "adstage.staging.copy_paste", ("pair_donors",)),
    Stage("stage_vanilla", "adstage.staging.vanilla", ("pair_donors",)),
    Stage("evaluate", "adstage.evaluation.evaluate", ("stage_copy_paste", "stage_vanilla")),
    Stage("animate", "adstage.staging.animate", ("stage_copy_paste",)),
)


def last_stages() -> list[str]:
    """The stages nothing runs after: what the gallery waits for."""
    upstream = {a for s in STAGES for a in s.after}
    return [s.job for s in STAGES if s.job not in upstream]
