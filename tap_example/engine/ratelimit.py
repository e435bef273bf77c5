"""One rate-limit policy per API, shared by every worker: pacing, a shared pause, AIMD.

Every request of a run (pages, pages fetched ahead, child partitions) passes through one
:class:`RateLimitPolicy`, as Airbyte's ``HttpAPIBudget`` is shared by all streams of a source:

- **a 429 pauses everyone**: no request of the API is sent before its ``Retry-After`` has passed
  (or the retry's backoff, when the answer names no time);
- **concurrency backs off and recovers** (additive increase, multiplicative decrease): the first
  429 of an episode halves the number of requests allowed in flight; each success adds
  ``1/window``, so the window grows by about one request per round trip up to
  ``max_concurrency``;
- **the request rate is capped**: with ``max_requests_per_second`` (a setting, or the
  definition's ``client.rate_limit``) requests are spaced evenly at that rate from the start.
  Without it the policy learns one: the first 429 sets the rate to :data:`DECREASE` times the
  rate measured over the second before it; each later 429 episode multiplies the rate by
  :data:`DECREASE` again, and every second without a 429 adds :data:`INCREASE_PER_SECOND` of
  the reference rate (the stated one, or the first one measured) back, up to the stated rate.

The clock and the waiting are injectable, so tests drive the policy without real time.
"""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone

import requests

#: The rate after a 429: this fraction of the rate measured just before it.
DECREASE = 0.7
#: Each second without a 429 adds this fraction of the reference rate.
INCREASE_PER_SECOND = 0.05
#: Never slower than this (requests per second), whatever the API says.
MIN_RATE = 0.2
#: The span, in seconds, over which the request rate is measured.
MEASURE_SPAN = 1.0
#: Longest wait a ``Retry-After`` header may impose, in seconds.
MAX_RETRY_AFTER = 300.0


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """``Retry-After`` as seconds (whole seconds or an HTTP date; a past date means now)."""
    if response is None:
        return None
    header = response.headers.get("Retry-After")
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return min(float(header), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max(0.0, (when - datetime.now(timezone.utc)).total_seconds()), MAX_RETRY_AFTER)


class RateLimitPolicy:
    """Request slots for one API: at most ``window`` in flight, spaced at ``rate`` per second,
    none while a 429's pause lasts."""

    def __init__(
        self,
        max_concurrency: int,
        max_requests_per_second: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = max(1, max_concurrency)
        self.window = float(self.ceiling)
        self.stated_rate = max_requests_per_second
        self.rate: float | None = max_requests_per_second
        self.in_flight = 0
        self.max_seen = 0
        self.resume_at = 0.0
        self.rate_limited = 0  # 429 answers seen
        self.decreases = 0  # episodes (one decrease each)
        self._step = INCREASE_PER_SECOND * (max_requests_per_second or 0.0)  # rate per second
        self._next_slot = 0.0
        self._last_decrease = -math.inf
        self._sent: deque[float] = deque()
        self._clock = clock
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        """Requests allowed in flight right now."""
        return max(1, int(self.window))

    def acquire(self) -> float:
        """Wait for a slot; returns the send time (hand it back to :meth:`release`)."""
        with self._cond:
            while True:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait is None:
                    break
                self._cond.wait(wait if wait > 0 else None)
            self.in_flight += 1
            self.max_seen = max(self.max_seen, self.in_flight)
            if self.rate is not None:
                self._next_slot = max(now, self._next_slot) + 1.0 / self.rate
            self._sent.append(now)
            while self._sent and self._sent[0] < now - MEASURE_SPAN:
                self._sent.popleft()
            return now

    def _wait_needed(self, now: float) -> float | None:
        """``None``: send now; ``0``: wait to be woken; else seconds to wait at most."""
        if self.resume_at > now:
            return self.resume_at - now
        if self.in_flight >= self.limit:
            return 0.0
        if self.rate is not None and self._next_slot > now:
            return self._next_slot - now
        return None

    def release(self, sent_at: float, *, succeeded: bool) -> None:
        """The request sent at ``sent_at`` is answered; a success widens the window."""
        with self._cond:
            self.in_flight -= 1
            if succeeded:
                self.window = min(float(self.ceiling), self.window + 1.0 / self.window)
                if self.rate is not None and self._step:
                    cap = self.stated_rate if self.stated_rate is not None else math.inf
                    self.rate = min(cap, self.rate + self._step / self.rate)
            self._cond.notify_all()

    def limited(self, sent_at: float, retry_after: float | None) -> None:
        """A 429 for the request sent at ``sent_at``: everyone waits ``retry_after`` seconds,
        and the first 429 of an episode (a request sent after the last decrease) halves the
        window and slows the rate. A ``Retry-After`` of 0 (or a date already past) says the
        limit has reset: the window still halves, the rate stays. ``None``: no ``Retry-After``
        (the retry's backoff sets the pause, through :meth:`pause`)."""
        with self._cond:
            now = self._clock()
            self.rate_limited += 1
            self.resume_at = max(self.resume_at, now + max(0.0, retry_after or 0.0))
            if sent_at > self._last_decrease:
                self._decrease(now, slow_rate=retry_after is None or retry_after > 0)
            self._cond.notify_all()

    def _decrease(self, now: float, *, slow_rate: bool) -> None:
        self.decreases += 1
        self._last_decrease = now
        self.window = max(1.0, self.window / 2)
        if not slow_rate:
            return
        if self.rate is None:  # the first 429 without a stated rate: measure one
            measured = sum(1 for sent in self._sent if sent >= now - MEASURE_SPAN) / MEASURE_SPAN
            self.rate = max(MIN_RATE, measured)
            self._step = INCREASE_PER_SECOND * self.rate
        self.rate = max(MIN_RATE, DECREASE * self.rate)
        self._next_slot = max(self._next_slot, now)

    def pause(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (a retry's backoff after a 429 without ``Retry-After``)."""
        with self._cond:
            self.resume_at = max(self.resume_at, self._clock() + max(0.0, seconds))
            self._cond.notify_all()
