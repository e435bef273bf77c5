"""Forced and random failures, so the tap's retry and error paths can be exercised."""

from __future__ import annotations

import collections
import random
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate

from .wire import Delivery, Response

_STATUS_FAULTS = {"429", "500", "502", "503", "504", "401", "403"}
_OTHER_FAULTS = {"429-date", "reset", "truncated", "nonjson"}


@dataclass(frozen=True)
class Fault:
    """One forced outcome. `kind` is the name used in stats (e.g. "429", "reset", "slow")."""

    kind: str
    seconds: float = 0.0  # Retry-After for 429, the delay for slow

    @property
    def delivery(self) -> Delivery:
        """How the normal answer is mangled on the wire, for faults that use it."""
        if self.kind in ("reset", "truncated"):
            return self.kind  # type: ignore[return-value]
        return "normal"

    def response(self) -> Response | None:
        """The answer that replaces the normal one; None when the normal answer still goes out."""
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
        if self.kind in ("500", "502", "504"):
            return Response.error(int(self.kind), f"injected server error {self.kind}")
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
    except ValueError:
        raise ValueError(f"bad fault argument in {spec!r}") from None
    if not argument and (text in _STATUS_FAULTS or text in _OTHER_FAULTS):
        return Fault(text)
    raise ValueError(
        f"unknown fault {spec!r}; expected one of 429, 429:N, 429-date, 500, 502, 503, 504, "
        "401, 403, reset, truncated, nonjson, slow:SECONDS"
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

    def next(self) -> Fault | None:
        """The fault for the next API request, if any."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if self._rate and self._rng.random() < self._rate:
                return self._rng.choice(self._random_kinds)
        return None
