"""Paginators for every paging style, on the SDK's ``BaseAPIPaginator``, chosen from a registry.

Each paginator knows two things: how to read the next token from a response
(``has_more``/``get_next``, the SDK contract) and how to put a token into the next request
(:meth:`DefinitionPaginator.apply`), so a stream never needs per-style code. The registry
(:data:`PAGINATORS`, :func:`register_paginator`) maps each spec type of
:mod:`tap_example.definition.model` to its paginator class, as dlt's ``PAGINATOR_MAP`` does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from typing import Any, ClassVar, Generic, NoReturn, TypeVar
from urllib.parse import urljoin

import requests
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.streams.rest import HTTPRequest
from typing_extensions import override

from tap_example.definition.model import (
    AutoSpec,
    CursorSpec,
    HeaderCursorSpec,
    HeaderLinkSpec,
    JSONLinkSpec,
    OffsetSpec,
    PagedSpec,
    PageNumberSpec,
    PaginatorSpec,
    SinglePageSpec,
    StoppingSpec,
)
from tap_example.engine.documents import response_document
from tap_example.engine.placement import is_link, set_in
from tap_example.errors import APIError, PaginationError, mask_url
from tap_example.jsonpaths import MISSING, compile_path

SpecT = TypeVar("SpecT", bound=PaginatorSpec)


class DefinitionPaginator(BaseAPIPaginator[Any], Generic[SpecT]):
    """Base of all definition paginators: page size, stop condition and request shaping."""

    type_name: ClassVar[str]

    def __init__(self, spec: SpecT, start_value: Any = None) -> None:
        super().__init__(start_value)
        self.spec = spec
        self.limit: int | None = spec.limit
        self.limit_param: str = spec.limit_param
        paged = spec if isinstance(spec, PagedSpec) else None
        self.stop_condition = paged.stop_condition if paged else None
        self.maximum_page = paged.maximum_page if paged else None
        stopping = spec if isinstance(spec, StoppingSpec) else None
        #: dlt's ``stop_after_empty_page``; ``None``: the tap's default (see continue_if_empty).
        self.stop_after_empty_page = stopping.stop_after_empty_page if stopping else None
        self.has_more_in = (
            _HasMore(stopping.has_more_path) if stopping and stopping.has_more_path else None
        )
        #: Where the page size goes in the JSON body (``None``: the query, at ``limit_param``).
        self.limit_body_path: str | None = None
        #: Pages one partition may take (the ``max_pages_per_partition`` setting); None: no limit.
        self.max_pages: int | None = None
        self.stopped = False  # the stream asked to stop after the current page
        self._seen_tokens: set[str] = set()
        self._seen_pages: set[bytes] = set()

    # Request side --------------------------------------------------------------------
    def apply(self, request: HTTPRequest, token: Any) -> None:
        """Put the page size and ``token`` (``None`` on the first page) into ``request``."""
        if self.limit is not None:
            body_path = self.limit_body_path
            self._put(request, body_path or self.limit_param, self.limit, in_body=bool(body_path))

    @staticmethod
    def _put(request: HTTPRequest, name: str, value: Any, *, in_body: bool) -> None:
        """``value`` as the query parameter ``name``, or at the dot path ``name`` of the JSON
        body (a copy: the resource's body is never changed)."""
        if in_body:
            data = request.data if isinstance(request.data, dict) else None
            request.data = set_in(data, name, value)
        else:
            request.params[name] = value

    # Response side -------------------------------------------------------------------
    @override
    def has_more(self, response: requests.Response) -> bool:
        """More pages unless the stream stopped, ``maximum_page`` is reached (the SDK counts
        the page before asking), the stop condition holds or ``has_more_path`` says no."""
        if self.stopped:
            return False
        if self.maximum_page is not None and self.count >= self.maximum_page:
            return False
        if self.stop_condition is not None and self.stop_condition.is_met(
            response_document(response)
        ):
            return False
        return self.has_more_in is None or self.has_more_in(response)

    @override
    def advance(self, response: requests.Response) -> None:
        """Advance; paging that does not (a repeated or cycling token, too many pages) is a
        :class:`PaginationError` before the next request is sent."""
        try:
            super().advance(response)
        except RuntimeError:  # the SDK's check: the same token twice in a row
            self._stuck(response, f"the same {self.type_name} token twice in a row")
        if self.finished:
            return
        token = json.dumps(self.current_value, sort_keys=True, default=str)
        if token in self._seen_tokens:
            self._stuck(response, f"a {self.type_name} token it had sent before (a cycle)")
        self._seen_tokens.add(token)
        if self.max_pages is not None and self.count >= self.max_pages:
            msg = (
                f"paging ran past {self.max_pages} pages at {mask_url(response.url)}; if the API "
                "really has more, raise the setting max_pages_per_partition"
            )
            raise PaginationError(msg)

    def stop(self) -> None:
        """End paging after the current page (the stream knows the rest is not wanted)."""
        self.stopped = True

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """An empty page ends paging unless the paginator knows more pages follow (the SDK
        asks before stopping on an empty page)."""
        return False

    def missing_path(self, response: requests.Response) -> str | None:
        """The paginator's path into the body (next link, cursor) when this response lacks it
        and nothing else said paging is over; ``None`` otherwise."""
        return None

    def _absent(self, path: str, getter: Any, response: requests.Response) -> str | None:
        document = response_document(response)
        if getter(document) is not MISSING:
            return None
        condition = self.stop_condition
        if (
            condition is not None
            and condition.path != tuple(path.split("."))
            and condition.is_met(document)
        ):
            return None  # another field (say has_more) says this was the last page
        return path

    def peek_next(self, response: requests.Response) -> Any:
        """The token the next :meth:`advance` on ``response`` would move to, without moving;
        ``None`` when paging would stop there (so a next page can be fetched ahead)."""
        if self.finished or not self.has_more(response):
            return None
        token = self.get_next(response)
        if not token or token == self.current_value:
            return None
        if json.dumps(token, sort_keys=True, default=str) in self._seen_tokens:
            return None  # a cycle: advance will report it
        pages_after = self.count + 1
        if (self.maximum_page is not None and pages_after >= self.maximum_page) or (
            self.max_pages is not None and pages_after >= self.max_pages
        ):
            return None
        return token

    def peek_ahead(self, response: requests.Response, count: int) -> list[Any]:
        """The tokens of the pages that can be requested now, up to ``count``: the next one
        (:meth:`peek_next`), or - where a total says how many follow - several."""
        token = self.peek_next(response)
        return [] if token is None else [token]

    def _within_limits(self, pages_after: int) -> bool:
        """Whether a page that many pages on is still within ``maximum_page`` and the
        ``max_pages_per_partition`` guard."""
        return not (
            (self.maximum_page is not None and pages_after >= self.maximum_page)
            or (self.max_pages is not None and pages_after >= self.max_pages)
        )

    def check_page_is_new(self, response: requests.Response, records: list[Any]) -> None:
        """The records of a page already served in this partition mean paging is stuck
        (say, a page number the server ignores): stop before emitting them twice."""
        if not records:
            return
        # A page's first and last records and its length identify it well enough for this
        # check, at a fixed cost per page however large the page is.
        fingerprint = json.dumps(
            [len(records), records[0], records[-1]], sort_keys=True, default=str
        )
        digest = hashlib.sha256(fingerprint.encode()).digest()
        if digest in self._seen_pages:
            self._stuck(response, "a page of records it had already sent")
        self._seen_pages.add(digest)

    def _stuck(self, response: requests.Response, what: str) -> NoReturn:
        msg = f"paging does not advance at {mask_url(response.url)}: the server sent {what}"
        raise PaginationError(msg)


class _Totals:
    """Reads the count at ``total_path`` (pages or records, by paginator)."""

    def __init__(self, total_path: str | None) -> None:
        self._total = compile_path(total_path) if total_path else None

    def __call__(self, response: requests.Response) -> int | None:
        if self._total is None:
            return None
        total = self._total(response_document(response))
        return total if isinstance(total, int) and not isinstance(total, bool) else None


_TRUE_WORDS = frozenset({"yes", "true", "t", "y", "1"})  # dlt's ``str2bool``
_FALSE_WORDS = frozenset({"no", "false", "f", "n", "0"})


class _HasMore:
    """Reads dlt's ``has_more_path``: a boolean (or a string dlt reads as one) in the body;
    missing or anything else is an error, as in dlt."""

    def __init__(self, has_more_path: str) -> None:
        self.path = has_more_path
        self._read = compile_path(has_more_path)

    def __call__(self, response: requests.Response) -> bool:
        value = self._read(response_document(response))
        if isinstance(value, str) and value.lower() in _TRUE_WORDS | _FALSE_WORDS:
            return value.lower() in _TRUE_WORDS
        if isinstance(value, bool):
            return value
        where = mask_url(response.url)
        if value is MISSING or value is None:
            msg = f"has_more_path {self.path!r} is not in the response at {where}"
        else:
            msg = f"has_more_path {self.path!r} at {where} is not a boolean: {value!r}"
        raise PaginationError(msg)


class SinglePagePaginator(DefinitionPaginator[SinglePageSpec]):
    """One request, no paging."""

    type_name = "single_page"

    @override
    def has_more(self, response: requests.Response) -> bool:
        return False

    @override
    def get_next(self, response: requests.Response) -> None:
        return None


class LinkPaginator(DefinitionPaginator[SpecT]):
    """Paginators whose token is the next page's URL (in the body or a header)."""

    @override
    def apply(self, request: HTTPRequest, token: Any) -> None:
        if token is None:
            super().apply(request, token)
            return
        # A next link is followed exactly as given: it carries its own query string.
        request.url = urljoin(request.url, token)
        request.params = {}

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """A next link is followed whatever the page held (dlt's link paginators do)."""
        return self.has_more(response) and bool(self.get_next(response))


class JSONLinkPaginator(LinkPaginator[JSONLinkSpec]):
    """Follows a next-page URL found in the body (HAL ``_links.next.href``, ``links.next``)."""

    type_name = "json_link"

    def __init__(self, spec: JSONLinkSpec) -> None:
        super().__init__(spec)
        self._next_url = compile_path(spec.next_url_path or "next")

    @override
    def missing_path(self, response: requests.Response) -> str | None:
        return self._absent(self.spec.next_url_path or "next", self._next_url, response)

    @override
    def get_next(self, response: requests.Response) -> str | None:
        value = self._next_url(response_document(response))
        if not value or value is MISSING:
            return None
        if not isinstance(value, str):
            msg = f"next link at {mask_url(response.url)} is not a string: {type(value).__name__}"
            raise APIError(msg)
        return urljoin(response.url, value)


class HeaderLinkPaginator(LinkPaginator[HeaderLinkSpec]):
    """Follows the ``Link: <url>; rel="next"`` response header."""

    type_name = "header_link"

    def __init__(self, spec: HeaderLinkSpec) -> None:
        super().__init__(spec)
        self._rel = spec.links_next_key or "next"

    @override
    def has_more(self, response: requests.Response) -> bool:
        return self._rel in response.links and super().has_more(response)

    @override
    def get_next(self, response: requests.Response) -> str | None:
        url = response.links.get(self._rel, {}).get("url")
        return urljoin(response.url, url) if url else None


class CursorPaginator(DefinitionPaginator[CursorSpec]):
    """A cursor read from the body (``cursor_path``) and sent back as a query parameter
    (``cursor_param``) or inside the JSON body (``cursor_body_path``).

    ``cursor_path`` defaults to the parameter's name. With neither ``cursor_param`` nor
    ``cursor_body_path`` a cursor that is a URL is followed as a next link (the seeds'
    ``cursor_path: _links.next.href`` form) and any other value is sent as ``cursor``.
    """

    type_name = "cursor"

    def __init__(self, spec: CursorSpec) -> None:
        super().__init__(spec)
        self.cursor_param = spec.cursor_param
        self.cursor_body_path = spec.cursor_body_path
        if self.cursor_body_path:  # a POST search: the page size goes into the body too
            self.limit_body_path = spec.limit_param
        self._cursor = compile_path(spec.effective_cursor_path)

    @override
    def apply(self, request: HTTPRequest, token: Any) -> None:
        if (
            token is not None
            and not (self.cursor_param or self.cursor_body_path)
            and is_link(token)
        ):
            request.url = urljoin(request.url, token)
            request.params = {}
            return
        super().apply(request, token)
        if token is not None:
            name = self.cursor_body_path or self.cursor_param or "cursor"
            self._put(request, name, token, in_body=bool(self.cursor_body_path))

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """A cursor is followed whatever the page held, unless ``stop_after_empty_page``."""
        if self.stop_after_empty_page:
            return False
        return self.has_more(response) and bool(self.get_next(response))

    @override
    def missing_path(self, response: requests.Response) -> str | None:
        return self._absent(self.spec.effective_cursor_path, self._cursor, response)

    @override
    def get_next(self, response: requests.Response) -> Any:
        value = self._cursor(response_document(response))
        if value is MISSING or value in (None, ""):
            return None
        return value


class HeaderCursorPaginator(DefinitionPaginator[HeaderCursorSpec]):
    """dlt's ``header_cursor``: the cursor is the response header ``cursor_key`` (default
    ``next``), sent back as the query parameter ``cursor_param`` (default ``cursor``); paging
    stops when the header is absent."""

    type_name = "header_cursor"

    @override
    def apply(self, request: HTTPRequest, token: Any) -> None:
        super().apply(request, token)
        if token is not None:
            self._put(request, self.spec.cursor_param, token, in_body=False)

    @override
    def has_more(self, response: requests.Response) -> bool:
        return self.spec.cursor_key in response.headers and super().has_more(response)

    @override
    def get_next(self, response: requests.Response) -> str | None:
        return response.headers.get(self.spec.cursor_key)

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """A cursor is followed whatever the page held (dlt's header cursor)."""
        return self.has_more(response) and bool(self.get_next(response))


class CountedPaginator(DefinitionPaginator[SpecT]):
    """Page numbers and offsets: each token is ``step`` after the one before, and a total in
    the body (``total_path``) or a maximum says where the list ends, so the pages up to there
    can be requested ahead (page fan-out). Subclasses say where the end is
    (:meth:`before_end`) and where the token goes (:meth:`apply`)."""

    step: int
    total_in: _Totals

    def before_end(self, token: int, total: int | None) -> bool:
        """Whether the page of ``token`` is before the end of the list (``total``: what the
        body says, ``None`` when it says nothing)."""
        raise NotImplementedError

    @override
    def has_more(self, response: requests.Response) -> bool:
        if not super().has_more(response):
            return False
        return self.before_end(int(self.current_value) + self.step, self.total_in(response))

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """Whether an empty page is not the end: never with ``stop_after_empty_page: true``
        (dlt's default), always where paging would go on with ``false``; by default (the
        tap's) only where a total says more follow (a page emptied by records that moved must
        not end the list)."""
        if self.stop_after_empty_page:
            return False
        if self.stop_after_empty_page is None and self.total_in(response) is None:
            return False
        return self.has_more(response)

    @override
    def get_next(self, response: requests.Response) -> int:
        return int(self.current_value) + self.step

    @override
    def peek_ahead(self, response: requests.Response, count: int) -> list[Any]:
        """With a total in the body, the next ``count`` pages at once (page fan-out)."""
        tokens = super().peek_ahead(response, count)
        total = self.total_in(response)
        if not tokens or total is None:
            return tokens
        token = int(tokens[0]) + self.step
        while (
            len(tokens) < count
            and self.before_end(token, total)
            and self._within_limits(self.count + 1 + len(tokens))
        ):
            tokens.append(token)
            token += self.step
        return tokens


class PageNumberPaginator(CountedPaginator[PageNumberSpec]):
    """``page`` numbers from ``base_page`` (or ``page``), in the query or the JSON body,
    stopping after ``total_path`` pages (when the body has it), before page number
    ``maximum_page``, when ``has_more_path`` says so, or at an empty page."""

    type_name = "page_number"

    def __init__(self, spec: PageNumberSpec) -> None:
        self.base_page = spec.base_page
        super().__init__(spec, spec.page if spec.page is not None else spec.base_page)
        self.step = 1
        self.maximum_page = None  # not a page count here: the page number paging stops before
        self.last_page = spec.maximum_page
        self.page_param = spec.page_param or "page"
        self.page_body_path = spec.page_body_path
        self.total_in = _Totals(spec.total_path)

    @override
    def apply(self, request: HTTPRequest, token: Any) -> None:
        super().apply(request, token)
        page = self.current_value if token is None else token
        body_path = self.page_body_path
        self._put(request, body_path or self.page_param, page, in_body=bool(body_path))

    @override
    def before_end(self, token: int, total: int | None) -> bool:
        if self.last_page is not None and token >= self.last_page:
            return False
        return total is None or token - self.base_page < total


class OffsetPaginator(CountedPaginator[OffsetSpec]):
    """``offset``/``limit`` paging, each in the query or the JSON body, stopping at
    ``total_path`` records, ``maximum_offset``, when ``has_more_path`` says so, or at an empty
    page."""

    type_name = "offset"

    def __init__(self, spec: OffsetSpec) -> None:
        super().__init__(spec, spec.offset)
        if self.limit is None:
            msg = "offset paginator needs 'limit'"
            raise ValueError(msg)
        self.step = int(self.limit)
        self.offset_param = spec.offset_param or "offset"
        self.offset_body_path = spec.offset_body_path
        self.limit_body_path = spec.limit_body_path
        self.maximum_offset = spec.maximum_offset
        self.total_in = _Totals(spec.total_path)

    @override
    def apply(self, request: HTTPRequest, token: Any) -> None:
        super().apply(request, token)
        offset = self.current_value if token is None else token
        body_path = self.offset_body_path
        self._put(request, body_path or self.offset_param, offset, in_body=bool(body_path))

    @override
    def before_end(self, token: int, total: int | None) -> bool:
        if self.maximum_offset is not None and token >= self.maximum_offset:
            return False
        return total is None or token < total


class AutoPaginator(DefinitionPaginator[AutoSpec]):
    """dlt's paginator detection: the first response decides, in dlt's order (``detector.py``):
    a ``Link: rel="next"`` header, a next link in the body, a total page count, a next cursor
    in the body, else one page. Paging is then the detected paginator's (one info line per
    resource names it); the first request goes out as dlt's does, with no paging parameters."""

    type_name = "auto"

    def __init__(self, spec: AutoSpec) -> None:
        super().__init__(spec)
        self.delegate: DefinitionPaginator[Any] | None = None

    def detect(self, response: requests.Response) -> DefinitionPaginator[Any]:
        if self.delegate is None:
            detected = detect_paginator(response)
            memory = self.spec.detection  # the resource's, shared with its request shaper
            if memory.spec is None:
                _LOG.info(
                    "paginator detected for %s: %s", mask_url(response.url), describe(detected)
                )
            memory.spec = detected
            self.delegate = build_paginator(detected, max_pages=self.max_pages)
            self.delegate.stopped = self.stopped
        return self.delegate

    def _shaper(self) -> DefinitionPaginator[Any] | None:
        detected = self.spec.detection.spec
        if self.delegate is None and detected is not None:
            self.delegate = build_paginator(detected, max_pages=self.max_pages)
        return self.delegate

    @override
    def apply(self, request: HTTPRequest, token: Any) -> None:
        shaper = self._shaper() if token is not None else None
        if shaper is not None:
            shaper.apply(request, token)

    @property
    @override
    def current_value(self) -> Any:
        return self.delegate.current_value if self.delegate else super().current_value

    @property
    @override
    def finished(self) -> bool:
        return self.delegate.finished if self.delegate else super().finished

    @property
    @override
    def count(self) -> int:
        return self.delegate.count if self.delegate else super().count

    @override
    def advance(self, response: requests.Response) -> None:
        self.detect(response).advance(response)

    @override
    def has_more(self, response: requests.Response) -> bool:
        return self.detect(response).has_more(response)

    @override
    def get_next(self, response: requests.Response) -> Any:
        return self.detect(response).get_next(response)

    @override
    def stop(self) -> None:
        super().stop()
        if self.delegate is not None:
            self.delegate.stop()

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        return self.detect(response).continue_if_empty(response)

    @override
    def missing_path(self, response: requests.Response) -> str | None:
        return self.detect(response).missing_path(response)

    @override
    def peek_next(self, response: requests.Response) -> Any:
        return self.detect(response).peek_next(response)

    @override
    def peek_ahead(self, response: requests.Response, count: int) -> list[Any]:
        return self.detect(response).peek_ahead(response, count)


_LOG = logging.getLogger("tap-example")
_NEXT_KEY = re.compile("next")
_NEXT_DICT_KEYS = (re.compile("href"), re.compile("url"))
_TOTAL_PAGES_KEYS = (re.compile("^total_pages$"), re.compile("^pages$"), re.compile("^totalpages$"))


def detect_paginator(response: requests.Response) -> PaginatorSpec:
    """The paginator dlt's ``PaginatorFactory`` would choose for ``response``, as a spec."""
    if response.links.get("next"):
        return HeaderLinkSpec()
    try:
        document = response_document(response)
    except APIError:
        return SinglePageSpec()
    next_path, next_value = _find_next_page_path(document)
    if next_path and isinstance(next_value, str) and next_value.startswith(("http", "/")):
        return JSONLinkSpec(next_url_path=".".join(next_path))
    total_path, total = _find_path(document, _TOTAL_PAGES_KEYS)
    if total_path and _is_int(total):
        return PageNumberSpec(total_path=".".join(total_path))
    if next_path:
        return CursorSpec(cursor_path=".".join(next_path), cursor_param="cursor")
    return SinglePageSpec()


def describe(spec: PaginatorSpec) -> str:
    """``type`` and the keys that differ from the type's defaults, as a definition would say."""
    keys = [
        f"{f.name}: {getattr(spec, f.name)}"
        for f in dataclasses.fields(spec)
        if getattr(spec, f.name) != f.default
    ]
    return "{" + ", ".join([f"type: {spec.kind}", *keys]) + "}"


def _matches(key: str, patterns: tuple[re.Pattern[str], ...]) -> bool:
    return any(pattern.match(key.lower()) for pattern in patterns)


def _find_next_page_path(document: Any, path: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """dlt's ``find_next_page_path``: the first ``next`` key (or its ``href``/``url``)."""
    if not isinstance(document, dict):
        return None, None
    for key, value in document.items():
        if _matches(key, (_NEXT_KEY,)):
            if isinstance(value, dict):
                for inner_key, inner in value.items():
                    if _matches(inner_key, _NEXT_DICT_KEYS) and _scalar(inner):
                        return (*path, key, inner_key), inner
            elif _scalar(value):
                return (*path, key), value
        if isinstance(value, dict):
            found = _find_next_page_path(value, (*path, key))
            if found != (None, None):
                return found
    return None, None


def _find_path(
    document: Any, patterns: tuple[re.Pattern[str], ...], path: tuple[str, ...] = ()
) -> tuple[Any, Any]:
    """dlt's ``find_total_pages_path``: the first key matching ``patterns`` with a scalar."""
    if not isinstance(document, dict):
        return None, None
    for key, value in document.items():
        if _matches(key, patterns) and _scalar(value):
            return (*path, key), value
        if isinstance(value, dict):
            found = _find_path(value, patterns, (*path, key))
            if found != (None, None):
                return found
    return None, None


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float))


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


