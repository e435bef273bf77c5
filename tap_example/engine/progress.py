"""Per-stream progress for people watching a long run: a line every few seconds, a summary at the end.

Complements the SDK's metrics (which are machine-readable JSON lines) with plain sentences.
"""

from __future__ import annotations

import logging
import threading
import time

#: Seconds between two progress lines of one stream.
PROGRESS_INTERVAL = 5.0


class StreamProgress:
    """Counts pages, records and retries of one stream; thread-safe for concurrent children."""

    def __init__(
        self, stream_name: str, logger: logging.Logger, interval: float = PROGRESS_INTERVAL
    ) -> None:
        self.stream_name = stream_name
        self.logger = logger
        self.interval = interval
        self.records = 0
        self.requests = 0
        self.retries = 0
        self._started: float | None = None
        self._last_page_at: float | None = None
        self._last_line = 0.0
        self._lock = threading.Lock()

    def on_page(self, records: int) -> None:
        now = time.monotonic()
        with self._lock:
            if self._started is None:
                self._started = self._last_line = now
            self.requests += 1
            self.records += records
            self._last_page_at = now
            due = now - self._last_line >= self.interval
            if due:
                self._last_line = now
        if due:
            elapsed = max(now - (self._started or now), 1e-9)
            self.logger.info(
                "stream '%s': %d records, %d pages so far (%.0f records/s)",
                self.stream_name,
                self.records,
                self.requests,
                self.records / elapsed,
            )

    def on_retry(self) -> None:
        with self._lock:
            self.retries += 1

    @property
    def seconds(self) -> float:
        if self._started is None or self._last_page_at is None:
            return 0.0
        return self._last_page_at - self._started

    def summary(self) -> str:
        return (
            f"stream '{self.stream_name}' summary: {self.records} records, {self.requests} requests, "
            f"{self.retries} retries, {self.seconds:.2f} s"
        )
