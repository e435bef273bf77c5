"""HTTP plumbing: the request/response values the fake APIs see, and the threaded server.

The fake APIs never touch sockets; they turn a `Request` into a `Response`. Only this module
knows how a response goes on the wire, including the deliberately broken deliveries.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast
from urllib.parse import parse_qs, urlsplit

Delivery = Literal["normal", "reset", "truncated"]


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request; `origin` is scheme://host:port as the client addressed us."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes
    origin: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form(self) -> dict[str, str]:
        """The body as an urlencoded form (first value per field)."""
        fields = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {name: values[0] for name, values in fields.items()}

    def json_body(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, f"request body is not valid JSON: {exc}") from exc


@dataclass(frozen=True)
class Response:
    """A complete answer; `body` is serialized eagerly so it reflects the data at that moment."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    delivery: Delivery = "normal"

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), headers=dict(headers or {}))

    @classmethod
    def error(
        cls, status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> Response:
        return cls.json(status, {"message": message, **extra}, headers)


class ApiError(Exception):
    """Raised by handlers to answer with a JSON error instead of a page."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def response(self) -> Response:
        return Response.error(self.status, self.message, **self.extra)


Dispatch = Callable[[Request], Response]


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server that hands every request to one dispatch function."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatch: Dispatch) -> None:
        super().__init__(address, _Handler)
        self.dispatch = dispatch

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (or our own deliberate resets) are not worth a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tap-example-sandbox/1"
    timeout = 60  # idle keep-alive connections are dropped after this

    def setup(self) -> None:
        """No Nagle: headers and body go out in separate writes, which would stall keep-alive."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        query = {
            name: values[0] for name, values in parse_qs(url.query, keep_blank_values=True).items()
        }
        host = self.headers.get("Host") or "{}:{}".format(*self.connection.getsockname()[:2])
        request = Request(
            method=self.command,
            path=url.path,
            query=query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            origin=f"http://{host}",
        )
        server = cast(SandboxHTTPServer, self.server)
        try:
            response = server.dispatch(request)
        except Exception as exc:  # a sandbox bug: answer 500 and make it visible
            traceback.print_exc()
            response = Response.error(500, f"sandbox internal error: {exc!r}")
        self._write(response)

    def _write(self, response: Response) -> None:
        body = response.body
        if response.delivery == "truncated":
            body = body[: max(1, len(body) // 2)]
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if response.delivery == "reset":
            self.wfile.write(body[: len(body) // 2])
            self._abort_connection()
        else:
            self.wfile.write(body)

    def _abort_connection(self) -> None:
        """Close with a TCP RST (linger 0) mid-body, like a crashed proxy."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
