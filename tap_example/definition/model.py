"""The definition model: typed, frozen data, with one spec type per paginator and per auth type.

Nothing here talks to the network or the SDK: :mod:`tap_example.definition.load` turns a file
into these objects (validating it once), and :mod:`tap_example.engine` turns them into
paginators, authenticators and streams. The spec registries (:data:`PAGINATOR_SPECS`,
:data:`AUTH_SPECS`) are the single source of which ``type`` names and keys exist; a test keeps
the published JSON Schema (``definition.schema.json``) and the engine's registries equal to them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from tap_example.definition.stop_condition import StopCondition
from tap_example.errors import DefinitionError

DEFAULT_RETRY_CODES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Spec:
    """A typed spec chosen by a definition's ``type``: paginators and authentication."""

    #: The ``type`` names a definition may use for this spec (the first is canonical).
    type_names: ClassVar[tuple[str, ...]] = ()

    @property
    def kind(self) -> str:
        """The canonical type name (``next_link`` is spelled ``json_link`` here)."""
        return self.type_names[0]

    @classmethod
    def keys(cls) -> frozenset[str]:
        """The definition keys of this type (besides ``type``); run-time fields excluded."""
        return frozenset(f.name for f in dataclasses.fields(cls) if not f.metadata.get("run"))


# --------------------------------------------------------------------------- paginators


@dataclass(frozen=True)
class PaginatorSpec(Spec):
    """What every paginator type accepts: a page size and the parameter that carries it."""

    limit: int | None = None
    limit_param: str = "limit"

    def with_page_size(self, page_size: int | None) -> PaginatorSpec:
        """This spec with the ``page_size`` setting in place of ``limit`` (where it has one)."""
        if page_size is None or self.limit is None:
            return self
        return dataclasses.replace(self, limit=page_size)


@dataclass(frozen=True)
class SinglePageSpec(PaginatorSpec):
    """One request, no paging."""

    type_names: ClassVar[tuple[str, ...]] = ("single_page",)


@dataclass(frozen=True)
class PagedSpec(PaginatorSpec):
    """Paginators that read more than one page: an optional stop condition and page cap."""

    stop_condition: StopCondition | None = None
    maximum_page: int | None = None


@dataclass(frozen=True)
class StoppingSpec(PagedSpec):
    """dlt's stop keys of ``cursor``, ``page_number`` and ``offset``: ``has_more_path`` (a
    boolean in the body) and ``stop_after_empty_page``. ``None`` for the latter is the tap's
    default: an empty page ends paging unless a total says more pages follow (see the
    paginators)."""

    stop_after_empty_page: bool | None = None
    has_more_path: str | None = None


@dataclass(frozen=True)
class JSONLinkSpec(PagedSpec):
    """A next-page URL in the body (``next_url_path``); ``json_response`` is dlt's old name."""

    type_names: ClassVar[tuple[str, ...]] = ("json_link", "next_link", "json_response")
    next_url_path: str = "next"


@dataclass(frozen=True)
class HeaderLinkSpec(PagedSpec):
    """The ``Link: <url>; rel="next"`` response header."""

    type_names: ClassVar[tuple[str, ...]] = ("header_link",)
    links_next_key: str = "next"


@dataclass(frozen=True)
class HeaderCursorSpec(PagedSpec):
    """A cursor read from the response header ``cursor_key``, sent back as the query
    parameter ``cursor_param`` (dlt's ``header_cursor``)."""

    type_names: ClassVar[tuple[str, ...]] = ("header_cursor",)
    cursor_key: str = "next"
    cursor_param: str = "cursor"


@dataclass(frozen=True)
class CursorSpec(StoppingSpec):
    """A cursor read at ``cursor_path``, sent back as a query parameter or in the JSON body."""

    type_names: ClassVar[tuple[str, ...]] = ("cursor",)
    cursor_path: str | None = None
    cursor_param: str | None = None
    cursor_body_path: str | None = None

    @property
    def effective_cursor_path(self) -> str:
        """``cursor_path``, defaulting to the parameter's (or body path's) name."""
        return self.cursor_path or self.cursor_param or self.cursor_body_path or "cursor"


