"""Records: found in a response body (the ``data_selector``) and shaped for the stream's schema."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple, Protocol

import requests
from singer_sdk.mapper import SameRecordTransform

from tap_example.definition.model import Resource
from tap_example.engine.contract import SchemaContract, SchemaContractError, contract_spec
from tap_example.engine.documents import response_document, server_message
from tap_example.engine.incremental import IncrementalPolicy
from tap_example.engine.paging import first_page_warning
from tap_example.engine.partition import StreamRun
from tap_example.errors import APIError, mask_url
from tap_example.jsonpaths import MISSING, compile_selector
from tap_example.timestamps import to_utc_string

#: Keys that commonly hold the records when a resource names no ``data_selector``.
AUTO_SELECTOR_KEYS = ("data", "items", "results", "records", "entries")


class Page(NamedTuple):
    """A page's records, whether the body held a list (not a single object), and whether a
    response action ignored the answer (no records, and paging stops)."""

    records: list[dict[str, Any]]
    from_list: bool
    ignored: bool = False


class RecordSelector:
    """Finds a page's records: the ``data_selector`` (a dot path, or JSONPath compiled once),
    or the first list of objects; an answer a response action ignores has none (counted, and
    said in one line at the end: :meth:`log_ignored`)."""

    def __init__(self, stream_name: str, resource: Resource, logger: logging.Logger) -> None:
        self.stream_name = stream_name
        self.resource = resource
        self.logger = logger
        self._getter: Callable[[Any], Any] | None = (
            compile_selector(resource.data_selector) if resource.data_selector is not None else None
        )
        self._missing_logged = False
        self._handler = resource.error_handler
        #: Answers ignored by the endpoint's ``response_actions``, by status.
        self.ignored: Counter[int] = Counter()
        self._ignored_lock = threading.Lock()
        #: The response :meth:`count` selected from, with its document and selection: the
        #: SDK counts a page just before it reads it, and :meth:`page` selects only once.
        self._counted: tuple[requests.Response, Any, Any] | None = None

    def ignores(self, response: requests.Response) -> bool:
        """Whether one of the endpoint's response actions ignores ``response``."""
        return self._handler.ignores(response.status_code, lambda: response.text)

    def ignored_line(self) -> str | None:
        """The one line saying how many answers the response actions ignored (``None``: none)."""
        with self._ignored_lock:
            if not self.ignored:
                return None
            total = sum(self.ignored.values())
            statuses = ", ".join(f"HTTP {s}: {n}" for s, n in sorted(self.ignored.items()))
        return (
            f"stream '{self.stream_name}': {total} {'response' if total == 1 else 'responses'} "
            f"ignored by the endpoint's response_actions ({statuses}); they gave no records"
        )

    def log_ignored(self) -> None:
        """Log :meth:`ignored_line` at INFO, once per stream (call it at the stream's end)."""
        line = self.ignored_line()
        if line is not None:
            self.logger.info("%s", line)

    def select(self, document: Any) -> Any:
        if self._getter is not None:
            return self._getter(document)
        if isinstance(document, list):
            return document
        if isinstance(document, dict):
            for key in AUTO_SELECTOR_KEYS:
                if isinstance(document.get(key), list):
                    return document[key]
            for value in document.values():
                if isinstance(value, list) and (not value or isinstance(value[0], dict)):
                    return value
        return document

    def count(self, response: requests.Response) -> int:
        """Records on a page (for progress and the SDK's sync costs)."""
        if self._handler.response_actions and self.ignores(response):
            return 0
        if not response.content:
            return 0
        document = response_document(response)
        data = self.select(document)
        self._counted = (response, document, data)
        return len(data) if isinstance(data, list) else int(isinstance(data, dict))

    def page(self, response: requests.Response) -> Page:
        """The page's records; an error body, a non-list or a non-object record ends the run."""
        if self._handler.response_actions and self.ignores(response):
            with self._ignored_lock:
                self.ignored[response.status_code] += 1
            self.logger.debug(
                "stream '%s': HTTP %s from %s ignored (response_actions)",
                self.stream_name,
                response.status_code,
                mask_url(response.url),
            )
            return Page([], from_list=False, ignored=True)
        counted, self._counted = self._counted, None
        if counted is not None and counted[0] is response:
            _, document, data = counted
        else:
            document = response_document(response)
            data = self.select(document)
        if data is MISSING or data is document:
            self._check_not_an_error(response, document)
        if data is MISSING or data is None:
            if data is MISSING:
                self._note_missing_records(response)
            return Page([], from_list=False)
        if isinstance(data, dict):
            return Page([data], from_list=False)
        if not isinstance(data, list):
            msg = f"stream '{self.stream_name}': data_selector at {mask_url(response.url)} found a {type(data).__name__}, not records"
            raise APIError(msg)
        plain = set(map(type, data)) <= {dict}  # the usual page, checked in C
        odd = None if plain else next((r for r in data if not isinstance(r, dict)), None)
        if odd is not None:  # checked before the first record of the page goes out
            msg = f"stream '{self.stream_name}': a record at {mask_url(response.url)} is a {type(odd).__name__}, not an object"
            raise APIError(msg)
        return Page(data, from_list=True)

    def _check_not_an_error(self, response: requests.Response, document: Any) -> None:
        """A success status with an error body (``{"error": ...}`` and no records) ends the run."""
        if isinstance(document, dict) and (document.get("error") or document.get("errors")):
            msg = (
                f"stream '{self.stream_name}': {response.request.method} {mask_url(response.url)} answered "
                f"HTTP {response.status_code} with an error instead of records: {server_message(response)}"
            )
            raise APIError(msg)

    def _note_missing_records(self, response: requests.Response) -> None:
        """A page without the data_selector's path may be an API's way to say "none" (HAL
        omits empty ``_embedded``), so the run goes on; say so once per stream."""
        if not self._missing_logged:
            self._missing_logged = True
            self.logger.warning(
                "stream '%s': %s %s answered without %r (the data_selector); no records taken "
                "from it (later pages like this are not reported)",
                self.stream_name,
                response.request.method,
                mask_url(response.url),
                self.resource.data_selector or "a list of records",
            )


