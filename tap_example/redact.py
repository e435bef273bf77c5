"""Keeps secrets out of every log line, whoever logs it.

Secret values (settings marked secret, access tokens as they are issued) are registered
here; a log-record factory replaces them with ``***`` before any handler formats the record.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote, quote_plus

from tap_example.errors import MASK

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
_FORMATTER = logging.Formatter()


def register_secret(value: Any) -> None:
    """Remember ``value`` (and its URL-encoded forms, as in a logged URL) so it never appears
    in a log line."""
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.update({value, quote(value, safe=""), quote_plus(value)})
    _install()


def redact(text: str) -> str:
    """Replace every registered secret in ``text``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


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
