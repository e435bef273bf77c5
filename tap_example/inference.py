"""JSON schemas inferred from a first page, for user resources that name no ``schema`` file.

Discovery asks :class:`SchemaSampler` for the schema of such a resource. It builds the
resource's stream class with an open schema and makes one request through that class, so the
sample is fetched with exactly the stream's URL, parameters, headers, body, paginator shaping,
authenticator and retries. Top-level streams sample their first page; a child samples the first
page under its parent's sampled records (up to :data:`MAX_PARENTS` of them, until one has
records; a grandchild reads further into its parent's sample the same way). The sample ignores
saved bookmarks (``start_date`` and ``initial_value`` still apply) so that it does not depend on
state. Built-in APIs always have schema files and never reach this module.

Typing rules (:func:`infer_schema`): ``null``/``boolean``/``integer``/``number``/``string``/
``object``/``array`` from the JSON values seen; integers and floats together make ``number``;
strings that are all RFC 3339 date-times get ``format: date-time`` (all ``YYYY-MM-DD``: ``date``);
objects and arrays are inferred recursively. Every property may be null — a first page proves
what a field *can* hold, not that it is never null — except the primary key and replication
key fields, which are non-null when every sampled record has them.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_example.engine.infer import infer_schema
from tap_example.errors import DefinitionError, TapExampleError
from tap_example.schemas_loader import with_column_hints
from tap_example.streams import DefinitionStream, make_stream_class

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_example.definition import Resource
    from tap_example.engine.runtime import Runtime

#: Parent records a child's sample may try before giving up on an empty child.
MAX_PARENTS = 20
#: The schema a stream class is built with while it fetches its own sample.
OPEN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

# --------------------------------------------------------------------------- sampling


class _SampleStream(DefinitionStream):
    """A stream fetching a sample: starts at ``start_date`` (or ``initial_value``), never at a
    saved bookmark, so the sample does not depend on state."""

    @override
    def get_starting_replication_key_value(self, context: Context | None) -> Any:
        return self.settings.get("start_date")


Page = tuple["Context | None", list[dict[str, Any]]]


class _Pages:
    """One stream's sample pages (context, records), fetched lazily and kept for re-reading.

    A top-level stream has one page; a child has one per parent context, fetched only as far
    as someone reads (a grandchild reads further when the first children have no records).
    """

    def __init__(self, source: Iterator[Page]) -> None:
        self._source = source
        self._fetched: list[Page] = []

    def __iter__(self) -> Iterator[Page]:
        index = 0
        while True:
            if index == len(self._fetched):
                page = next(self._source, None)
                if page is None:
                    return
                self._fetched.append(page)
            yield self._fetched[index]
            index += 1


class SchemaSampler:
    """Infers the schemas of one discovery, fetching each sample page at most once."""

    def __init__(self, tap: Tap, runtime: Runtime, *, pages: int = 1) -> None:
        self.tap = tap
        self.runtime = runtime
        self.definition = runtime.definition
        #: Pages read per partition (``discover_sample_pages``; one for a schema-less resource).
        self.pages = max(1, pages)
        self._pages: dict[str, _Pages] = {}

    def extend(self, stream_class: type[DefinitionStream], schema: dict[str, Any]) -> list[str]:
        """Add to ``schema`` (in place) the fields the stream's sample pages hold that it lacks
        (``discover_sample_pages``); the names added."""
        records = [record for _, rows in self._pages_of(stream_class) for record in rows]
        seen = infer_schema(records)["properties"] if records else {}
        properties = schema.setdefault("properties", {})
        added = [name for name in seen if name not in properties]
        for name in added:
            properties[name] = seen[name]
        return added

    def infer(
        self, resource: Resource, parent_class: type[DefinitionStream] | None
    ) -> dict[str, Any]:
        """The inferred schema of ``resource`` (whose parent's final class is ``parent_class``)."""
        open_class = make_stream_class(self.definition, resource, OPEN_SCHEMA, parent_class)
        try:
            records = next((rows for _, rows in self._pages_of(open_class) if rows), [])
        except TapExampleError as exc:
            msg = (
                f"stream '{resource.name}' has no 'schema' file, so discovery infers one from its "
                f"first page, which failed: {exc}"
            )
            raise type(exc)(msg) from None
        if not records and resource.columns:
            self.tap.logger.info(
                "stream '%s': no sampled records; the schema is the resource's column hints",
                resource.name,
            )
            return with_column_hints(dict(OPEN_SCHEMA, properties={}), resource.columns)
        if not records:
            where = "its first page" if parent_class is None else "the first parents' pages"
            msg = (
                f"{self.definition.origin}: resources ({resource.name}): no 'schema' file and "
                f"{where} had no records to infer one from; give the resource a 'schema' file "
                "(see docs/definitions.md, 'Schemas')"
            )
            raise DefinitionError(msg)
        required = list(resource.primary_key)
        if resource.incremental:
            required.append(resource.incremental.cursor_path)
        schema = infer_schema(records, required=required)
        bound = {binding.placeholder for binding in resource.bindings}  # added by discovery
        for name in required:
            if name not in schema["properties"] and name not in bound:
                self.tap.logger.warning(
                    "stream '%s': key field '%s' is not in the sampled records", resource.name, name
                )
                schema["properties"][name] = (
                    {"type": ["string", "null"], "format": "date-time"}
                    if resource.incremental and name == resource.incremental.cursor_path
                    else {}
                )
        self.tap.logger.info(
            "stream '%s': inferred a schema of %d fields from %d sampled records",
            resource.name,
            len(schema["properties"]),
            len(records),
        )
        return with_column_hints(schema, resource.columns)

    def _pages_of(self, stream_class: type[DefinitionStream]) -> _Pages:
        """The sample pages of ``stream_class``'s resource (shared by its children)."""
        name = stream_class.resource.name
        if name not in self._pages:
            sample_class = type(stream_class.__name__, (_SampleStream, stream_class), {})
            self._pages[name] = _Pages(
                self._fetch(sample_class(tap=self.tap, runtime=self.runtime))
            )
        return self._pages[name]

    def _fetch(self, stream: DefinitionStream) -> Iterator[Page]:
        for context in islice(self._contexts(stream), MAX_PARENTS):
            yield context, self._sample_request(stream, context)

    def _contexts(self, stream: DefinitionStream) -> Iterator[Context | None]:
        """``None`` for a top-level stream; else contexts made from the parent's sample records."""
        parent_class: type[DefinitionStream] | None = stream.parent_stream_type  # type: ignore[assignment]
        if parent_class is None:
            yield None
            return
        parent = parent_class(tap=self.tap, runtime=self.runtime)
        parent.child_streams = [stream]
        for parent_context, records in self._pages_of(parent_class):
            for record in records:
                shaped = parent.shape_record(dict(record), parent_context)
                if shaped is not None and not parent.incremental.is_older(shaped, parent_context):
                    yield parent.get_child_context(shaped, parent_context)

    def _sample_request(
        self, stream: DefinitionStream, context: Context | None
    ) -> list[dict[str, Any]]:
        """The first pages (:attr:`pages`), each request shaped and sent the way the stream
        sends it."""
        self.runtime.prepare_for_requests()
        paginator = stream.fresh_paginator()
        records: list[dict[str, Any]] = []
        for _ in range(self.pages):
            prepared = stream.prepare_first_sdk_request(context, paginator)
            response = stream.fetching.live_request()(prepared, context)
            page = stream.selector.page(response)
            records.extend(page.records)
            if page.ignored:  # a response action: no records here, and no further pages
                break
            paginator.advance(response)
            if paginator.finished:
                break
        return records
