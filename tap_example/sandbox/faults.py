"""Forced and random failures, so the tap's retry and error paths can be exercised."""

from __future__ import annotations

import collections
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode

from .wire import Delivery, Request, Response

_STATUS_FAULTS = {"429", "500", "502", "503", "504", "401", "403"}
_OTHER_FAULTS = {"429-date", "reset", "truncated", "nonjson", "echo"}
# Answers that are well-formed HTTP but wrong in content, and "pass" (serve this request
# normally), which lets a test place a fault after N good requests: inject(*["pass"] * N, 500).
# "empty-page": the normal answer with its records taken out and everything else (next link,
# cursor, totals, headers) kept, as real APIs do when a page's records are filtered away.
_CONTENT_FAULTS = {"error-200", "empty-200", "empty-page", "bad-record", "pass"}


@dataclass(frozen=True)
class Fault:
    """One forced outcome. `kind` is the name used in stats (e.g. "429", "reset", "slow")."""

    kind: str
    seconds: float = 0.0  # Retry-After for 429, the delay for slow, the padding for echo

    @property
    def delivery(self) -> Delivery:
        """How the normal answer is mangled on the wire, for faults that use it."""
        if self.kind in ("reset", "truncated"):
            return self.kind  # type: ignore[return-value]
        return "normal"

    def mangle(self, response: Response) -> Response:
        """The normal answer, changed in content for faults that do that (bad-record,
        empty-page)."""
        if self.kind not in ("bad-record", "empty-page") or response.status != 200:
            return response
        document = json.loads(response.body)
        records = _first_record_list(document)
        if records is None:
            return response
        if self.kind == "empty-page":
            records.clear()
        else:
            records[0] = "not-a-record"
        return replace(response, body=json.dumps(document).encode())

    def response(self, request: Request | None = None) -> Response | None:
        """The answer that replaces the normal one; None when the normal answer still goes out."""
        if self.kind == "echo":
            return _echo(request, int(self.seconds))
        if self.kind == "429":
            return Response.error(
                429, "rate limit exceeded", {"Retry-After": str(int(self.seconds))}
            )
        if self.kind == "429-date":
            retry_at = formatdate(time.time() - 1, usegmt=True)
            return Response.error(429, "rate limit exceeded", {"Retry-After": retry_at})
        if self.kind == "503":
            return Response.error(503, "service unavailable", {"Retry-After": "0"})
        if self.kind == "nonjson":
            html = b"<html><body><h1>Gateway says hello</h1></body></html>"
            return Response(200, html, content_type="text/html; charset=utf-8")
        if self.kind == "401":
            return Response.error(401, "access token expired", error="invalid_token")
        if self.kind == "403":
            return Response.error(403, "forbidden")
        if self.kind == "error-200":
            body = {"error": "internal", "message": "upstream store unavailable"}
            return Response.json(200, body)
        if self.kind == "empty-200":
            return Response.json(200, {})
        if self.kind in ("500", "502", "504"):
            return Response.error(int(self.kind), f"injected server error {self.kind}")
        return None


def _echo(request: Request | None, padding: int) -> Response:
    """A careless server's 400: its message quotes the request back (Authorization header,
    body, URL), credentials and all, after ``padding`` dots (so that a message cut at a fixed
    length can end inside a credential)."""
    body = request.body.decode("utf-8", "replace") if request is not None else ""
    authorization = (request.header("Authorization") if request is not None else None) or ""
    url = f"{request.path}?{urlencode(request.query)}" if request is not None else ""
    message = f"{'.' * padding}{authorization} {body} {url}"
    return Response.error(400, message, error="invalid_request")


def _first_record_list(node: Any) -> list[Any] | None:
    """The first non-empty list of objects in a JSON document, depth first."""
    if isinstance(node, list):
        if node and isinstance(node[0], dict):
            return node
        children: list[Any] = node
    elif isinstance(node, dict):
        children = list(node.values())
    else:
        return None
    for child in children:
        found = _first_record_list(child)
        if found is not None:
            return found
    return None


def parse_fault(spec: str | int) -> Fault:
    """Parse "429", "429:N", 500, "slow:1.5", "reset", ...; ValueError for anything else."""
    text = str(spec).strip().lower()
    name, _, argument = text.partition(":")
    try:
        if name == "429" and argument:
            return Fault("429", int(argument))
        if name == "slow":
            return Fault("slow", float(argument or 1))
        if name == "echo" and argument:
            return Fault("echo", int(argument))
    except ValueError:
        raise ValueError(f"bad fault argument in {spec!r}") from None
    if not argument and (text in _STATUS_FAULTS | _OTHER_FAULTS | _CONTENT_FAULTS):
        return Fault(text)
    raise ValueError(
        f"unknown fault {spec!r}; expected one of 429, 429:N, 429-date, 500, 502, 503, 504, "
        "401, 403, reset, truncated, nonjson, slow:SECONDS, error-200, empty-200, empty-page, "
        "bad-record, pass"
    )


class FaultPlan:
    """A FIFO of injected faults, falling back to random faults at `rate`."""

    def __init__(self, seed: int, rate: float, kinds: tuple[str, ...]) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {rate}")
        self._random_kinds = [parse_fault(kind) for kind in kinds]
        if rate and not self._random_kinds:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        self._rate = rate
        self._rng = random.Random(f"faults:{seed}")  # noqa: S311
        self._queue: collections.deque[Fault] = collections.deque()
        self._lock = threading.Lock()

    def inject(self, *specs: str | int) -> None:
        faults = [parse_fault(spec) for spec in specs]
        with self._lock:
            self._queue.extend(faults)

    def serve(
        self,
        request: Request,
        answer: Callable[[Request], Response],
        count: Callable[[str], None],
    ) -> Response:
        """``answer(request)``, unless the next fault replaces or mangles it (the token
        endpoint's faults: counted as ``token-<kind>``)."""
        fault = self.next()
        if fault is None or fault.kind == "pass":
            return answer(request)
        count(f"token-{fault.kind}")
        if fault.kind == "slow":
            time.sleep(fault.seconds)
        response = fault.response(request) or answer(request)
        if fault.delivery != "normal":
            response = replace(response, delivery=fault.delivery)
        return response

    def next(self) -> Fault | None:
        """The fault for the next API request, if any."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if self._rate and self._rng.random() < self._rate:
                return self._rng.choice(self._random_kinds)
        return None


class RateLimit:
    """At most ``per_second`` API requests in each one-second window; beyond that, 429 with
    ``Retry-After`` (whole seconds to the window's end), as many APIs count their limits."""

    def __init__(self, per_second: int, clock: Any = time.monotonic) -> None:
        if per_second < 1:
            raise ValueError(f"rate_limit must be >= 1 request per second, got {per_second}")
        self.per_second = per_second
        self._clock = clock
        self._window = -1
        self._count = 0
        self._lock = threading.Lock()

    def refuse(self) -> Response | None:
        """None when this request is within the limit, else the 429 answer."""
        now = self._clock()
        with self._lock:
            window = int(now)
            if window != self._window:
                self._window, self._count = window, 0
            self._count += 1
            if self._count <= self.per_second:
                return None
        wait = max(1, math.ceil(window + 1 - now))
        return Response.error(
            429,
            f"rate limit exceeded: {self.per_second} requests per second",
            {"Retry-After": str(wait)},
        )
