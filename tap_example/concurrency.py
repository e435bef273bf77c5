"""Child partitions fetched concurrently, inside the SDK's own sequential sync.

The SDK syncs a child stream once per parent record, one request after another. Here the
parent stream looks a few records ahead (:func:`prefetch_children`): for each upcoming parent
record it prepares the first request of every selected child partition, exactly as the child
would, and sends it on a thread pool. When the SDK then runs ``child.sync(context)`` for that
record, the child's request function (:func:`prefetch_aware`) finds the answer already there.
Everything else (parsing, paging past the first page, records, state) stays on the main thread
in the SDK's order, so the Singer output is the sequential output.

Bounds: at most ``max_concurrency`` requests in flight (one :class:`RateGate` per tap, shared by
every stream and worker), at most ``2 * max_concurrency`` parent records looked ahead, and the
answers of those records only (a record's leftover answers are dropped once the SDK has moved
past it). On a 429 every request waits for the announced time and restarts one at a time.
Connections come from one pooled ``requests.Session`` per host.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import resolve_proxies

from tap_example.sdk_fastpath import (
    prepare_first_request,
    prepare_request_for,
    sdk_request_function,
)

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_example.streams import DefinitionStream

RequestFunc = Callable[[requests.PreparedRequest, Any], requests.Response]
RequestKey = tuple[str, str, bytes]
DEFAULT_MAX_CONCURRENCY = 8
#: Parent records looked ahead per request slot.
LOOKAHEAD_PER_SLOT = 2


class RateGate:
    """At most ``limit`` requests in flight across the tap, and one shared pause after a 429.

    After a rate-limit answer everyone waits until the announced time, then the limit starts
    again at 1 and doubles with every success, so concurrency never multiplies 429s.
    """

    def __init__(self, max_in_flight: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = max(1, max_in_flight)
        self.limit = self.ceiling
        self.in_flight = 0
        self.max_seen = 0
        self.resume_at = 0.0
        self._clock = clock
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while True:
                wait = self.resume_at - self._clock()
                if wait > 0:
                    self._cond.wait(wait)
                elif self.in_flight < self.limit:
                    self.in_flight += 1
                    self.max_seen = max(self.max_seen, self.in_flight)
                    return
                else:
                    self._cond.wait()

    def release(self, *, succeeded: bool) -> None:
        with self._cond:
            self.in_flight -= 1
            if succeeded and self.limit < self.ceiling:
                self.limit = min(self.ceiling, self.limit * 2)
            self._cond.notify_all()

    def slow_down(self, seconds: float) -> None:
        """A 429: nobody sends before ``seconds`` from now, then one request at a time."""
        with self._cond:
            self.resume_at = max(self.resume_at, self._clock() + max(0.0, seconds))
            self.limit = 1
            self._cond.notify_all()


#: Seconds a thread may hold the GIL while another waits for it (CPython's default is 0.005).
GIL_SWITCH_INTERVAL = 0.0002


class ProxyCachingSession(requests.Session):
    """A session that reads the proxy environment once per origin, not on every request.

    ``requests`` resolves proxies (environment variables, ``no_proxy``) for each ``send``,
    about a millisecond a request; the environment does not change during a run.
    """

    def __init__(self) -> None:
        super().__init__()
        self._proxies: dict[str, dict[str, str]] = {}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if "proxies" not in kwargs and request.url:
            parts = urlsplit(request.url)
            origin = f"{parts.scheme}://{parts.netloc}"
            proxies = self._proxies.get(origin)
            if proxies is None:
                proxies = self._proxies[origin] = resolve_proxies(
                    request, dict(self.proxies), self.trust_env
                )
            kwargs["proxies"] = proxies
        return super().send(request, **kwargs)


class TapConcurrency:
    """One per tap: the gate, the pooled sessions, and the worker pool of its size."""

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max(1, max_concurrency)
        if self.max_concurrency > 1:
            # The threads that fetch ahead need the GIL only briefly (to read an answer), but
            # with CPython's default 5 ms switch interval they wait behind the record loop that
            # holds it, and the page the loop needs next is late. A shorter interval costs
            # nothing while no other thread wants the GIL.
            sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))
        self.gate = RateGate(self.max_concurrency)
        self._lock = threading.Lock()
        self._sessions: dict[str, requests.Session] = {}

    @property
    def pool(self) -> ThreadPoolExecutor:
        return shared_pool(self.max_concurrency)

    def session_for(self, url: str) -> requests.Session:
        """One keep-alive session per host, with a connection per request slot."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}".lower()
        with self._lock:
            session = self._sessions.get(host)
            if session is None:
                session = ProxyCachingSession()
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.max_concurrency + 2)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._sessions[host] = session
            return session

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def shared_pool(workers: int) -> ThreadPoolExecutor:
    """One process-wide pool per size: taps made one after another (tests, notebooks) reuse
    the same idle threads instead of leaving a pool each behind."""
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix=f"tap-example-request-{workers}"
            )
        return pool


