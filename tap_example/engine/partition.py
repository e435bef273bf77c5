"""Typed run state: what a stream keeps for the run, and for the partition it is paging.

These replace attributes that used to live under string keys in the stream's ``__dict__``;
one module writes them, every reader sees their types.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import requests

if TYPE_CHECKING:
    from tap_example.engine.paging import DefinitionPaginator

#: A request: method, URL and body, the key under which an answer fetched ahead waits.
RequestKey = tuple[str, str, bytes]
#: The SDK's request function shape: (prepared request, context) -> response.
RequestFunc = Callable[[requests.PreparedRequest, Any], requests.Response]


def request_key(prepared: requests.PreparedRequest) -> RequestKey:
    body = prepared.body
    data = body.encode() if isinstance(body, str) else bytes(body or b"")
    return (prepared.method or "GET", prepared.url or "", data)


class PageAhead(NamedTuple):
    """A page of the paging loop in progress, requested before the loop gets to it."""

    key: RequestKey
    future: Future[requests.Response]
    #: The paginator's token for the page, and the request prepared for it (the loop reuses
    #: it rather than preparing the same request again).
    token: Any
    prepared: requests.PreparedRequest


class PrefetchedAnswers:
    """Answers sent ahead for one stream, by request; each is used at most once."""

    def __init__(self) -> None:
        self._futures: dict[RequestKey, Future[requests.Response]] = {}
        self._lock = threading.Lock()

    def put(self, key: RequestKey, future: Future[requests.Response]) -> None:
        with self._lock:
            self._futures[key] = future

    def take(self, key: RequestKey) -> Future[requests.Response] | None:
        with self._lock:
            return self._futures.pop(key, None)

    def drop(self, keys: Iterable[RequestKey]) -> None:
        for key in keys:
            future = self.take(key)
            if future is not None:
                future.cancel()

    def __len__(self) -> int:
        with self._lock:
            return len(self._futures)


@dataclass
class PartitionState:
    """One partition's paging: its paginator, the page fetched ahead, its bookmark maximum."""

    #: The paginator of the paging loop in progress.
    paginator: DefinitionPaginator[Any] | None = None
    #: Pages fetched ahead, or ``None`` outside a paging loop.
    pages_ahead: list[PageAhead] | None = None
    #: Largest bookmark string seen in this partition (unsorted streams skip smaller ones).
    partition_max: str | None = None
    #: When the page being processed arrived (its records' ``time_extracted``).
    extracted_at: datetime | None = None
    #: Whether children of records the incremental filter drops are synced (some need every
    #: parent), and those records, waiting for their children's syncs.
    fan_out_dropped: bool = False
    #: Whether this worker emits the partition's records (``shard``: another may own the stream).
    emit: bool = True
    dropped: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StreamRun:
    """What one stream keeps for the whole run."""

    partition: PartitionState = field(default_factory=PartitionState)
    prefetched: PrefetchedAnswers = field(default_factory=PrefetchedAnswers)
    schema_written: bool = False
    #: The full request function (slots, retries, renewal) without prefetching, once built.
    live_request: RequestFunc | None = None
