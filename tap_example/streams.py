"""One SDK ``RESTStream`` base for every definition resource, and the factory of its subclasses.

:class:`DefinitionStream` carries every policy once (URL building, paging, auth, retries,
record selection, parent bindings, incremental filtering); :func:`make_stream_class` turns a
:class:`~tap_example.definition.Resource` into a small subclass with the SDK's class attributes
(``name``, ``path``, ``primary_keys``, ``replication_key``, ``parent_stream_type``, ...).
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import backoff
import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.streams.rest import HTTPRequest, PageContext

from tap_example.auth import OAuth2Authenticator, server_message
from tap_example.concurrency import (
    concurrency_of,
    gated,
    note_retry,
    prefetch_aware,
    prefetch_children,
    settle_pages_ahead,
)
from tap_example.definition import Definition, ErrorHandler, Incremental, Resource
from tap_example.errors import APIError, PaginationError, mask_url
from tap_example.jsonpaths import MISSING, compile_path
from tap_example.pagination import DefinitionPaginator, build_paginator, response_document
from tap_example.progress import StreamProgress
from tap_example.sdk_fastpath import CompiledRecordPath
from tap_example.timestamps import bookmark_string, parse_timestamp, to_utc_string

if TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context, RequestFunc

#: Longest wait a ``Retry-After`` header may impose, in seconds.
MAX_RETRY_AFTER = 300.0
_AUTO_SELECTOR_KEYS = ("data", "items", "results", "records", "entries")


class TokenRejectedError(Exception):
    """The API answered 401 to an OAuth token: renew it once and resend."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


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


