"""Response bodies: decoded once per response, and the server's own words for an error.

Whatever a server wrote is scrubbed of secrets before it is shortened
(:func:`tap_example.redact.scrub`): an error body may echo the request's credentials.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from functools import cache
from typing import Any

import requests

from tap_example.errors import APIError, mask_url
from tap_example.redact import scrub

_documents: weakref.WeakKeyDictionary[requests.Response, Any] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def response_document(response: requests.Response) -> Any:
    """Decode a JSON body once per response; paginator and record parser share the result."""
    with _lock:
        if response in _documents:
            return _documents[response]
    try:
        document = _decode(response.content)
    except ValueError as exc:
        snippet = scrub(response.text, 80).replace("\n", " ")
        msg = (
            f"{response.request.method} {mask_url(response.url)} answered HTTP "
            f"{response.status_code} with a body that is not JSON ({exc.msg if hasattr(exc, 'msg') else exc}): "
            f"{snippet!r}"
        )
        raise APIError(msg) from None
    with _lock:
        _documents[response] = document
    return document


def _decode(content: bytes) -> Any:
    """``json.loads(content)``, by msgspec's decoder (about twice as fast on a page of records);
    a body it refuses (``NaN``, UTF-16, a lone surrogate, ...) is decoded, or refused, by the
    standard library as before."""
    try:
        return _fast_decoder()(content)
    except Exception:  # the standard library's answer (or its error) is the one given
        return json.loads(content)


@cache
def _fast_decoder() -> Callable[[bytes], Any]:
    import msgspec  # imported by the first response body, not by the tap's import

    return msgspec.json.Decoder().decode


def server_message(response: requests.Response, limit: int = 200) -> str:
    """The human-readable part of an error body (``message``/``error``), else its text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return scrub(value, limit)
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return scrub(str(value["message"]), limit)
    text = " ".join(response.text.split())
    return scrub(text, limit) or scrub(response.reason or "", limit)