#: Paginator classes by spec type (the definition's ``type`` names live on the spec types).
PAGINATORS: dict[type[PaginatorSpec], type[DefinitionPaginator[Any]]] = {}


def register_paginator(
    spec_type: type[PaginatorSpec], paginator: type[DefinitionPaginator[Any]]
) -> None:
    """Make ``paginator`` the runtime of ``spec_type`` (dlt's ``register_paginator``)."""
    PAGINATORS[spec_type] = paginator


for _spec_type, _paginator in (
    (AutoSpec, AutoPaginator),
    (SinglePageSpec, SinglePagePaginator),
    (JSONLinkSpec, JSONLinkPaginator),
    (HeaderLinkSpec, HeaderLinkPaginator),
    (HeaderCursorSpec, HeaderCursorPaginator),
    (CursorSpec, CursorPaginator),
    (PageNumberSpec, PageNumberPaginator),
    (OffsetSpec, OffsetPaginator),
):
    register_paginator(_spec_type, _paginator)


def build_paginator(
    spec: PaginatorSpec | None, page_size: int | None = None, max_pages: int | None = None
) -> DefinitionPaginator[Any]:
    """A fresh paginator for ``spec`` (one page when there is none).

    ``page_size`` (the tap setting) replaces the definition's ``limit`` where it has one;
    ``max_pages`` is the ``max_pages_per_partition`` guard.
    """
    spec = (spec or SinglePageSpec()).with_page_size(page_size)
    paginator_type = PAGINATORS.get(type(spec))
    if paginator_type is None:
        msg = f"no paginator is registered for {type(spec).__name__} (type {spec.kind!r})"
        raise TypeError(msg)
    paginator = paginator_type(spec)
    paginator.max_pages = max_pages
    return paginator


def page_size_asked(paginator: DefinitionPaginator[Any], params: dict[str, Any]) -> int | None:
    """The page size the request asked for: the paginator's ``limit``, else a fixed
    ``limit_param`` among the resource's parameters."""
    if paginator.limit is not None:
        return paginator.limit
    value = params.get(paginator.limit_param)
    return (
        int(value)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit())
        else None
    )


def first_page_warning(
    paginator: DefinitionPaginator[Any],
    response: requests.Response,
    records: int,
    params: dict[str, Any],
) -> str | None:
    """A full first page whose body lacks the paginator's path most likely means the path is
    wrong, and paging stops after one page: the words to say so, or ``None``."""
    if paginator.count != 0:
        return None
    size = page_size_asked(paginator, params)
    if size is None or records < size:
        return None
    path = paginator.missing_path(response)
    if path is None:
        return None
    return (
        f"the first page is full ({records} records, the page size) but {mask_url(response.url)} "
        f"answered without {path!r} (the paginator's path), so paging stops after it; check the "
        "paginator in the definition"
    )