class DefinitionStream(CompiledRecordPath, RESTStream[Any]):
    """A stream whose behaviour comes from one definition resource."""

    definition: ClassVar[Definition]
    resource: ClassVar[Resource]
    #: Dot-path getter for the records in a response (compiled once per class).
    select_records: ClassVar[Callable[[Any], Any] | None] = None
    #: Top-level schema properties that hold date-times (normalised to UTC ``Z``).
    datetime_fields: ClassVar[tuple[str, ...]] = ()

    # -- SDK attributes ---------------------------------------------------------------
    @property
    def settings(self) -> Mapping[str, Any]:
        """The tap's settings (config plus the sandbox's address when ``sandbox`` is on)."""
        return self._tap.settings  # type: ignore[attr-defined, no-any-return]

    @property
    def url_base(self) -> str:
        return str(self.settings.get("base_url") or self.definition.base_url).rstrip("/")

    @property
    def authenticator(self) -> Any:
        auth = self._tap.authenticator  # type: ignore[attr-defined]
        return auth if auth is not None else _no_auth  # a definition without ``auth``

    @property
    def timeout(self) -> int:
        return int(self.settings.get("request_timeout") or 60)

    @property
    def http_headers(self) -> dict[str, str]:
        return {"Accept": "application/json", **self.definition.headers, **self.resource.headers}

    @property
    def user_agent(self) -> str:
        return str(self.settings.get("user_agent") or self._tap.default_user_agent)  # type: ignore[attr-defined]

    @property
    def emit_activate_version_messages(self) -> bool:
        return self.resource.write_disposition == "replace"

    # -- requests ---------------------------------------------------------------------
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        self._tap.prepare_for_requests()  # type: ignore[attr-defined]
        self.__dict__["_partition_max"] = None  # see _increment_stream_state
        try:
            yield from prefetch_children(self, super().get_records(context), context)
        except Exception:
            self._flush_output()  # records already emitted reach the target before the error
            raise

    def _flush_output(self) -> None:
        """Write out whatever the message writer still holds (it gathers RECORD lines)."""
        flush = getattr(self._tap.message_writer, "flush", None)
        if callable(flush):
            flush()

    @property
    def requests_session(self) -> requests.Session:
        """One pooled keep-alive session per host, shared by every stream and worker."""
        return concurrency_of(self._tap).session_for(self.url_base)

    def get_url(self, context: Context | None) -> str:
        """Base URL + path, with ``{placeholders}`` taken from the parent context only."""
        path = self.resource.path
        for binding in self.resource.bindings:
            if binding.in_path:
                value = (context or {}).get(binding.placeholder)
                path = path.replace(f"{{{binding.placeholder}}}", quote(str(value), safe=""))
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.url_base}/{path.lstrip('/')}"

    def get_new_paginator(self) -> DefinitionPaginator:
        paginator = build_paginator(self.resource.paginator, self._tap.page_size)  # type: ignore[attr-defined]
        paginator.max_pages = self._tap.max_pages  # type: ignore[attr-defined]
        self._active_paginator = paginator
        return paginator

    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The SDK's paging loop; a paging error names this stream."""
        self.__dict__["_pages_ahead"] = []  # pages fetched ahead (tap_example.concurrency)
        try:
            yield from super().request_records(context)
        except PaginationError as exc:
            raise PaginationError(f"stream '{self.name}': {exc}") from None
        finally:
            settle_pages_ahead(self, timeout=self.timeout)

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.resource.params)
        for binding in self.resource.bindings:
            if not binding.in_path:
                params[binding.placeholder] = (context or {}).get(binding.placeholder)
        incremental = self.incremental
        if incremental and incremental.start_param and not self._lists_every_parent:
            start = self._starting_value(context)
            if start is not None:
                params[incremental.start_param] = to_utc_string(start)
        return params

    def prepare_request_payload(self, context: Context | None, next_page_token: Any) -> Any:
        body = self.resource.json
        return json.loads(json.dumps(body)) if body is not None else None

    def get_http_request(self, *, page: PageContext[Any]) -> HTTPRequest:
        request = super().get_http_request(page=page)
        request.method = self.resource.method
        template = getattr(self, "_request_paginator", None)
        if template is None:
            template = self._request_paginator = build_paginator(
                self.resource.paginator,
                self._tap.page_size,  # type: ignore[attr-defined]
            )
        template.apply(request, page.next_page_token)
        return request

    # -- progress ---------------------------------------------------------------------
    @property
    def progress(self) -> StreamProgress:
        progress = self.__dict__.get("_progress")
        if progress is None:
            progress = self.__dict__["_progress"] = StreamProgress(self.name, self.logger)
        return progress

    def calculate_sync_cost(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> dict[str, int]:
        """Count requests and records per page (the SDK sums these into the stream's sync costs)."""
        data = self._select(response_document(response)) if response.content else None
        records = len(data) if isinstance(data, list) else int(isinstance(data, dict))
        self.progress.on_page(records)
        return {"requests": 1, "records_read": records}

    def log_sync_costs(self) -> None:
        """At the end of the run (the SDK calls this for every stream once all are synced):
        everything the writer still holds goes out, then one summary line per stream."""
        self._flush_output()
        if self.progress.requests:
            self.logger.info("%s", self.progress.summary())

    # -- responses --------------------------------------------------------------------
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            if status != 204 and response.content:
                try:
                    response_document(response)
                except APIError as exc:  # a truncated or garbled body is worth another try
                    raise RetriableAPIError(f"stream '{self.name}': {exc}", response) from None
            return
        if status == 401 and isinstance(self.authenticator, OAuth2Authenticator):
            raise TokenRejectedError(response)
        message = self._failure_message(response)
        if status in self._retry_policy.retry_on_status_codes:
            raise RetriableAPIError(message, response)
        raise APIError(message)

    def _failure_message(self, response: requests.Response) -> str:
        status = response.status_code
        text = (
            f"stream '{self.name}': {response.request.method} {mask_url(response.url)} failed with HTTP "
            f"{status} {response.reason or ''}".rstrip()
            + f": {server_message(response)}"
        )
        if status in (401, 403):
            given = [n for n in self.definition.settings_used if self.settings.get(n)]
            text += f" (check the credentials for the '{self.definition.name}' API"
            text += f": settings {', '.join(given)})" if given else ")"
        return text

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        document = response_document(response)
        data = self._select(document)
        if data is MISSING or data is document:
            self._check_not_an_error(response, document)
        if data is MISSING or data is None:
            if data is MISSING:
                self._note_missing_records(response)
            return
        if isinstance(data, dict):
            yield data
            return
        if not isinstance(data, list):
            msg = f"stream '{self.name}': data_selector at {mask_url(response.url)} found a {type(data).__name__}, not records"
            raise APIError(msg)
        odd = next((record for record in data if not isinstance(record, dict)), None)
        if odd is not None:  # checked before the first record of the page goes out
            msg = f"stream '{self.name}': a record at {mask_url(response.url)} is a {type(odd).__name__}, not an object"
            raise APIError(msg)
        paginator = self.__dict__.get("_active_paginator")
        if paginator is not None:
            paginator.check_page_is_new(response, data)
        self.__dict__["extracted_at"] = datetime.now(timezone.utc)  # this page's time_extracted
        stop_below = self._desc_stop_value
        if stop_below is None:
            yield from data
            return
        oldest_on_page: datetime | None = None
        for record in data:
            stamp = parse_timestamp(record.get(self.replication_key or ""))
            if stamp is not None and (oldest_on_page is None or stamp < oldest_on_page):
                oldest_on_page = stamp
            yield record
        if oldest_on_page is not None and oldest_on_page < stop_below:
            # Newest-first API: every later page is older than this page's oldest record,
            # which is already older than the bookmark.
            self._active_paginator.stop()

    def _check_not_an_error(self, response: requests.Response, document: Any) -> None:
        """A success status with an error body (``{"error": ...}`` and no records) ends the run."""
        if isinstance(document, dict) and (document.get("error") or document.get("errors")):
            msg = (
                f"stream '{self.name}': {response.request.method} {mask_url(response.url)} answered "
                f"HTTP {response.status_code} with an error instead of records: {server_message(response)}"
            )
            raise APIError(msg)

    def _note_missing_records(self, response: requests.Response) -> None:
        """A page without the data_selector's path may be an API's way to say "none" (HAL
        omits empty ``_embedded``), so the run goes on; say so once per stream."""
        if not self.__dict__.get("_missing_logged"):
            self.__dict__["_missing_logged"] = True
            self.logger.warning(
                "stream '%s': %s %s answered without %r (the data_selector); no records taken "
                "from it (later pages like this are not reported)",
                self.name,
                response.request.method,
                mask_url(response.url),
                self.resource.data_selector or "a list of records",
            )

    def _select(self, document: Any) -> Any:
        getter = type(self).select_records
        if getter is not None:
            return getter(document)
        if isinstance(document, list):
            return document
        if isinstance(document, dict):
            for key in _AUTO_SELECTOR_KEYS:
                if isinstance(document.get(key), list):
                    return document[key]
            for value in document.values():
                if isinstance(value, list) and (not value or isinstance(value[0], dict)):
                    return value
        return document

    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        fields = self.schema_fields
        if not fields.issuperset(row):
            extra = row.keys() - fields
            self._note_schema_drift(extra)
            for name in extra:
                del row[name]
        if context is not None:
            for binding in self.resource.bindings:
                if binding.placeholder not in row:
                    row[binding.placeholder] = context.get(binding.placeholder)
            parent = self.resource.parent
            for field in self.resource.include_from_parent:
                row[f"_{parent}_{field}"] = context.get(f"_{parent}_{field}")
        for field in self.datetime_fields:
            value = row.get(field)
            if value is not None and not (type(value) is str and value[-1:] == "Z"):
                row[field] = to_utc_string(value)
        if self.replication_key and self.is_older_than_bookmark(row, context):
            self._sync_every_parent_children(row, context)
            return None
        return row

    def is_older_than_bookmark(self, record: Mapping[str, Any], context: Context | None) -> bool:
        """The client-side incremental filter: a record older than the bookmark (or start) is
        not emitted again; one equal to it is (it may share its instant with an unseen one)."""
        if not self.replication_key:
            return False
        bookmark = self._client_filter_value(context)
        if bookmark is None:
            return False
        stamp = parse_timestamp(record.get(self.replication_key))
        return stamp is not None and stamp < bookmark

    def children_synced_for(self, record: Mapping[str, Any], context: Context | None) -> list[Any]:
        """The selected child streams a sync visits for ``record``: all of them when it is
        emitted, only those that need every parent when the incremental filter drops it."""
        if self.is_older_than_bookmark(record, context):
            return list(self._every_parent_children)
        return [c for c in self.child_streams if c.selected or c.has_selected_descendents]

    @property
    def schema_fields(self) -> frozenset[str]:
        fields = self.__dict__.get("_schema_fields")
        if fields is None:
            fields = self.__dict__["_schema_fields"] = frozenset(
                self.schema.get("properties") or {}
            )
        return fields

    def _note_schema_drift(self, extra: Iterable[str]) -> None:
        """Fields the server added (schema drift) are dropped; say so once per field."""
        seen: set[str] = self.__dict__.setdefault("_drift_logged", set())
        new = sorted(set(extra) - seen)
        if new:
            seen.update(new)
            self.logger.info(
                "stream '%s': ignoring fields not in its schema: %s", self.name, ", ".join(new)
            )

    # -- parents and children ---------------------------------------------------------
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        child_context: dict[str, Any] = {}
        for child in self.child_streams:
            resource: Resource = child.resource  # type: ignore[attr-defined]
            for binding in resource.bindings:
                child_context[binding.placeholder] = record.get(binding.field)
            for field in resource.include_from_parent:
                child_context[f"_{self.name}_{field}"] = record.get(field)
        return child_context

    # -- incremental ------------------------------------------------------------------
    @property
    def incremental(self) -> Incremental | None:
        """The resource's incremental spec, when this stream is incremental (not ``replace``)."""
        return self.resource.incremental if self.replication_key else None

    def _starting_value(self, context: Context | None) -> Any:
        """Where this context's sync starts: the bookmark or ``start_date`` (the later one),
        else the definition's ``initial_value``.

        Inside the SDK's sync of the context this is the value it froze in state
        (``starting_replication_value``); a child's first request prepared ahead of that sync
        (see :mod:`tap_example.concurrency`) works it out from state the same way the SDK will.
        """
        saved = self._saved_state(context)
        if "starting_replication_value" in saved:
            value = saved["starting_replication_value"]
        else:
            value = saved.get("replication_key_value")
            if not value or saved.get("replication_key") != self.replication_key:
                value = None
            start_date = self.config.get("start_date")
            if start_date:
                value = self.compare_start_date(value, start_date) if value else start_date
        if value is None and self.incremental:
            value = self.incremental.initial_value
        return value

    def _saved_state(self, context: Context | None) -> Mapping[str, Any]:
        """This context's state entry, read without creating one."""
        entry = (self.tap_state.get("bookmarks") or {}).get(self.name) or {}
        partition = self.state_manager.get_state_partition_context(context)
        if not partition:
            return entry
        partitions = entry.get("partitions") or []
        return next((p for p in partitions if p.get("context") == partition), {})

    def _client_filter_value(self, context: Context | None) -> datetime | None:
        """The bookmark (or start) of the context's state partition, parsed once per partition."""
        last = self.__dict__.get("_filter_last")
        if last is not None and last[0] is context:  # same context as the previous record
            return last[1]  # type: ignore[no-any-return]
        cache = self.__dict__.setdefault("_filter_cache", {})
        partition = self.state_manager.get_state_partition_context(context) or {}
        key = json.dumps(partition, sort_keys=True, default=str)
        if key not in cache:
            cache[key] = parse_timestamp(self._starting_value(context))
        self.__dict__["_filter_last"] = (context, cache[key])
        return cache[key]  # type: ignore[no-any-return]

    @property
    def _desc_stop_value(self) -> datetime | None:
        incremental = self.incremental
        if not incremental or incremental.row_order != "desc" or self._lists_every_parent:
            return None
        return self._client_filter_value(self.context)

    @property
    def _every_parent_children(self) -> list[DefinitionStream]:
        """Selected children that must be visited for every parent record, not only for the
        parents this run emits: those with per-parent bookmarks, and those whose endpoint filters
        on the bookmark server-side (``start_param``) — a child can change while its parent does
        not, and asking each parent "anything newer than the bookmark?" is cheap and loses nothing.
        Children without a server filter are fetched only for emitted parents (re-reading every
        child list would be a full sync); see the README's incremental section."""
        return [
            child
            for child in self.child_streams
            if isinstance(child, DefinitionStream)
            and (child.selected or child.has_selected_descendents)
            and (
                child.state_partitioning_keys
                or (child.incremental is not None and child.incremental.start_param)
            )
        ]

    @property
    def _lists_every_parent(self) -> bool:
        """Some children need every parent each run, not only new ones: no server filter and
        no early stop here; the client filter still decides what is emitted."""
        return bool(self._every_parent_children)

    def _sync_every_parent_children(self, record: dict[str, Any], context: Context | None) -> None:
        """A parent record older than the bookmark is not emitted again, but some children may
        have news under it (their own bookmarks and server filters decide what is new)."""
        children = self._every_parent_children
        if not children:
            return
        for child_context in self.generate_child_contexts(record=record, context=context):
            for child in children:
                child.sync(context=dict(child_context or {}))

    def get_replication_key_signpost(self, context: Context | None = None) -> Any:
        """The SDK's cap on bookmarks (the sync's start), in the same form as the bookmarks."""
        signpost = super().get_replication_key_signpost(context)
        return bookmark_string(signpost) if signpost is not None else None

    # -- retries ----------------------------------------------------------------------
    @property
    def _retry_policy(self) -> ErrorHandler:
        handler = self.resource.error_handler
        max_retries = self.settings.get("max_retries")
        factor = self.settings.get("backoff_factor")
        return ErrorHandler(
            retry_on_status_codes=handler.retry_on_status_codes,
            max_retries=int(max_retries) if max_retries is not None else handler.max_retries,
            backoff_factor=float(factor) if factor is not None else handler.backoff_factor,
        )

    def backoff_max_tries(self) -> int:
        return self._retry_policy.max_retries + 1

    def backoff_jitter(self, value: float) -> float:
        return value

    def backoff_wait_generator(self) -> Any:
        """``backoff_factor * 2**n``, unless the answer's ``Retry-After`` says otherwise."""
        factor = self._retry_policy.backoff_factor

        def waits() -> Any:
            exception = yield
            attempt = 0
            while True:
                response = getattr(exception, "response", None)
                after = retry_after_seconds(response)
                wait = after if after is not None else factor * math.pow(2, attempt)
                attempt += 1
                exception = yield wait

        return waits()

    def backoff_handler(self, details: Details) -> None:
        exception = details.get("exception")
        response = getattr(exception, "response", None)
        cause = f"HTTP {response.status_code}" if response is not None else type(exception).__name__
        where = mask_url(response.url) if response is not None else self.path
        self.logger.info(
            "stream '%s': %s from %s; retry %d of %d in %.2f s",
            self.name,
            cause,
            where,
            details.get("tries", 0),
            self._retry_policy.max_retries,
            details.get("wait", 0.0),
        )
        self.progress.on_retry()
        note_retry(self._tap, response, float(details.get("wait") or 0.0))

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Retries from the SDK, plus one token renewal on 401, plus one-line final errors."""
        func = gated(self._tap, func)  # every attempt waits for a slot (and after a 429)

        def renewing_token(
            prepared: requests.PreparedRequest, context: Context | None
        ) -> requests.Response:
            try:
                return func(prepared, context)
            except TokenRejectedError as rejected:
                auth = self.authenticator
                self.logger.info(
                    "stream '%s': access token refused (HTTP 401); renewing it", self.name
                )
                auth.invalidate(_bearer(rejected.response.request))
                try:
                    return func(prepared, context)
                except TokenRejectedError as again:
                    message = self._failure_message(again.response)
                    if 401 in self._retry_policy.retry_on_status_codes:
                        auth.invalidate(_bearer(again.response.request))
                        raise RetriableAPIError(message, again.response) from None
                    raise APIError(message) from None

        # The SDK's decorator, minus backoff's own log lines (they print raw URLs).
        retrying = backoff.on_exception(
            self.backoff_wait_generator,
            (
                ConnectionResetError,
                RetriableAPIError,
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ),
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(renewing_token)

        def call(prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:
            try:
                return retrying(prepared, context)
            except RetriableAPIError as exc:
                retries = self._retry_policy.max_retries
                raise APIError(f"{exc} (gave up after {retries} retries)") from None
            except (requests.RequestException, ConnectionResetError) as exc:
                retries = self._retry_policy.max_retries
                msg = (
                    f"stream '{self.name}': {prepared.method} {mask_url(prepared.url or '')} failed: "
                    f"{type(exc).__name__} (gave up after {retries} retries)"
                )
                raise APIError(msg) from None

        return prefetch_aware(self, call)  # child answers fetched ahead are used first


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def _bearer(request: requests.PreparedRequest | None) -> str | None:
    header = (request.headers.get("Authorization") if request is not None else None) or ""
    return header[7:] if header.startswith("Bearer ") else None


def make_stream_class(
    definition: Definition,
    resource: Resource,
    schema: Mapping[str, Any],
    parent_class: type[DefinitionStream] | None,
) -> type[DefinitionStream]:
    """Build the ``DefinitionStream`` subclass for one resource."""
    # `replace` resources are re-read whole every run (full table, ACTIVATE_VERSION).
    incremental = resource.incremental if resource.write_disposition != "replace" else None
    per_parent_state = bool(incremental and incremental.per_parent and resource.bindings)
    attributes: dict[str, Any] = {
        "__doc__": f"Stream '{resource.name}': {resource.method} {resource.path}",
        "__module__": __name__,
        "name": resource.name,
        "path": resource.path,
        "definition": definition,
        "resource": resource,
        "schema": dict(schema),
        "primary_keys": list(resource.primary_key)
        if resource.write_disposition != "append"
        else [],
        "replication_key": incremental.cursor_path if incremental else None,
        "is_sorted": bool(incremental and incremental.row_order == "asc"),
        "selected_by_default": resource.selected,
        "parent_stream_type": parent_class,
        "state_partitioning_keys": (
            [b.placeholder for b in resource.bindings] if per_parent_state else []
        )
        if parent_class
        else None,
        "select_records": compile_path(resource.data_selector)
        if resource.data_selector is not None
        else None,
        "datetime_fields": tuple(
            name
            for name, prop in (schema.get("properties") or {}).items()
            if isinstance(prop, dict) and prop.get("format") == "date-time"
        ),
    }
    class_name = "".join(part.capitalize() for part in resource.name.split("_")) + "Stream"
    return type(class_name, (DefinitionStream,), attributes)