class ShapedStream(Protocol):
    """What a shaper needs of its stream."""

    @property
    def name(self) -> str: ...

    @property
    def resource(self) -> Resource: ...

    @property
    def logger(self) -> logging.Logger: ...

    @property
    def settings(self) -> Mapping[str, Any]: ...

    @property
    def schema(self) -> dict[str, Any]: ...

    def flush_writer(self) -> None:
        """Write out the records the writer still holds."""

    def schema_changed(self, properties: dict[str, Any]) -> None:
        """The contract changed these properties of the schema: send it again before the next
        record."""


class RecordShaper:
    """Shapes a record for the stream: the schema contract applied (fields the schema does not
    know), parent values added, date-times in UTC ``Z``."""

    def __init__(
        self,
        resource: Resource,
        contract: SchemaContract,
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        self.resource = resource
        self.contract = contract
        #: Writes out the records already emitted (before a ``freeze`` contract ends the run).
        self.flush = flush
        self.refresh()

    @classmethod
    def for_stream(cls, stream: ShapedStream) -> RecordShaper:
        """The shaper of ``stream``, its contract from the settings and the definition; when
        the contract changes the schema, the shaper re-reads it and tells the stream."""
        spec = contract_spec(stream.settings, stream.resource)
        holder: list[RecordShaper] = []

        def changed(properties: dict[str, Any]) -> None:
            holder[0].refresh()
            stream.schema_changed(properties)

        contract = SchemaContract(stream.name, stream.schema, spec, stream.logger, changed)
        holder.append(cls(stream.resource, contract, stream.flush_writer))
        return holder[0]

    def refresh(self) -> None:
        """Re-read the schema (the contract may have added a date-time field)."""
        properties = self.contract.schema.get("properties") or {}
        #: Top-level schema properties that hold date-times (normalised to UTC ``Z``).
        self.datetime_fields = tuple(
            name
            for name, prop in properties.items()
            if isinstance(prop, dict) and prop.get("format") == "date-time"
        )

    def shape(
        self, row: dict[str, Any], context: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """The record shaped, or ``None`` when the contract skips it."""
        try:
            shaped = self.contract.apply(row)
        except SchemaContractError:
            self.flush()
            raise
        if shaped is None:
            return None
        if context is not None:
            for binding in self.resource.bindings:
                if binding.placeholder not in shaped:
                    shaped[binding.placeholder] = context.get(binding.placeholder)
            parent = self.resource.parent
            for field in self.resource.include_from_parent:
                shaped[f"_{parent}_{field}"] = context.get(f"_{parent}_{field}")
        for field in self.datetime_fields:
            value = shaped.get(field)
            if value is not None and not (type(value) is str and value[-1:] == "Z"):
                shaped[field] = to_utc_string(value)
        return shaped


class PageReader:
    """One page of a stream: its records, checked, with what the page tells the paging loop."""

    def __init__(
        self,
        selector: RecordSelector,
        incremental: IncrementalPolicy,
        run: StreamRun,
        logger: logging.Logger,
    ) -> None:
        self.selector = selector
        self.incremental = incremental
        self.run = run
        self.logger = logger
        self._params = dict(selector.resource.params)
        self._wrong_path_logged = False

    def read(
        self, response: requests.Response, context: Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        """The page's records. A page already served means paging is stuck (an error); a full
        first page without the paginator's path is said once; on a newest-first list a page
        reaching below the bookmark is the last one read."""
        page = self.selector.page(response)
        partition = self.run.partition
        if page.ignored and partition.paginator is not None:
            partition.paginator.stop()  # dlt: an ignored answer ends the partition's paging
        if not page.from_list:
            return page.records
        partition.extracted_at = datetime.now(timezone.utc)  # this page's time_extracted
        paginator = partition.paginator
        if paginator is None:
            return page.records
        paginator.check_page_is_new(response, page.records)
        if not self._wrong_path_logged:
            warning = first_page_warning(paginator, response, len(page.records), self._params)
            if warning:
                self._wrong_path_logged = True
                self.logger.warning("stream '%s': %s", self.selector.stream_name, warning)
        if self.incremental.passed_bookmark(page.records, context):
            # Newest-first API: every later page is older than this page's oldest record,
            # which is already older than the bookmark.
            paginator.stop()
        return page.records


def schemas_to_follow(
    own: dict[str, Any], effective: dict[str, Any], stream_maps: Sequence[Any]
) -> list[dict[str, Any]]:
    """The schema dicts besides ``own`` that must learn a field the contract added: the
    catalog's (``effective``) and those of stream maps that pass records through unchanged (the
    SCHEMA messages come from them); custom maps decide their own output."""
    found: list[dict[str, Any]] = []
    candidates = [effective] + [
        m.transformed_schema for m in stream_maps if isinstance(m, SameRecordTransform)
    ]
    for schema in candidates:
        if schema is not own and all(schema is not other for other in found):
            found.append(schema)
    return found