def concurrency_of(tap: Any) -> TapConcurrency:
    """The tap's :class:`TapConcurrency`, created on first use from ``max_concurrency``."""
    state = tap.__dict__.get("_concurrency")
    if state is None:
        value = tap.settings.get("max_concurrency")
        state = TapConcurrency(int(value) if value else DEFAULT_MAX_CONCURRENCY)
        tap.__dict__["_concurrency"] = state
    return state  # type: ignore[no-any-return]


_retry_lock = threading.Lock()


def note_retry(tap: Any, response: requests.Response | None, wait: float) -> None:
    """Count a retry (from any thread); a 429 slows every request of the tap down."""
    with _retry_lock:
        tap.retries += 1
    if response is not None and response.status_code == 429:
        concurrency_of(tap).gate.slow_down(wait)


def gated(tap: Any, send: RequestFunc) -> RequestFunc:
    """``send`` (one attempt) behind the tap's :class:`RateGate`."""

    def through_gate(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
        gate = concurrency_of(tap).gate
        gate.acquire()
        succeeded = False
        try:
            response = send(prepared, context)
            succeeded = True
            return response
        finally:
            gate.release(succeeded=succeeded)

    return through_gate


# --------------------------------------------------------------------------- prefetching


def request_key(prepared: requests.PreparedRequest) -> RequestKey:
    body = prepared.body
    data = body.encode() if isinstance(body, str) else bytes(body or b"")
    return (prepared.method or "GET", prepared.url or "", data)


class PrefetchedAnswers:
    """Answers sent ahead for one child stream, by request; each is used at most once."""

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


#: One answer sent ahead: where it waits, and for which request.
Sent = tuple[PrefetchedAnswers, RequestKey]


def answers_of(stream: Any) -> PrefetchedAnswers:
    answers = stream.__dict__.get("_prefetched")
    if answers is None:
        answers = stream.__dict__["_prefetched"] = PrefetchedAnswers()
    return answers  # type: ignore[no-any-return]


class PrefetchAwareRequest:
    """The stream's request function (retries and all), answering from prefetched futures first."""

    def __init__(self, stream: Any, live: RequestFunc) -> None:
        self.stream = stream
        self.live = live

    def __call__(self, prepared: requests.PreparedRequest, context: Any) -> requests.Response:
        future = answers_of(self.stream).take(request_key(prepared))
        if future is not None and not future.cancelled():
            response = future.result()  # the worker's answer, or its final error, raised here
        else:
            response = self.live(prepared, context)
        self._send_next_page_ahead(response, context)
        return response

    def _send_next_page_ahead(self, response: requests.Response, context: Any) -> None:
        """While the SDK turns this page into records, the next page is already on its way
        (the server's time overlaps ours). Not for newest-first incremental lists, which may
        stop after this page; a page fetched ahead and not used is dropped at the end."""
        stream = self.stream
        state = concurrency_of(stream._tap)
        paginator = stream.__dict__.get("_active_paginator")
        pages_ahead = stream.__dict__.get("_pages_ahead")  # a list only inside its paging loop
        if (
            state.max_concurrency < 2
            or paginator is None
            or pages_ahead is None
            or stream._desc_stop_value is not None
        ):
            return
        try:
            token = paginator.peek_next(response)
        except Exception:  # the SDK's own advance reports what is wrong
            return
        if token is None:
            return
        ahead = prepare_request_for(stream, context, token)
        key = request_key(ahead)
        answers = answers_of(stream)
        # One page ahead at a time: the previous one has just been used (or was not wanted).
        for old_key, _ in pages_ahead:
            answers.drop([old_key])
        pages_ahead.clear()
        future = state.pool.submit(self.live, ahead, context)
        answers.put(key, future)
        pages_ahead.append((key, future))


def settle_pages_ahead(stream: Any, timeout: float) -> None:
    """End of a paging loop: a page fetched ahead and not used is cancelled, or (already on
    the wire) waited for, so no request outlives the loop that asked for it."""
    pages_ahead = stream.__dict__.pop("_pages_ahead", None) or []
    answers = answers_of(stream)
    running = []
    for key, future in pages_ahead:
        answers.drop([key])
        if not future.cancelled() and not future.done():
            running.append(future)
    if running:
        wait(running, timeout=timeout)


def prefetch_aware(stream: Any, live: RequestFunc) -> RequestFunc:
    return PrefetchAwareRequest(stream, live)


def prefetch_children(
    stream: DefinitionStream, records: Iterable[dict[str, Any]], context: Context | None
) -> Iterator[dict[str, Any]]:
    """``records``, unchanged and in order, while the first request of each upcoming record's
    child partitions runs on the pool."""
    children = [
        child for child in stream.child_streams if child.selected or child.has_selected_descendents
    ]
    state = concurrency_of(stream._tap)
    if not children or state.max_concurrency < 2:
        yield from records
        return
    window: deque[tuple[dict[str, Any], list[Sent]]] = deque()
    lookahead = state.max_concurrency * LOOKAHEAD_PER_SLOT
    passed: list[Sent] = []
    try:
        for record in records:
            window.append((record, _send_ahead(stream, children, record, context, state)))
            if len(window) > lookahead:
                oldest, passed = window.popleft()
                yield oldest
                # The SDK has processed that record and synced its children: answers it did
                # not use (a filtered record, a context changed by post_process) go now.
                _drop(passed)
        while window:
            oldest, passed = window.popleft()
            yield oldest
            _drop(passed)
        passed = []
    finally:  # an error or an early stop: nothing more will be consumed
        _drop(passed)
        while window:
            _drop(window.popleft()[1])


def _drop(sent: list[Sent]) -> None:
    for answers, key in sent:
        answers.drop([key])


def _send_ahead(
    stream: DefinitionStream,
    children: list[Any],
    record: dict[str, Any],
    context: Context | None,
    state: TapConcurrency,
) -> list[Sent]:
    child_context = stream.get_child_context(record, context)
    if child_context is None:
        return []
    sent: list[Sent] = []
    wanted = stream.children_synced_for(record, context)  # none for a record it filters out
    for child in children:
        if child not in wanted:
            continue
        child_ctx = child.preprocess_context(dict(child_context))
        prepared = prepare_first_request(child, child_ctx)
        key = request_key(prepared)
        answers = answers_of(child)
        live = _live_request(child)
        answers.put(key, state.pool.submit(live, prepared, child_ctx))
        sent.append((answers, key))
    return sent


def _live_request(child: Any) -> RequestFunc:
    """The child's full request function (gate, retries, token renewal), without prefetch."""
    live = child.__dict__.get("_live_request")
    if live is None:
        decorated = child.request_decorator(sdk_request_function(child))
        live = decorated.live if isinstance(decorated, PrefetchAwareRequest) else decorated
        child.__dict__["_live_request"] = live
    return live  # type: ignore[no-any-return]