@dataclass(frozen=True)
class PageNumberSpec(StoppingSpec):
    """Page numbers from ``page`` (or ``base_page``), in the query (``page_param``) or the JSON
    body (``page_body_path``); ``total_path`` counts pages; paging stops before page number
    ``maximum_page`` (dlt's meaning)."""

    type_names: ClassVar[tuple[str, ...]] = ("page_number",)
    base_page: int = 0
    page: int | None = None
    page_param: str = "page"
    page_body_path: str | None = None
    #: Where the body gives the number of pages; ``None`` (``total_path: null``): nowhere.
    total_path: str | None = "total"


@dataclass(frozen=True)
class OffsetSpec(StoppingSpec):
    """``offset``/``limit`` paging, each in the query or the JSON body (``offset_body_path``,
    ``limit_body_path``); ``total_path`` counts records."""

    type_names: ClassVar[tuple[str, ...]] = ("offset",)
    offset: int = 0
    offset_param: str = "offset"
    offset_body_path: str | None = None
    limit_body_path: str | None = None
    total_path: str | None = "total"
    maximum_offset: int | None = None


class Detection:
    """The paginator an ``auto`` resource's first response chose (run-time state)."""

    def __init__(self) -> None:
        self.spec: PaginatorSpec | None = None


@dataclass(frozen=True)
class AutoSpec(PaginatorSpec):
    """dlt's detection: the paginator is chosen from the first response (``auto``, and what a
    user definition without a paginator gets)."""

    type_names: ClassVar[tuple[str, ...]] = ("auto",)
    #: What detection chose, shared by the resource's paging loops and its request shaper (one
    #: per spec, so per resource and run; not a definition key).
    detection: Detection = field(
        default_factory=Detection, compare=False, repr=False, metadata={"run": True}
    )


#: Paginator spec types by every ``type`` name a definition may use.
PAGINATOR_SPECS: dict[str, type[PaginatorSpec]] = {
    name: spec
    for spec in (
        AutoSpec,
        SinglePageSpec,
        JSONLinkSpec,
        HeaderLinkSpec,
        HeaderCursorSpec,
        CursorSpec,
        PageNumberSpec,
        OffsetSpec,
    )
    for name in spec.type_names
}


# --------------------------------------------------------------------------- auth


