"""Logging a data engineer can follow: one line per event, time, level, stage."""
from __future__ import annotations

import logging

from adstage.redact import RedactingFilter

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT, datefmt="%H:%M:%S", force=True)
    # A URI with user:password@ or a secret key=value named in passing never reaches the log.
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    # py4j and MLflow's store migrations are noise at INFO.
    for noisy in ("py4j", "alembic", "urllib3", "mlflow.store.db.utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
