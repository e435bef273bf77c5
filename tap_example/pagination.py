"""Paginators for every paging style a definition can name, on the SDK's ``BaseAPIPaginator``.

Each paginator knows two things: how to read the next token from a response
(``has_more``/``get_next``, the SDK contract) and how to put a token into the next request
(:meth:`DefinitionPaginator.apply`), so a stream never needs per-style code.
Paginators are chosen by the definition's ``type`` from :data:`PAGINATORS`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NoReturn
from urllib.parse import urljoin, urlsplit

import requests
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.streams.rest import HTTPRequest

from tap_example.errors import APIError, PaginationError, mask_url
from tap_example.jsonpaths import MISSING, compile_path, split_path

# --------------------------------------------------------------------------- decoded bodies


def response_document(response: requests.Response) -> Any:
    """Decode a JSON body once per response; paginator and record parser share the result."""
    cached = response.__dict__.get("_tap_example_document", MISSING)
    if cached is not MISSING:
        return cached
    try:
        document = json.loads(response.content)
    except ValueError as exc:
        snippet = response.text[:80].replace("\n", " ")
        msg = (
            f"{response.request.method} {mask_url(response.url)} answered HTTP "
            f"{response.status_code} with a body that is not JSON ({exc.msg if hasattr(exc, 'msg') else exc}): "
            f"{snippet!r}"
        )
        raise APIError(msg) from None
    response.__dict__["_tap_example_document"] = document
    return document


# --------------------------------------------------------------------------- stop conditions

_PATH = r"[A-Za-z_$][\w$-]*(?:\.[\w$-]+)*"
_GET_CHAIN = re.compile(
    r"""\.get\(\s*(['"])([^'"]+)\1\s*(?:,\s*(?:\{\}|None|''|""|\[\]|0|False)\s*)?\)"""
)
_STOP_FORMS: tuple[tuple[re.Pattern[str], Literal["missing", "falsy"]], ...] = (
    (re.compile(rf"^(?P<path>{_PATH})\s+is\s+(?:missing|none|None|null)$"), "missing"),
    (re.compile(rf"^(?P<path>{_PATH})\s+is\s+falsy$"), "falsy"),
    (re.compile(rf"^not\s+(?P<path>{_PATH})$"), "falsy"),
    (re.compile(r"""^(?P<q>['"])(?P<path>[^'"]+)(?P=q)\s+not\s+in\s+response$"""), "missing"),
    (re.compile(rf"^(?P<path>{_PATH})$"), "falsy"),
)


@dataclass(frozen=True)
class StopCondition:
    """When paging stops, read from a response body.

    Canonical spellings: ``<path> is missing`` (absent or null) and ``<path> is falsy``
    (absent, null, false, 0, empty string, list or object). The seeds' spellings map onto
    these: ``_links.next is none``, a bare ``has_more`` (stop when it is not true),
    ``not response.get('links', {}).get('next', {})`` and ``{{ 'cursor' not in response }}``.
    Nothing is evaluated: the text is matched against this small grammar.
    """

    path: tuple[str, ...]
    when: Literal["missing", "falsy"]

    @property
    def canonical(self) -> str:
        return f"{'.'.join(self.path)} is {self.when}"

    def is_met(self, document: Any) -> bool:
        value = compile_path(self.path)(document)
        if self.when == "missing":
            return value is MISSING or value is None
        return not value


def parse_stop_condition(text: str) -> StopCondition:
    """Parse a stop condition; raise ``ValueError`` naming the accepted forms otherwise."""
    source = text.strip()
    if source.startswith("{{") and source.endswith("}}"):
        source = source[2:-2].strip()
    if source.startswith("not response"):
        chain = source[len("not response") :]
        keys = [m.group(2) for m in _GET_CHAIN.finditer(chain)]
        if keys and _GET_CHAIN.sub("", chain).strip() == "":
            return StopCondition(tuple(keys), "falsy")
    for pattern, when in _STOP_FORMS:
        match = pattern.match(source)
        if match:
            return StopCondition(split_path(match.group("path")), when)
    msg = (
        f"stop_condition {text!r} is not understood; use '<path> is missing' or "
        "'<path> is falsy' (seed forms such as '_links.next is none', 'has_more', "
        "\"not response.get('links', {}).get('next', {})\" and \"{{ 'cursor' not in response }}\" "
        "are accepted too)"
    )
    raise ValueError(msg)


# --------------------------------------------------------------------------- paginators


def _set_in(body: Mapping[str, Any] | None, dotted: str, value: Any) -> dict[str, Any]:
    """Return a copy of ``body`` with ``value`` set at the dot path ``dotted``."""
    result: dict[str, Any] = dict(body or {})
    keys = dotted.split(".")
    node = result
    for key in keys[:-1]:
        child = dict(node.get(key) or {})
        node[key] = child
        node = child
    node[keys[-1]] = value
    return result


def _is_link(value: Any) -> bool:
    return isinstance(value, str) and (value.startswith(("http://", "https://", "/")))


class DefinitionPaginator(BaseAPIPaginator[Any]):
    """Base of all definition paginators: page size, stop condition and request shaping."""

    type_name: ClassVar[str]
    #: Keys this paginator type accepts in a definition (besides ``type``).
    keys: ClassVar[frozenset[str]] = frozenset(
        {"limit", "limit_param", "stop_condition", "maximum_page"}
    )

    def __init__(self, spec: Mapping[str, Any], start_value: Any = None) -> None:
        super().__init__(start_value)
        self.spec = spec
        self.limit: int | None = spec.get("limit")
        self.limit_param: str = spec.get("limit_param") or "limit"
        stop = spec.get("stop_condition")
        self.stop_condition: StopCondition | None = (
            stop
            if isinstance(stop, StopCondition)
            else parse_stop_condition(stop)
            if stop
            else None
        )
        self.body_paging = False  # page size and token travel in the JSON body (POST search)
        #: Pages one partition may take (the ``max_pages_per_partition`` setting); None: no limit.
        self.max_pages: int | None = None
        self._seen_tokens: set[str] = set()
        self._seen_pages: set[bytes] = set()

    # Request side --------------------------------------------------------------------
    def apply(self, request: HTTPRequest, token: Any) -> None:
        """Put the page size and ``token`` (``None`` on the first page) into ``request``."""
        if self.limit is not None:
            self._put(request, self.limit_param, self.limit)

    def _put(self, request: HTTPRequest, name: str, value: Any) -> None:
        if self.body_paging:
            request.data = _set_in(
                request.data if isinstance(request.data, Mapping) else None, name, value
            )
        else:
            request.params[name] = value

    # Response side -------------------------------------------------------------------
    def has_more(self, response: requests.Response) -> bool:
        if self.stop_condition is None:
            return True
        return not self.stop_condition.is_met(response_document(response))

    def advance(self, response: requests.Response) -> None:
        """Advance; paging that does not (a repeated or cycling token, too many pages) is a
        :class:`PaginationError` before the next request is sent."""
        try:
            super().advance(response)
        except RuntimeError:  # the SDK's check: the same token twice in a row
            self._stuck(response, f"the same {self.type_name} token twice in a row")
        maximum = self.spec.get("maximum_page")
        if maximum is not None and not self.finished and self.count >= int(maximum):
            self._finished = True
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

    def _compile_total(self, spec: Mapping[str, Any]) -> None:
        total_path = spec.get("total_path", "total")
        self._total = compile_path(total_path) if total_path else None

    def total_in(self, response: requests.Response) -> int | None:
        """The count at ``total_path`` (pages or records, by paginator), if the body has one."""
        if self._total is None:
            return None
        total = self._total(response_document(response))
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    def stop(self) -> None:
        """End paging after the current page (the stream knows the rest is not wanted)."""
        self._finished = True

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
        maximum = self.spec.get("maximum_page")
        if (maximum is not None and pages_after >= int(maximum)) or (
            self.max_pages is not None and pages_after >= self.max_pages
        ):
            return None
        return token

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


class SinglePagePaginator(DefinitionPaginator):
    """One request, no paging."""

    type_name = "single_page"
    keys = frozenset({"limit", "limit_param"})

    def has_more(self, response: requests.Response) -> bool:
        return False

    def get_next(self, response: requests.Response) -> None:
        return None


class JSONLinkPaginator(DefinitionPaginator):
    """Follows a next-page URL found in the body (HAL ``_links.next.href``, ``links.next``)."""

    type_name = "json_link"
    keys = DefinitionPaginator.keys | {"next_url_path"}

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        self._next_url = compile_path(spec.get("next_url_path") or "next")

    def apply(self, request: HTTPRequest, token: Any) -> None:
        if token is None:
            super().apply(request, token)
            return
        # A next link is followed exactly as given: it carries its own query string.
        request.url = urljoin(request.url, token)
        request.params = {}

    def get_next(self, response: requests.Response) -> str | None:
        value = self._next_url(response_document(response))
        if not value or value is MISSING:
            return None
        if not isinstance(value, str):
            msg = f"next link at {mask_url(response.url)} is not a string: {type(value).__name__}"
            raise APIError(msg)
        return urljoin(response.url, value)


class HeaderLinkPaginator(JSONLinkPaginator):
    """Follows the ``Link: <url>; rel="next"`` response header."""

    type_name = "header_link"
    keys = DefinitionPaginator.keys | {"links_next_key"}

    def __init__(self, spec: Mapping[str, Any]) -> None:
        DefinitionPaginator.__init__(self, spec)
        self._rel = spec.get("links_next_key") or "next"

    def has_more(self, response: requests.Response) -> bool:
        return self._rel in response.links and super().has_more(response)

    def get_next(self, response: requests.Response) -> str | None:
        url = response.links.get(self._rel, {}).get("url")
        return urljoin(response.url, url) if url else None


class CursorPaginator(DefinitionPaginator):
    """A cursor read from the body (``cursor_path``) and sent back as a query parameter
    (``cursor_param``) or inside the JSON body (``cursor_body_path``).

    ``cursor_path`` defaults to the parameter's name. With neither ``cursor_param`` nor
    ``cursor_body_path`` a cursor that is a URL is followed as a next link (the seeds'
    ``cursor_path: _links.next.href`` form) and any other value is sent as ``cursor``.
    """

    type_name = "cursor"
    keys = DefinitionPaginator.keys | {"cursor_path", "cursor_param", "cursor_body_path"}

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        self.cursor_param: str | None = spec.get("cursor_param")
        self.cursor_body_path: str | None = spec.get("cursor_body_path")
        self.body_paging = bool(self.cursor_body_path)
        default_path = self.cursor_param or self.cursor_body_path or "cursor"
        self._cursor = compile_path(spec.get("cursor_path") or default_path)

    def apply(self, request: HTTPRequest, token: Any) -> None:
        if (
            token is not None
            and not (self.cursor_param or self.cursor_body_path)
            and _is_link(token)
        ):
            request.url = urljoin(request.url, token)
            request.params = {}
            return
        super().apply(request, token)
        if token is not None:
            self._put(request, self.cursor_body_path or self.cursor_param or "cursor", token)

    def get_next(self, response: requests.Response) -> Any:
        value = self._cursor(response_document(response))
        if value is MISSING or value in (None, ""):
            return None
        return value


class PageNumberPaginator(DefinitionPaginator):
    """``page`` numbers from ``base_page`` (or ``page``), stopping after ``total_path`` pages
    (when the body has it), at ``maximum_page``, or at an empty page."""

    type_name = "page_number"
    keys = DefinitionPaginator.keys | {"base_page", "page", "page_param", "total_path"}

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.base_page = int(spec.get("base_page", 0) if spec.get("base_page") is not None else 0)
        first = spec.get("page")
        super().__init__(spec, int(first) if first is not None else self.base_page)
        self.page_param: str = spec.get("page_param") or "page"
        self._compile_total(spec)

    def apply(self, request: HTTPRequest, token: Any) -> None:
        super().apply(request, token)
        self._put(request, self.page_param, self.current_value if token is None else token)

    def has_more(self, response: requests.Response) -> bool:
        if not super().has_more(response):
            return False
        total = self.total_in(response)
        return total is None or self.current_value - self.base_page + 1 < total

    def get_next(self, response: requests.Response) -> int:
        return int(self.current_value) + 1


class OffsetPaginator(DefinitionPaginator):
    """``offset``/``limit`` paging, stopping at ``total_path`` records, ``maximum_offset``
    or an empty page."""

    type_name = "offset"
    keys = DefinitionPaginator.keys | {"offset", "offset_param", "total_path", "maximum_offset"}

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec, int(spec.get("offset") or 0))
        if self.limit is None:
            msg = "offset paginator needs 'limit'"
            raise ValueError(msg)
        self.offset_param: str = spec.get("offset_param") or "offset"
        self._compile_total(spec)

    def apply(self, request: HTTPRequest, token: Any) -> None:
        super().apply(request, token)
        self._put(request, self.offset_param, self.current_value if token is None else token)

    def has_more(self, response: requests.Response) -> bool:
        if not super().has_more(response):
            return False
        next_offset = int(self.current_value) + int(self.limit or 0)
        maximum = self.spec.get("maximum_offset")
        if maximum is not None and next_offset >= int(maximum):
            return False
        total = self.total_in(response)
        return total is None or next_offset < total

    def get_next(self, response: requests.Response) -> int:
        return int(self.current_value) + int(self.limit or 0)


#: Paginator classes by the definition's ``type`` (dlt's names plus ``next_link``).
PAGINATORS: dict[str, type[DefinitionPaginator]] = {
    "single_page": SinglePagePaginator,
    "json_link": JSONLinkPaginator,
    "next_link": JSONLinkPaginator,
    "header_link": HeaderLinkPaginator,
    "cursor": CursorPaginator,
    "page_number": PageNumberPaginator,
    "offset": OffsetPaginator,
}


def build_paginator(
    spec: Mapping[str, Any] | None, page_size: int | None = None
) -> DefinitionPaginator:
    """Make a fresh paginator from a validated definition spec.

    ``page_size`` (the tap setting) replaces the definition's ``limit`` where it has one.
    """
    if not spec:
        return SinglePagePaginator({})
    spec = dict(spec)
    if page_size is not None and ("limit" in spec or spec["type"] == "offset"):
        spec["limit"] = page_size
    return PAGINATORS[spec["type"]](spec)


def host_of(url: str) -> str:
    """``scheme://host:port`` of a URL, for same-origin checks."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
