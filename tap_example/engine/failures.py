"""What went wrong on the wire, in words: which kind of connection failure, and with which host.

``requests`` wraps the cause of a failed connection a few layers deep (``ConnectionError`` around
urllib3's ``MaxRetryError`` around ``NewConnectionError`` around the socket error); a user needs
to read "connection refused by api.example.com:443", not "ConnectionError".
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests

_NOT_RESOLVED = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
    "failed to resolve",
    "name resolution",
)


def host_port(url: str) -> str:
    """``host:port`` of ``url`` (no user info, no path), for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return "?"
    return f"{host}:{port}" if port else host


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (``__cause__``, ``__context__``, ``reason``, ``args``)."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        nested = [current.__cause__, current.__context__, reason, *current.args]
        pending.extend(item for item in nested if isinstance(item, BaseException))


def connection_failure(exc: BaseException, url: str) -> str:
    """One phrase for a failed exchange with ``url``'s host: refused, name not resolved, timed
    out (connecting or waiting for the answer), TLS, dropped (reset), or cut off mid-answer."""
    host = host_port(url)
    causes = list(_causes(exc))
    text = " ".join(str(cause) for cause in causes).lower()
    kinds = tuple(type(cause) for cause in causes)

    def has(*types: type[BaseException]) -> bool:
        return any(issubclass(kind, types) for kind in kinds)

    if has(requests.exceptions.SSLError, ssl.SSLError):
        detail = next((str(c) for c in causes if isinstance(c, ssl.SSLError)), "")
        return f"TLS handshake with {host} failed" + (f" ({detail})" if detail else "")
    if has(requests.exceptions.ProxyError):
        return f"the proxy refused or dropped the connection to {host}"
    if has(socket.gaierror) or any(phrase in text for phrase in _NOT_RESOLVED):
        return f"host name {urlsplit(url).hostname or host!r} could not be resolved"
    if has(requests.exceptions.ConnectTimeout):
        return f"timed out connecting to {host}"
    if has(requests.exceptions.ReadTimeout, requests.exceptions.Timeout, TimeoutError):
        return f"timed out waiting for an answer from {host}"
    if has(ConnectionRefusedError) or "connection refused" in text:
        return f"connection refused by {host}"
    if has(ConnectionResetError, ConnectionAbortedError) or "connection aborted" in text:
        return f"connection to {host} dropped"
    if has(requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        return f"the answer from {host} was cut off or garbled"
    return f"could not talk to {host} ({type(exc).__name__})"
