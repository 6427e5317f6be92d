"""Errors a person reads: one line that says what is wrong and what to do, no traceback.

Jobs end on these with exit status 2 and the message alone (`adstage.jobrunner`): a mistyped
setting, a missing or empty feed, a feed whose format cannot be told, a warehouse Spark cannot
write. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class JobError(Exception):
    """The job cannot run as configured; the message is the whole story."""


class FeedNotFound(JobError, FileNotFoundError):
    """The feed of the date is not there (yet)."""


class FeedFormatError(JobError, ValueError):
    """The feed's format cannot be told, or is not one we read."""


class EmptyFeed(JobError):
    """A feed with no rows: refused unless the operator says an empty night is meant."""


def one_line(exc: BaseException, limit: int = 600) -> str:
    """`exc` as one line. For an error that came through py4j (Spark, Delta, Hadoop), the
    innermost Java cause's class and message, not the JVM's stack."""
    text = _java_cause(exc) or f"{type(exc).__name__}: {exc}"
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _java_cause(exc: BaseException) -> str | None:
    """"<class>: <message>" of the Java exception behind `exc` (py4j's Py4JJavaError, or
    pyspark's captured exceptions), with its innermost cause when that is another one."""
    java = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    if java is None:
        return None
    try:
        def describe(t) -> str:
            message = str(t.getMessage() or "").strip().split("\n")[0]
            return f"{t.getClass().getName().rsplit('.', 1)[-1]}: {message}"

        root, seen = java, 0
        while root.getCause() is not None and seen < 20:
            root, seen = root.getCause(), seen + 1
        top = describe(java)
        return top if seen == 0 else f"{top} (cause: {describe(root)})"
    except Exception:
        return None
