"""Step progress for long CPU jobs: rate, percent and time left, in plain log lines."""
from __future__ import annotations

import logging
import time


def format_seconds(seconds: float) -> str:
    """``3725`` -> ``"1h02m05s"``; short values stay short (``"42s"``)."""
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """Tracks steps of one job and logs ``step i/n (p%) ... s/step, ~T left``.

    :param total: number of steps this run will do (after a resume: the remaining ones).
    :param start: step number the run starts at (for resumed runs).
    :param logger: where lines go.
    :param label: prefix, e.g. the job and stage name.
    """

    def __init__(self, total: int, start: int = 0, logger: logging.Logger | None = None, label: str = ""):
        self.total, self.start = total, start
        self.log = logger or logging.getLogger(__name__)
        self.label = label
        self.t0 = time.monotonic()

    def seconds_left(self, step: int) -> float:
        done = max(1, step - self.start)
        rate = (time.monotonic() - self.t0) / done
        return rate * max(0, self.total - step)

    def report(self, step: int, metrics: dict[str, float] | None = None) -> str:
        """Log (and return) one progress line for ``step`` (1-based, absolute)."""
        done = max(1, step - self.start)
        elapsed = time.monotonic() - self.t0
        pct = 100.0 * step / max(1, self.total)
        parts = " ".join(f"{k}={v:.4g}" for k, v in (metrics or {}).items())
        line = (f"{self.label} step {step}/{self.total} ({pct:.0f}%) {parts} | "
                f"{elapsed / done:.2f}s/step, elapsed {format_seconds(elapsed)}, "
                f"~{format_seconds(self.seconds_left(step))} left")
        self.log.info(line.strip())
        return line
