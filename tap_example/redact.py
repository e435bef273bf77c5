"""Keeps secrets out of every log line, whoever logs it.

Secret values (settings marked secret, access tokens as they are issued) are registered
here; a log-record factory replaces them with ``***`` before any handler formats the record.
Text a server supplies (bodies, reasons, headers, URLs) goes through :func:`scrub` before it is
shortened for a message: cutting first could leave a fragment of a secret that no longer
matches it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote, quote_plus

from tap_example.errors import MASK

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()  # longest first, replaced whole on every registration
_longest = 0
_installed = False
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
_FORMATTER = logging.Formatter()


def register_secret(value: Any) -> None:
    """Remember ``value`` (and its URL-encoded forms, as in a logged URL) so it never appears
    in a log line."""
    global _longest, _ordered
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
        forms = {value, quote(value, safe=""), quote_plus(value)}
        with _lock:
            if not forms <= _secrets:
                _secrets.update(forms)
                _ordered = tuple(sorted(_secrets, key=len, reverse=True))
                _longest = len(_ordered[0])
    _install()


def redact(text: str) -> str:
    """Replace every registered secret in ``text``."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def scrub(text: str, limit: int | None = None) -> str:
    """``text`` with every registered secret replaced, then cut to ``limit`` characters.

    Only the part that can reach the cut is searched (``limit`` plus the longest secret), so a
    long body costs no more than a short one, and no secret that starts before the cut survives
    in part.
    """
    if limit is None:
        return redact(text)
    return redact(text[: limit + _longest])[:limit]


def _install() -> None:
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _secrets:
                message = record.getMessage()
                cleaned = redact(message)
                if cleaned != message:
                    record.msg, record.args = cleaned, None
                if record.exc_info and not record.exc_text:
                    # A traceback quoting a secret: handlers get only the redacted text.
                    trace = _FORMATTER.formatException(record.exc_info)
                    if redact(trace) != trace:
                        record.exc_text, record.exc_info = redact(trace), None
                if record.stack_info:
                    record.stack_info = redact(record.stack_info)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
