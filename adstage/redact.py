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
# Configuration keys whose values are secrets (matched anywhere in the key, any case): every
# *key* (a word of its own: fs.s3a.encryption.key, api_key, accountKey; not "monkey"),
# *secret*, *token*, *password*, *credential*, signatures.
SECRET_KEY = re.compile(
    r"(?i:pass(word|wd)?\b|pwd|secret|token|credential|api[._-]?key|access[._-]?key"
    r"|private[._-]?key|account[._-]?key|session[._-]?key|signature|\bsig\b|\bsas\b"
    r"|authorization|\bauth\b|(?<![a-z])keys?(?![a-z]))|(?<=[a-z])Keys?(?![a-z])")
# scheme://user:password@host -> scheme://user:***@host (the user name stays: it says who).
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^/@\s:]*):(?P<secret>[^/@\s]+)@")
# ?X-Amz-Signature=...&token=... inside a URL, wherever the URL stands (also as the value of
# another key=value pair: "k=https://h/x?token=abc").
_QUERY = re.compile(r"(?P<sep>[?&;])(?P<key>[A-Za-z0-9_.\-]+)=(?P<value>[^\s&#\"',;]*)")
# key=value pairs in free text, for secret keys.
_PAIR = re.compile(r"(?P<key>[A-Za-z0-9_.\-]+)(?P<eq>=)(?P<value>[^\s&,;\"']+)")
# "api_key": "..." in JSON text (a feed's original record).
_JSON_PAIR = re.compile(r'"(?P<key>[^"\\]{1,100})"(?P<colon>\s*:\s*)"(?P<value>(?:[^"\\]|\\.)*)"')
# Authorization: Bearer <token> / Basic <credentials>.
_SCHEME_TOKEN = re.compile(r"(?i)\b(?P<scheme>bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}")


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(key))


def uri(value: str) -> str:
    """A URI with its password and its secret query parameters masked (a signed URL's
    X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, sig, token, key...). Local paths
    (no scheme) are returned as they are. What the tables store of an image's source."""
    if "://" not in value:
        return value
    value = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", value)
    return _QUERY.sub(lambda m: (f"{m.group('sep')}{m.group('key')}={MASK}"
                                 if is_secret_key(m.group("key")) and m.group("value")
                                 else m.group(0)), value)


def text(value: str) -> str:
    """`value` with URL passwords, signed-URL tokens, bearer tokens and the values of
    secret-named ``key=value`` pairs (and JSON ``"key": "value"`` pairs) masked."""
    value = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", value)
    value = _QUERY.sub(lambda m: (f"{m.group('sep')}{m.group('key')}={MASK}"
                                  if is_secret_key(m.group("key")) and m.group("value")
                                  else m.group(0)), value)
    value = _SCHEME_TOKEN.sub(lambda m: f"{m.group('scheme')} {MASK}", value)
    value = _JSON_PAIR.sub(lambda m: (f'"{m.group("key")}"{m.group("colon")}"{MASK}"'
                                      if is_secret_key(m.group("key")) else m.group(0)), value)
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
