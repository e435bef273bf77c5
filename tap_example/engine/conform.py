"""The record path, compiled: the SDK's selection and type conformance without its per-record
interpretation.

The SDK decides, for every field of every record, whether it is selected and how to conform it,
by walking the schema and the selection mask again each time (about 60% of a plain sync's CPU).
Here both decisions are compiled once per (schema, mask) into small closures, and values that are
already JSON-ready (the usual case) are copied as they are. Anything unusual (nested
deselection, a conformance level other than recursive, a value that is not a plain JSON scalar)
goes through the SDK's own functions (reached through :mod:`tap_example.sdk_compat`), so the
output is the SDK's output; ``tests/test_sdk_compat.py`` compares the two record for record.
"""

from __future__ import annotations

from collections.abc import Callable
from math import isfinite
from typing import Any, Protocol

from singer_sdk import singerlib as singer
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_example.sdk_compat import (
    conform_primitive_property,
    conform_record_data_types,
    is_exclusive_boolean_type,
    is_object_type,
    is_uniform_list,
    pop_deselected_record_properties,
    warn_unmapped_properties,
)

Record = dict[str, Any]
#: ``(conformed record, unmapped property paths)``, as the SDK's ``_conform_record_data_types``.
Conformer = Callable[[Record], tuple[Record, list[str]]]

#: Types the SDK's primitive conformance returns unchanged (floats need a NaN check).
_PLAIN: frozenset[type] = frozenset({str, int, bool, type(None)})
#: For exclusively boolean properties the SDK turns anything but a bool or null into a bool.
_PLAIN_BOOLEAN: frozenset[type] = frozenset({bool, type(None)})


def compile_conformer(schema: dict[str, Any], path: str | None = None) -> Conformer:
    """A function equal to the SDK's ``_conform_record_data_types(record, schema, RECURSIVE, path)``."""
    properties: dict[str, Any] = schema["properties"]
    keep_unknown = bool(schema.get("additionalProperties"))
    rules: dict[str, tuple[frozenset[type], Callable[[Any, list[str]], Any]]] = {}
    for name, property_schema in properties.items():
        property_path = name if path is None else f"{path}.{name}"
        rules[name] = _compile_property(property_schema, property_path)

    known = frozenset(rules)
    booleans = tuple(name for name, (plain, _) in rules.items() if plain is _PLAIN_BOOLEAN)
    plain_or_float = _PLAIN | {float}

    def conform(record: Record) -> tuple[Record, list[str]]:
        # The usual record: known fields, JSON scalars only; checked in C, copied as it is.
        types = set(map(type, record.values()))
        if types <= plain_or_float and known.issuperset(record) and _usual(record, types, booleans):
            return dict(record), []
        output: Record = {}
        unmapped: list[str] = []
        for name, value in record.items():
            rule = rules.get(name)
            if rule is None:
                if keep_unknown:
                    output[name] = value
                else:
                    unmapped.append(name if path is None else f"{path}.{name}")
                continue
            plain, convert = rule
            output[name] = value if type(value) in plain else convert(value, unmapped)
        return output, unmapped

    return conform


def _usual(record: Record, types: set[type], booleans: tuple[str, ...]) -> bool:
    """Whether a record of JSON scalars is copied as it is: its floats are finite (the SDK turns
    NaN and infinities into null) and its exclusively boolean fields hold a bool or null."""
    if float in types:
        for value in record.values():
            if type(value) is float and not isfinite(value):
                return False
    for name in booleans:  # noqa: SIM110 - a plain loop: all() on a generator is slower
        if type(record.get(name)) not in _PLAIN_BOOLEAN:
            return False
    return True


