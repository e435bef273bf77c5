"""Child partitions and next pages fetched concurrently, inside the SDK's own sequential sync.

The SDK syncs a child stream once per parent record, one request after another. Here the
parent stream looks a few records ahead (:func:`prefetch_children`): for each upcoming parent
record it prepares the first request of every selected child partition, exactly as the child
would, and sends it on a thread pool. When the SDK then runs ``child.sync(context)`` for that
record, the child's request function (:class:`PrefetchAwareRequest`) finds the answer already
there. Everything else (parsing, paging past the first page, records, state) stays on the main
thread in the SDK's order, so the Singer output is the sequential output.

Bounds: at most ``max_concurrency`` requests in flight (one
:class:`~tap_example.engine.ratelimit.RateLimitPolicy` per run, shared by every stream and
worker: a 429 pauses them all, concurrency backs off and recovers, ``max_requests_per_second``
spaces requests), at most ``2 * max_concurrency`` parent records looked ahead, and the answers of
those records only (a record's leftover answers are dropped once the SDK has moved past it).
Connections come from one pooled ``requests.Session`` per host.

This module knows streams only through :class:`FetchingStream`, the few things it needs; it
imports neither the SDK adapter nor the SDK. Process-wide settings it changes (the interpreter's
switch interval) are restored, and its threads stopped, when the top-level streams' syncs end
(:meth:`TapConcurrency.workers_kept`); its sessions close at the end of the run. Streams syncing
concurrently (``engine/streamgroup.py``) share the pool, and each gives up the run's turn while
it waits for an answer here.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import resolve_proxies
from typing_extensions import override

from tap_example.engine.partition import (
    PageAhead,
    PrefetchedAnswers,
    RequestFunc,
    RequestKey,
    StreamRun,
    request_key,
)
from tap_example.engine.ratelimit import RateLimitPolicy, retry_after_seconds
from tap_example.engine.streamgroup import Turn

DEFAULT_MAX_CONCURRENCY = 8
#: Parent records looked ahead per request slot.
LOOKAHEAD_PER_SLOT = 2
#: Seconds a thread may hold the GIL while another waits for it (CPython's default is 0.005).
GIL_SWITCH_INTERVAL = 0.0002


class ProxyCachingSession(requests.Session):
    """A session that reads the proxy environment once per origin, not on every request.

    ``requests`` resolves proxies (environment variables, ``no_proxy``) for each ``send``,
    about a millisecond a request; the environment does not change during a run.
    """

    def __init__(self) -> None:
        super().__init__()
        self.resolved_proxies: dict[str, dict[str, str]] = {}

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if "proxies" not in kwargs and request.url:
            parts = urlsplit(request.url)
            origin = f"{parts.scheme}://{parts.netloc}"
            proxies = self.resolved_proxies.get(origin)
            if proxies is None:
                proxies = self.resolved_proxies[origin] = resolve_proxies(
                    request, dict(self.proxies), self.trust_env
                )
            kwargs["proxies"] = proxies
        return super().send(request, **kwargs)


class TapConcurrency:
    """One per run: the rate-limit policy, the pooled sessions, and a worker pool of
    ``max_concurrency``."""

    def __init__(self, max_concurrency: int, max_requests_per_second: float | None = None) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.gate = RateLimitPolicy(self.max_concurrency, max_requests_per_second)
        self._lock = threading.Lock()
        self._sessions: dict[str, requests.Session] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._saved_switch_interval: float | None = None
        self._kept = 0  # workers kept past a stream's end (streams syncing concurrently)
        #: Held by the stream thread running SDK code (``engine.streamgroup``); given up
        #: while waiting for an answer.
        self.turn = Turn()

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The worker pool, started on first use."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.max_concurrency, thread_name_prefix="tap-example-request"
                )
                # The threads that fetch ahead need the GIL only briefly (to read an answer),
                # but with CPython's default 5 ms switch interval they wait behind the record
                # loop that holds it, and the page the loop needs next is late. A shorter
                # interval costs nothing while no other thread wants the GIL; it is restored
                # by close().
                self._saved_switch_interval = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved_switch_interval, GIL_SWITCH_INTERVAL))
            return self._pool

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

    def gated(self, send: RequestFunc) -> RequestFunc:
        """``send`` (one attempt) behind the run's rate-limit policy; a 429 pauses every
        request of the API at once, before the retry's own wait."""
        gate = self.gate

        def through_gate(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
            sent_at = gate.acquire()
            succeeded = False
            try:
                response = send(prepared, context)
                succeeded = True
                return response
            except Exception as exc:
                answer = getattr(exc, "response", None)
                if isinstance(answer, requests.Response) and answer.status_code == 429:
                    # Without Retry-After, the retry's backoff sets the pause (on_retry).
                    gate.limited(sent_at, retry_after_seconds(answer))
                raise
            finally:
                gate.release(sent_at, succeeded=succeeded)

        return through_gate

    def on_retry(self, response: requests.Response | None, wait_seconds: float) -> None:
        """A retry is coming; after a 429 nobody sends before the retry's wait is over."""
        if response is not None and response.status_code == 429:
            self.gate.pause(wait_seconds)

    @contextmanager
    def workers_kept(self) -> Iterator[None]:
        """Workers stay up across streams ending inside the block (streams syncing concurrently
        share them); released at its end."""
        with self._lock:
            self._kept += 1
        try:
            yield
        finally:
            with self._lock:
                self._kept -= 1
            self.release_workers()

    def release_workers(self) -> None:
        """Stop the workers and restore the switch interval (a later request starts them again);
        inside :meth:`workers_kept`, not before its end."""
        with self._lock:
            if self._kept:
                return
            pool, self._pool = self._pool, None
            saved, self._saved_switch_interval = self._saved_switch_interval, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if saved is not None:
            sys.setswitchinterval(saved)

    def close(self) -> None:
        """The end of the run: workers stopped, switch interval restored, sessions closed."""
        self.release_workers()
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()


# --------------------------------------------------------------------------- prefetching


class FetchingStream(Protocol):
    """What prefetching needs from a stream."""

    @property
    def run(self) -> StreamRun: ...

    @property
    def concurrency(self) -> TapConcurrency: ...

    @property
    def timeout(self) -> int: ...

    @property
    def stops_early(self) -> bool:
        """Paging may end after the current page (a newest-first incremental list)."""

    def request_for(self, context: Any, token: Any) -> requests.PreparedRequest:
        """The request the SDK will send for ``context`` and page ``token``."""

    def first_request(self, context: Any) -> requests.PreparedRequest:
        """The first request the SDK will send for ``context``."""

    def live_request(self) -> RequestFunc:
        """The stream's full request function (slot, retries, renewal), without prefetch."""

    def child_partitions(
        self, record: dict[str, Any], context: Any
    ) -> Sequence[tuple[FetchingStream, Mapping[str, Any]]]:
        """The child streams the SDK will sync for ``record``, each with its context."""

    def has_selected_children(self) -> bool: ...


#: One answer sent ahead: where it waits, and for which request.
Sent = tuple[PrefetchedAnswers, RequestKey]


class PrefetchAwareRequest:
    """The stream's request function (retries and all), answering from prefetched futures first."""

    def __init__(self, stream: FetchingStream, live: RequestFunc) -> None:
        self.stream = stream
        self.live = live

    def __call__(self, prepared: requests.PreparedRequest, context: Any) -> requests.Response:
        future = self.stream.run.prefetched.take(request_key(prepared))
        with self.stream.concurrency.turn.released():  # other streams run while this one waits
            if future is not None and not future.cancelled():
                response = future.result()  # the worker's answer, or its final error, raised here
            else:
                response = self.live(prepared, context)
        self.send_next_page_ahead(response, context)
        return response

    def send_next_page_ahead(self, response: requests.Response, context: Any) -> None:
        """While the SDK turns this page into records, the next page is already on its way
        (the server's time overlaps ours); where a total says how many pages follow (offset
        and page-number lists), up to ``max_concurrency`` of them (page fan-out). Records still
        go out in page order: the SDK asks for the pages one after another and gets each answer
        from here. Not for newest-first incremental lists, which may stop after this page; a
        page fetched ahead and not used is dropped at the end."""
        stream = self.stream
        concurrency = stream.concurrency
        partition = stream.run.partition
        paginator = partition.paginator
        pages_ahead = partition.pages_ahead  # a list only inside its paging loop
        if (
            concurrency.max_concurrency < 2
            or paginator is None
            or pages_ahead is None
            or stream.stops_early
        ):
            return
        try:
            tokens = paginator.peek_ahead(response, concurrency.max_concurrency)
        except Exception:  # the SDK's own advance reports what is wrong
            return
        wanted = [(token, stream.request_for(context, token)) for token in tokens]
        keys = [request_key(prepared) for _, prepared in wanted]
        answers = stream.run.prefetched
        # Pages ahead that are no longer ahead (just used, or not wanted) go.
        for page in pages_ahead:
            if page.key not in keys:
                answers.drop([page.key])
        pages_ahead[:] = [page for page in pages_ahead if page.key in keys]
        sent = {page.key for page in pages_ahead}
        for key, (token, prepared) in zip(keys, wanted, strict=True):
            if key not in sent:
                future = concurrency.pool.submit(self.live, prepared, context)
                answers.put(key, future)
                pages_ahead.append(PageAhead(key, future, token, prepared))


def prepared_ahead(stream: FetchingStream, token: Any) -> requests.PreparedRequest | None:
    """The request already prepared for the page ``token`` of the paging loop in progress,
    if that page was requested ahead (the loop sends it again only if its answer is gone)."""
    if token is None:
        return None
    for page in stream.run.partition.pages_ahead or ():
        if page.token == token and not page.future.cancelled():
            return page.prepared
    return None


def settle_pages_ahead(stream: FetchingStream) -> None:
    """End of a paging loop: a page fetched ahead and not used is cancelled, or (already on
    the wire) waited for, so no request outlives the loop that asked for it."""
    partition = stream.run.partition
    pages_ahead, partition.pages_ahead = partition.pages_ahead or [], None
    answers = stream.run.prefetched
    running = []
    for page in pages_ahead:
        answers.drop([page.key])
        if not page.future.cancelled() and not page.future.done():
            running.append(page.future)
    if running:
        with stream.concurrency.turn.released():
            wait(running, timeout=stream.timeout)


def prefetch_children(
    stream: FetchingStream, records: Iterable[dict[str, Any]], context: Any
) -> Iterator[dict[str, Any]]:
    """``records``, unchanged and in order, while the first request of each upcoming record's
    child partitions runs on the pool."""
    concurrency = stream.concurrency
    if not stream.has_selected_children() or concurrency.max_concurrency < 2:
        yield from records
        return
    window: deque[tuple[dict[str, Any], list[Sent]]] = deque()
    lookahead = concurrency.max_concurrency * LOOKAHEAD_PER_SLOT
    passed: list[Sent] = []
    try:
        for record in records:
            window.append((record, _send_ahead(stream, record, context)))
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


def _send_ahead(stream: FetchingStream, record: dict[str, Any], context: Any) -> list[Sent]:
    sent: list[Sent] = []
    pool = stream.concurrency.pool
    for child, child_context in stream.child_partitions(record, context):
        prepared = child.first_request(child_context)
        key = request_key(prepared)
        answers = child.run.prefetched
        answers.put(key, pool.submit(child.live_request(), prepared, child_context))
        sent.append((answers, key))
    return sent
