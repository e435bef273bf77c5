"""What a run tells the people watching it, in plain sentences on the tap's logger:

- one start line: the API and where it is, the streams selected, where state came from;
- a progress line every few seconds per stream while it runs (long work only);
- one summary per stream at the end: records read and emitted, requests, retries, time;
- one summary of the run.

The SDK's METRIC lines (machine-readable JSON) are off by default (see :mod:`.logs`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from singer_sdk import metrics
from typing_extensions import override

from tap_example.engine.logs import quiet_stream_logs

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
        self.records = 0  # read: in the pages received
        self.emitted = 0  # sent as RECORD messages (after the incremental filter)
        self.requests = 0
        self.retries = 0
        self._started: float | None = None
        self._last_page_at: float | None = None
        self._last_line = 0.0
        self._lock = threading.Lock()
        self.begun = False
        quiet_stream_logs(logger)  # the SDK's per-stream and per-partition lines are DEBUG detail

    def begin(self, replication_method: str, start: Callable[[], Any]) -> None:
        """The stream's opening line, once (a child stream syncs once per parent record);
        ``start`` gives the value the stream starts from (bookmark or ``start_date``)."""
        if self.begun:
            return
        self.begun = True
        start_value = start() if replication_method.upper() == "INCREMENTAL" else None
        if replication_method.upper() != "INCREMENTAL":
            mode = "full table"
        elif start_value is None:
            mode = "incremental, no bookmark: from the beginning"
        else:
            mode = f"incremental from {start_value}"
        self.logger.info("stream '%s': starting, %s", self.stream_name, mode)

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
                "stream '%s': %s records read, %s emitted, %s pages so far (%.0f records/s)",
                self.stream_name,
                f"{self.records:,}",
                f"{self.emitted:,}",
                f"{self.requests:,}",
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
            f"stream '{self.stream_name}' summary: {counted(self.emitted, 'record')} emitted of "
            f"{self.records:,} read, {counted(self.requests, 'request')}, "
            f"{counted(self.retries, 'retry', 'retries')}, {self.seconds:.2f} s"
        )


class EmittedRecordCounter(metrics.Counter):
    """The SDK's record counter (``Stream.get_record_counter``), which it increments once per
    record it emits; the total also goes to the stream's :class:`StreamProgress`."""

    def __init__(
        self,
        progress: StreamProgress,
        *,
        endpoint: str | None = None,
        log_interval: float = metrics.DEFAULT_LOG_INTERVAL,
    ) -> None:
        tags: dict[str, Any] = {metrics.Tag.STREAM: progress.stream_name}
        if endpoint:
            tags[metrics.Tag.ENDPOINT] = endpoint
        super().__init__(metrics.Metric.RECORD_COUNT, tags, log_interval=log_interval)
        self.progress = progress

    @override
    def increment(self, value: int = 1) -> None:
        self.progress.emitted += value  # the SDK emits records on the main thread only
        super().increment(value)


@dataclass(frozen=True)
class RunStart:
    """What the start line says."""

    api: str
    base_url: str
    selected: Sequence[str]
    streams: int
    state_given: bool
    bookmarked: Sequence[str]

    def line(self) -> str:
        names = ", ".join(self.selected) or "none"
        return (
            f"extracting {self.api} from {self.base_url}: {len(self.selected)} of "
            f"{counted(self.streams, 'stream')} selected ({names}); {self.state_line()}"
        )

    def state_line(self) -> str:
        if not self.state_given:
            return "no state given: a first run, every stream from start_date or the beginning"
        if not self.bookmarked:
            return "state given, with no bookmark for these streams: every stream from the start"
        return (
            f"state given: bookmarks for {counted(len(self.bookmarked), 'stream')} "
            f"({', '.join(self.bookmarked)}), extracted from there; the others from start_date "
            "or the beginning"
        )


class ReportingStream(Protocol):
    """What :class:`RunReport` needs of a stream (an SDK stream with a :class:`StreamProgress`)."""

    progress: StreamProgress

    @property
    def replication_method(self) -> str: ...

    def get_starting_replication_key_value(self, context: Any) -> Any: ...


class RunReport:
    """The run's start line, at the first records of the first stream, and its summary, once
    every stream has given its own (the SDK asks every stream for it at the end of a run)."""

    def __init__(
        self,
        logger: logging.Logger,
        start: Callable[[], RunStart] | None = None,
        streams: Callable[[], int] | None = None,
    ) -> None:
        self.logger = logger
        self._start = start
        self._stream_count = streams
        self._started_at: float | None = None
        self._done: list[StreamProgress] = []

    def stream_begins(self, stream: ReportingStream, context: Any) -> None:
        """Before each partition's records (``get_records``): the run's start line the first
        time, then the stream's opening line the first time for this stream."""
        if self._started_at is None:
            self._started_at = time.monotonic()
            if self._start is not None:
                self.logger.info("%s", self._start().line())
        if not stream.progress.begun:
            start = partial(stream.get_starting_replication_key_value, context)
            stream.progress.begin(stream.replication_method, start)

    def stream_ends(self, progress: StreamProgress) -> None:
        if progress.requests:
            progress.logger.info("%s", progress.summary())
        self._done.append(progress)
        if self._stream_count is None or self._started_at is None:
            return
        if len(self._done) == self._stream_count():
            seconds = time.monotonic() - self._started_at
            self.logger.info("%s", run_summary(self._done, seconds))


def bookmarked_streams(state: Mapping[str, Any]) -> list[str]:
    """The streams with a bookmark (their own or a partition's) in a Singer state."""
    found = []
    for name, entry in (state.get("bookmarks") or {}).items():
        if not isinstance(entry, Mapping):
            continue
        partitions = entry.get("partitions") or []
        if entry.get("replication_key_value") is not None or any(
            isinstance(p, Mapping) and p.get("replication_key_value") is not None
            for p in partitions
        ):
            found.append(name)
    return found


def run_summary(progresses: Iterable[StreamProgress], seconds: float) -> str:
    """One line for the whole run, from the streams' counters."""
    synced = [p for p in progresses if p.requests]
    emitted = sum(p.emitted for p in synced)
    read = sum(p.records for p in synced)
    requests = sum(p.requests for p in synced)
    retries = sum(p.retries for p in synced)
    return (
        f"run summary: {counted(emitted, 'record')} emitted of {read:,} read from "
        f"{counted(len(synced), 'stream')}, {counted(requests, 'request')}, "
        f"{counted(retries, 'retry', 'retries')}, {seconds:.2f} s"
    )


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """``1 record``, ``1,089 records``."""
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


__all__ = [
    "PROGRESS_INTERVAL",
    "EmittedRecordCounter",
    "ReportingStream",
    "RunReport",
    "RunStart",
    "StreamProgress",
    "bookmarked_streams",
    "counted",
    "run_summary",
]
