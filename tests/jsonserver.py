"""A small JSON API on 127.0.0.1 for the tests that need shapes the sandbox does not serve (the
dlt oracle tests): one function answers every request, on threads, as a context manager."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from typing_extensions import Self


@dataclass
class Call:
    """One request as an answer function sees it; ``answer_headers`` go out with the answer."""

    method: str
    path: str
    target: str  # path and query, as sent
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    origin: str
    answer_headers: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def number(self, name: str, default: int) -> int:
        value = self.arg(name)
        return int(value) if value else default

    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else {}

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.raw.decode()).items()}

    def url(self, **query: Any) -> str:
        return f"{self.origin}{self.path}?{urlencode(query)}"


#: What an answer function gives: the status and the JSON body.
Answer = Callable[[Call], tuple[int, Any]]


class JSONServer:
    """``answer`` behind HTTP on 127.0.0.1 (an ephemeral port), GET and POST, quiet."""

    def __init__(self, answer: Answer) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, answer))
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def _handler(server: JSONServer, answer: Answer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def respond(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            call = Call(
                method=self.command,
                path=parts.path,
                target=self.path,
                query=parse_qs(parts.query),
                headers=dict(self.headers),
                raw=self.rfile.read(length) if length else b"",
                origin=server.origin,
            )
            status, body = answer(call)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in call.answer_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self.respond()

        def do_POST(self) -> None:
            self.respond()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: no line per request."""

    return Handler