def _compile_property(
    property_schema: dict[str, Any], path: str
) -> tuple[frozenset[type], Callable[[Any, list[str]], Any]]:
    """How one property is conformed: the types kept as they are, and the general case."""
    plain = _PLAIN_BOOLEAN if is_exclusive_boolean_type(property_schema) else _PLAIN
    items_schema = property_schema["items"] if is_uniform_list(property_schema) else None
    nested: Conformer | None = None
    if is_object_type(property_schema) and "properties" in property_schema:
        nested = compile_conformer(property_schema, path)
    item_conformer: Conformer | None = None
    if items_schema is not None and is_object_type(items_schema) and "properties" in items_schema:
        item_conformer = compile_conformer(items_schema, path)

    def convert(value: Any, unmapped: list[str]) -> Any:
        if items_schema is not None and isinstance(value, list):
            output = []
            for item in value:
                if item_conformer is not None and isinstance(item, dict):
                    conformed, missing = item_conformer(item)
                    unmapped.extend(missing)
                    output.append(conformed)
                else:
                    output.append(conform_primitive_property(item, items_schema))
            return output
        if nested is not None and isinstance(value, dict):
            conformed, missing = nested(value)
            unmapped.extend(missing)
            return conformed
        return conform_primitive_property(value, property_schema)

    return plain, convert


# --------------------------------------------------------------------------- selection


def compile_deselector(
    schema: dict[str, Any], mask: singer.SelectionMask
) -> Callable[[Record], None]:
    """A function equal to ``pop_deselected_record_properties(record, schema, mask)``."""
    if not mask[()] or any(
        not selected for breadcrumb, selected in mask.items() if len(breadcrumb) > 2
    ):

        def pop_with_sdk(record: Record) -> None:
            pop_deselected_record_properties(record, schema, mask)

        return pop_with_sdk
    deselected = frozenset(
        breadcrumb[1]
        for breadcrumb, selected in mask.items()
        if len(breadcrumb) == 2 and breadcrumb[0] == "properties" and not selected
    )

    def pop(record: Record) -> None:
        if deselected:
            for name in deselected.intersection(record):
                del record[name]

    return pop


class RecordPlan:
    """Selection and conformance compiled for one schema and one selection mask."""

    def __init__(
        self,
        schema: dict[str, Any],
        mask: singer.SelectionMask,
        level: TypeConformanceLevel,
        stream_name: str,
    ) -> None:
        self.schema = schema
        self.mask = mask
        self.pop_deselected = compile_deselector(schema, mask)
        self.level = level
        self.stream_name = stream_name
        self.logger: Any = None
        #: The compiled conformance (``None``: the SDK's own, for other conformance levels).
        self.compiled: Conformer | None = (
            compile_conformer(schema) if level == TypeConformanceLevel.RECURSIVE else None
        )

    def conform(self, record: Record, logger: Any) -> Record:
        if self.compiled is None:
            output, unmapped = conform_record_data_types(record, self.schema, self.level, None)
        else:
            output, unmapped = self.compiled(record)
        if unmapped:
            warn_unmapped_properties(self.stream_name, tuple(unmapped), logger)
        return output


class ConformingStream(Protocol):
    """What the record step reads of a stream when its plan must be (re)built."""

    @property
    def schema(self) -> dict[str, Any]: ...

    TYPE_CONFORMANCE_LEVEL: TypeConformanceLevel

    @property
    def logger(self) -> Any: ...


class CompiledRecords:
    """One stream's record step: a :class:`RecordPlan` kept while schema and mask hold."""

    def __init__(self, stream_name: str) -> None:
        self.stream_name = stream_name
        self._plan: RecordPlan | None = None

    def reset(self) -> None:
        """The schema changed in place: compile again at the next record."""
        self._plan = None

    def conformed(
        self,
        record: Record,
        effective_schema: dict[str, Any],
        mask: singer.SelectionMask,
        stream: ConformingStream,
    ) -> Record:
        """As the SDK does: pop deselected properties (selection mask of the stream's own
        schema), then conform types to the effective schema."""
        plan = self._plan
        if (
            plan is None
            or plan.schema is not effective_schema
            or plan.mask is not mask
            or plan.level != stream.TYPE_CONFORMANCE_LEVEL
        ):
            plan = RecordPlan(
                effective_schema, mask, stream.TYPE_CONFORMANCE_LEVEL, self.stream_name
            )
            own_schema = stream.schema
            if own_schema is not effective_schema:
                plan.pop_deselected = compile_deselector(own_schema, mask)
            plan.logger = stream.logger
            self._plan = plan
        plan.pop_deselected(record)
        if plan.compiled is None:
            return plan.conform(record, plan.logger)
        output, unmapped = plan.compiled(record)  # the usual case, one call fewer per record
        if unmapped:
            warn_unmapped_properties(self.stream_name, tuple(unmapped), plan.logger)
        return output
