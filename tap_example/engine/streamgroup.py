"""Top-level streams synced concurrently (``max_parallel_streams``), taking turns.

Real APIs are latency-bound: most of a sync is waiting for answers. With
``max_parallel_streams`` above 1, each top-level stream (with its children) syncs on its own
thread, and the threads take **turns**: a stream thread holds the run's :class:`Turn` whenever
it runs SDK code (records, state, messages) and gives it up only while it waits for the network
(:meth:`Turn.released`, around a request and its retries). So at most one stream touches the
tap's state and its output at a time, exactly as in a sequential sync, while the others' requests
are on the wire:

- Singer messages of different streams interleave (the Singer spec allows it); each stream's
  SCHEMA still precedes its records, and each message is written whole;
- every STATE message is a snapshot taken between two turns: a sorted stream's bookmark covers
  only records already written, an unsorted one's progress markers are not bookmarks until the
  stream ends, so any STATE line is safe to resume from;
- requests in flight stay bounded by ``max_concurrency`` (the shared rate-limit policy), whatever
  the number of streams.

A stream that fails ends the run as in a sequential sync: the other streams stop at their next
turn (what they wrote stays consistent with what the STATE lines claim), no new stream starts, and
the failing stream's error is the run's. A termination signal takes the turn to write the last
STATE (:meth:`Turn.taken_over`), so that it too is one safe to resume from.
With ``max_parallel_streams`` 1 (or one stream) the streams run one after another on the calling
thread, as the SDK runs them.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

DEFAULT_MAX_PARALLEL_STREAMS = 1


class StreamsStopped(BaseException):
    """Raised in a stream thread at its next turn once the run is ending (another stream
    failed, or the tap was told to terminate). A ``BaseException``, so that the SDK's per-stream
    error handling does not report it as the stream's own error."""


class Turn:
    """The right to run SDK code, held by one stream thread at a time (see the module doc).

    Outside a concurrent group nobody holds it and :meth:`released` does nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._stopping = False

    def holding(self) -> bool:
        """Whether the calling thread holds the turn."""
        return bool(getattr(self._local, "held", False))

    def stop(self) -> None:
        """The run is ending: every stream thread stops at its next turn (with
        :class:`StreamsStopped`), having written nothing more."""
        self._stopping = True

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the turn for the block (a stream thread's whole sync)."""
        self._take()
        try:
            yield
        finally:
            if self.holding():  # not when a re-take inside raised StreamsStopped
                self._local.held = False
                self._lock.release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Give the turn up for the block (a wait for the network), then take it back."""
        if not self.holding():
            yield
            return
        self._local.held = False
        self._lock.release()
        try:
            yield
        finally:
            self._take()

    @contextmanager
    def taken_over(self) -> Iterator[None]:
        """The run is ending (a termination signal): the turn for the block, once its holder
        waits for the network, so that what the block writes (the last STATE) sees no stream
        half-way; the streams stop at their next turn."""
        self.stop()
        if self.holding():
            yield
            return
        with self._lock:
            yield

    def _take(self) -> None:
        self._lock.acquire()
        if self._stopping:
            self._lock.release()
            raise StreamsStopped
        self._local.held = True


class SyncedStream(Protocol):
    """What the group needs of a top-level stream: the SDK's two steps per stream."""

    @property
    def name(self) -> str: ...

    def sync(self) -> None: ...

    def finalize_state_progress_markers(self) -> None: ...


def sync_one(stream: SyncedStream) -> None:
    """What the SDK's ``sync_all`` does for one top-level stream."""
    stream.sync()
    stream.finalize_state_progress_markers()


def sync_streams(
    streams: Sequence[SyncedStream], parallel: int, turn: Turn, logger: logging.Logger
) -> None:
    """Sync ``streams`` (in order of start), up to ``parallel`` at once, taking ``turn``s."""
    if parallel < 2 or len(streams) < 2:
        for stream in streams:
            sync_one(stream)
        return
    waiting: deque[SyncedStream] = deque(streams)
    errors: list[BaseException] = []
    guard = threading.Lock()

    def next_stream() -> SyncedStream | None:
        with guard:
            return waiting.popleft() if waiting and not errors else None

    def worker() -> None:
        while (stream := next_stream()) is not None:
            try:
                with turn.held():
                    try:
                        sync_one(stream)
                    except BaseException:
                        turn.stop()  # before the turn goes: no other stream writes after this
                        raise
            except StreamsStopped:
                return
            except BaseException as exc:  # handed to the calling thread
                with guard:
                    if errors:  # the first error is the run's; another is said here
                        logger.error("stream '%s' failed too: %s", stream.name, exc)
                    errors.append(exc)

    threads = [
        threading.Thread(target=worker, name=f"tap-example-stream-{i}", daemon=True)
        for i in range(min(parallel, len(streams)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


__all__ = [
    "DEFAULT_MAX_PARALLEL_STREAMS",
    "StreamsStopped",
    "SyncedStream",
    "Turn",
    "sync_one",
    "sync_streams",
]
