"""Logging a data engineer can follow: one line per event, time, level, stage."""
from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT, datefmt="%H:%M:%S", force=True)
    # py4j and MLflow's store migrations are noise at INFO.
    for noisy in ("py4j", "alembic", "urllib3", "mlflow.store.db.utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
