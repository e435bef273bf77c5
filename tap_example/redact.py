"""Keeps secrets out of every log line, whoever logs it.

Secret values (settings marked secret, access tokens as they are issued) are registered
here; a log-record factory replaces them with ``***`` before any handler formats the record.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from tap_example.errors import MASK

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words


def register_secret(value: Any) -> None:
    """Remember ``value`` so it never appears in a log line."""
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)
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
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
