"""Secrets out of logs and MLflow params: pure string functions, and one logging filter.

Settings can carry secrets without anyone meaning to: a tracking server or feed URI with
``user:password@``, a signed URL's ``?token=...``, an s3a secret key or a JDBC password in
``spark_conf``. Everything the project writes about its own configuration (MLflow params, log
lines) goes through :func:`text` or :func:`mapping`; :class:`RedactingFilter` on the log handlers
(installed by :func:`adstage.logs.setup`) catches the lines that name a URI in passing.

Spark redacts its own UI and event logs by ``spark.redaction.regex`` (secret, password, token,
access key by default); :data:`SECRET_KEY` covers the same names and a few more.
"""
from __future__ import annotations

import logging
import re
from typing import Mapping

MASK = "***"
# Configuration keys whose values are secrets (matched anywhere in the key, any case).
SECRET_KEY = re.compile(
    r"pass(word|wd)?\b|pwd|secret|token|credential|api[._-]?key|access[._-]?key|private[._-]?key"
    r"|account[._-]?key|session[._-]?key|signature|\bsig\b|\bsas\b|authorization", re.IGNORECASE)
# scheme://user:password@host -> scheme://user:***@host (the user name stays: it says who).
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^/@\s:]*):(?P<secret>[^/@\s]+)@")
# ?token=...&X-Amz-Signature=... in URLs, and key=value pairs in free text, for secret keys.
_PAIR = re.compile(r"(?P<key>[A-Za-z0-9_.\-]+)(?P<eq>=)(?P<value>[^\s&,;\"']+)")


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(key))


def text(value: str) -> str:
    """`value` with URL passwords and the values of secret-named ``key=value`` pairs masked."""
    value = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", value)
    return _PAIR.sub(lambda m: (f"{m.group('key')}={MASK}" if is_secret_key(m.group("key"))
                                else m.group(0)), value)


def mapping(values: Mapping[str, object]) -> dict[str, str]:
    """A conf mapping as strings, secret keys' values masked and every value passed to `text`."""
    return {k: MASK if is_secret_key(str(k)) else text(str(v)) for k, v in values.items()}


class RedactingFilter(logging.Filter):
    """Rewrites each record's message through :func:`text` (formatting it first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = text(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