@dataclass(frozen=True)
class AuthSpec(Spec):
    """One way to authenticate. String values may hold ``${setting}`` placeholders until the
    alternative is chosen (:func:`tap_example.definition.placeholders.fill_spec`)."""

    def values(self) -> dict[str, Any]:
        """The spec's fields as a mapping (for placeholder checks)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class BearerAuthSpec(AuthSpec):
    """``Authorization: Bearer <token>``."""

    type_names: ClassVar[tuple[str, ...]] = ("bearer",)
    token: str = ""


@dataclass(frozen=True)
class APIKeyAuthSpec(AuthSpec):
    """An API key in a header (``name``) or in the query string."""

    type_names: ClassVar[tuple[str, ...]] = ("api_key",)
    api_key: str = ""
    name: str = "Authorization"
    #: ``cookie``: sent as the cookie ``name`` (to the API's own host only, as every credential).
    location: Literal["header", "query", "cookie"] = "header"


@dataclass(frozen=True)
class HTTPBasicAuthSpec(AuthSpec):
    """HTTP Basic authentication."""

    type_names: ClassVar[tuple[str, ...]] = ("http_basic",)
    username: str = ""
    password: str = ""


@dataclass(frozen=True)
class OAuth2AuthSpec(AuthSpec):
    """OAuth2 client-credentials grant, or refresh-token grant when ``refresh_token`` is set."""

    type_names: ClassVar[tuple[str, ...]] = (
        "oauth2",
        "oauth2_client_credentials",
        "oauth2_refresh_token",
    )
    client_id: str = ""
    client_secret: str | None = None
    refresh_token: str | None = None
    token_url: str | None = None
    access_token_url: str | None = None
    scopes: str | tuple[str, ...] | None = None
    client_auth: Literal["body", "basic"] = "body"
    default_token_expiration: int | None = None
    access_token_request_data: Mapping[str, Any] = field(default_factory=dict)


#: Auth spec types by every ``type`` name a definition may use.
AUTH_SPECS: dict[str, type[AuthSpec]] = {
    name: spec
    for spec in (BearerAuthSpec, APIKeyAuthSpec, HTTPBasicAuthSpec, OAuth2AuthSpec)
    for name in spec.type_names
}


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class RateLimit:
    """``client.rate_limit``: how fast the API lets one client go (the ``max_requests_per_second``
    setting overrides it)."""

    max_requests_per_second: float | None = None

    @classmethod
    def keys(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls))


@dataclass(frozen=True)
class ResponseAction:
    """One of dlt's ``response_actions``: an answer whose status is ``status_code`` and/or
    whose body contains ``content`` is ignored (no records, paging stops, not an error, never
    retried). ``ignore`` is the only action dlt takes for a name; the others are callables."""

    status_code: int | None = None
    content: str | None = None
    action: Literal["ignore"] = "ignore"

    def matches(self, status: int, text: Callable[[], str]) -> bool:
        """Whether an answer with ``status`` and body ``text()`` matches (dlt's rule: both
        given, both must hold; the body is read only when ``content`` is given)."""
        if self.status_code is not None and status != self.status_code:
            return False
        return self.content is None or self.content in text()


@dataclass(frozen=True)
class ErrorHandler:
    """Which statuses are retried, how often, and how fast the waits grow; which answers are
    ignored (the endpoint's ``response_actions``, decided before any retry)."""

    retry_on_status_codes: tuple[int, ...] = DEFAULT_RETRY_CODES
    max_retries: int = 5
    backoff_factor: float = 1.0
    response_actions: tuple[ResponseAction, ...] = ()

    def ignores(self, status: int, text: Callable[[], str]) -> bool:
        """Whether a response action ignores this answer."""
        return actions_ignore(self.response_actions, status, text)


def actions_ignore(
    actions: tuple[ResponseAction, ...], status: int, text: Callable[[], str]
) -> bool:
    """Whether one of ``actions`` ignores an answer of ``status`` (``text``: its body, read
    only when an action matches on content)."""
    return any(action.matches(status, text) for action in actions)


#: dlt's column ``data_type`` names and the JSON Schema each becomes.
COLUMN_TYPES: dict[str, dict[str, Any]] = {
    "text": {"type": ["string"]},
    "bigint": {"type": ["integer"]},
    "double": {"type": ["number"]},
    "decimal": {"type": ["number"]},
    "wei": {"type": ["integer"]},
    "bool": {"type": ["boolean"]},
    "timestamp": {"type": ["string"], "format": "date-time"},
    "date": {"type": ["string"], "format": "date"},
    "time": {"type": ["string"], "format": "time"},
    "binary": {"type": ["string"], "contentEncoding": "base64"},
    "json": {"type": ["object", "array"]},
}


@dataclass(frozen=True)
class ColumnHint:
    """dlt's column hint for one field: its ``data_type`` (a :data:`COLUMN_TYPES` name) and
    whether it may be null (dlt's default: yes); turned into the stream's schema."""

    data_type: str | None = None
    #: ``None``: not said (a hinted ``data_type`` then allows null, as dlt's default does).
    nullable: bool | None = None
    description: str | None = None


@dataclass(frozen=True)
class Incremental:
    """A replication key (a date-time, or a number when ``initial_value`` or ``end_value`` is
    one), how the server can filter on it, and dlt's range rules for the records."""

    cursor_path: str  # a field, or a dot path into the record
    start_param: str | None = None
    initial_value: Any = None
    row_order: Literal["asc", "desc"] | None = None  # where the API guarantees an order
    per_parent: bool = False  # child streams: one bookmark per parent record
    #: How ``start_param`` carries the start: ``rfc3339``, ``date``, ``epoch``, ``epoch_ms`` or
    #: a pendulum format pattern (``YYYY-MM-DD HH:mm:ss``).
    start_format: str = "rfc3339"
    #: The cursor is a creation time (it never changes when the record does): the stream is read
    #: in full unless the catalog chooses this key (the resource is append-only for the user).
    opt_in: bool = False
    #: dlt's keys: the end of the range (a backfill; no bookmark is kept while it is set) and
    #: the query parameter that carries it.
    end_param: str | None = None
    end_value: Any = None
    #: Seconds (date-time cursors) or units (numbers) the start steps back from the bookmark.
    lag: float | None = None
    on_cursor_value_missing: Literal["raise", "include", "exclude"] = "include"
    range_start: Literal["open", "closed"] = "closed"
    range_end: Literal["open", "closed"] = "open"
    #: ``max``: the bookmark is the largest cursor seen; ``min``: the smallest (newest first).
    last_value_func: Literal["max", "min"] = "max"

    @property
    def numeric(self) -> bool:
        """Cursor values are numbers, compared as numbers (dlt takes the cursor's type from
        ``initial_value``); otherwise they are instants."""
        return any(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in (self.initial_value, self.end_value)
        )


@dataclass(frozen=True)
class ParentBinding:
    """``{placeholder}`` (in the path, or a query parameter) takes ``field`` of a parent record.

    A dlt expression ``{resources.R.F}`` (in the path, params, json or headers) is a binding whose
    ``expression`` is ``resources.R.F``; its value travels (and lands in child records) under
    ``placeholder`` = ``_R_F`` (dlt's ``include_from_parent`` name); ``field`` may be a dot path.
    """

    placeholder: str
    resource: str
    field: str
    in_path: bool
    expression: str | None = None


@dataclass(frozen=True)
class Resource:
    """One endpoint of the API: becomes one Singer stream."""

    name: str
    path: str
    method: str = "GET"
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    #: dlt's ``data``: a form body (a mapping, sent form-encoded) or a raw string body.
    data: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    data_selector: str | None = None
    paginator: PaginatorSpec | None = None
    error_handler: ErrorHandler = ErrorHandler()
    primary_key: tuple[str, ...] = ()
    write_disposition: Literal["append", "merge", "replace"] = "append"
    incremental: Incremental | None = None
    bindings: tuple[ParentBinding, ...] = ()
    include_from_parent: tuple[str, ...] = ()
    schema_file: Path | None = None
    selected: bool = True
    #: dlt's schema contract for this resource: a mode, or ``{columns: ..., data_type: ...}``.
    schema_contract: str | Mapping[str, str] | None = None
    #: The endpoint's own ``auth`` (alternatives, as ``client.auth``): ``None`` takes the
    #: client's; ``()`` (``auth: null``) sends no credentials.
    auth: tuple[AuthSpec, ...] | None = None
    #: dlt's ``columns`` hints, merged over the stream's declared or inferred schema.
    columns: Mapping[str, ColumnHint] = field(default_factory=dict)

    @property
    def parent(self) -> str | None:
        return self.bindings[0].resource if self.bindings else None


@dataclass(frozen=True)
class Definition:
    """A validated API definition with settings filled in (auth alternatives excepted)."""

    name: str
    origin: str
    base_url: str
    headers: Mapping[str, str]
    auth: tuple[AuthSpec, ...]
    resources: tuple[Resource, ...]
    #: Placeholders left unfilled because their setting is not set (discovery needs none).
    unfilled: tuple[str, ...] = ()
    #: Settings the definition's ``${name}`` placeholders name (credentials, account ids, ...).
    settings_used: tuple[str, ...] = ()
    #: ``client.rate_limit``: the API's request budget, shared by every worker of a run.
    rate_limit: RateLimit = RateLimit()
    #: One line each about dlt keys the file carries that the tap accepts without acting on them
    #: (destination hints) or maps onto something else; logged once when the tap starts.
    notes: tuple[str, ...] = ()

    def require_settings(self) -> None:
        """Raise for the first ``${setting}`` that a sync would need but is not set."""
        if self.unfilled:
            raise DefinitionError(self.unfilled[0])

    def resource(self, name: str) -> Resource:
        return next(r for r in self.resources if r.name == name)
