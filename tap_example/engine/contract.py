"""The schema contract (dlt's names): what happens to a field the schema does not know, and to a
value whose type the schema does not allow.

- ``evolve`` (default): the field is added to the stream's schema with a type inferred from its
  value (objects and arrays kept whole, without declared properties), a mismatched type widens the
  declared one (``integer`` -> ``integer``/``string``); the stream sends its new SCHEMA before the
  first record that needs it, and the record keeps everything.
- ``freeze``: the first undeclared field or mismatched type stops the run with one line naming
  the stream, the field and the setting.
- ``discard_value``: the field (or the mismatched value) is dropped from the record.
- ``discard_row``: the record is skipped.

As in dlt, the contract has a ``columns`` part (new fields) and a ``data_type`` part (mismatched
types); a single mode sets both. Only top-level fields are checked: nested objects are values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from operator import methodcaller
from typing import Any, Literal

from tap_example.errors import TapExampleError

Mode = Literal["evolve", "freeze", "discard_value", "discard_row"]
MODES: tuple[Mode, ...] = ("evolve", "freeze", "discard_value", "discard_row")

#: Python types each JSON Schema type admits (bool is not an integer here).
_PYTHON_TYPES: dict[str, frozenset[type]] = {
    "null": frozenset({type(None)}),
    "boolean": frozenset({bool}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "string": frozenset({str}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
}


#: The JSON type to add when widening for a value of a Python type.
class _Absent:
    """A field a record does not have (not the same as a null value)."""


_ABSENT = _Absent()

_JSON_TYPE = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    dict: "object",
    list: "array",
}


class SchemaContractError(TapExampleError):
    """A record broke a ``freeze`` contract."""


@dataclass(frozen=True)
class ContractSpec:
    """The contract of one stream: for new fields (``columns``) and mismatched types."""

    columns: Mode = "evolve"
    data_type: Mode = "evolve"
    #: Where the contract was set, for messages (a setting or a definition key).
    source: str = "the default"

    @classmethod
    def parse(cls, raw: Any, source: str) -> ContractSpec:
        """A mode (``"freeze"``) or dlt's mapping (``{columns: ..., data_type: ...}``)."""
        if isinstance(raw, str):
            return cls(_mode(raw, source), _mode(raw, source), source)
        if isinstance(raw, Mapping):
            columns = raw.get("columns", "evolve")
            data_type = raw.get("data_type", columns)
            return cls(_mode(columns, source), _mode(data_type, source), source)
        msg = f"{source}: schema_contract must be one of {', '.join(MODES)} or a mapping"
        raise TapExampleError(msg)


def _mode(value: Any, source: str) -> Mode:
    for mode in MODES:
        if value == mode:
            return mode
    msg = f"{source}: schema_contract {value!r} is not one of {', '.join(MODES)}"
    raise TapExampleError(msg)


def allowed_types(prop: Mapping[str, Any]) -> frozenset[type] | None:
    """Python types a property admits; ``None`` when it admits anything (no ``type``)."""
    kind = prop.get("type")
    if kind is None:
        return None
    names = [kind] if isinstance(kind, str) else list(kind)
    found: set[type] = set()
    for name in names:
        found |= _PYTHON_TYPES.get(name, frozenset())
    return frozenset(found)


class SchemaContract:
    """Applies one stream's contract to its records, changing its schema in place when evolving.

    ``on_change`` is called with the properties that changed (new, or widened) after the schema
    changed, before the record that changed it goes out: the stream copies them into the other
    schemas it keeps, sends its new SCHEMA and drops what it compiled from the old one.
    """

    def __init__(
        self,
        stream_name: str,
        schema: dict[str, Any],
        spec: ContractSpec,
        logger: logging.Logger,
        on_change: Callable[[dict[str, Any]], None],
    ) -> None:
        self.stream_name = stream_name
        self.schema = schema
        self.spec = spec
        self.logger = logger
        self.on_change = on_change
        self.added: list[str] = []
        self.widened: list[str] = []
        self.dropped: set[str] = set()
        self.skipped_rows = 0
        #: The page :meth:`absorb` saw last (kept, so its rows stay alive and their ids unique)
        #: and the ids of its rows it found to fit: :meth:`apply` need not check them again.
        self._page: list[Mapping[str, Any]] = []
        self._page_fits: set[int] = set()
        self._compile()

    def _compile(self) -> None:
        properties: dict[str, Any] = self.schema.setdefault("properties", {})
        self.fields = frozenset(properties)
        self._allowed = {name: allowed_types(prop) for name, prop in properties.items()}
        #: (field names..., value types...) of records already found to fit.
        self._fits: set[tuple[Any, ...]] = set()

    def apply(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """``row`` under the contract: as it is, changed, or ``None`` (skip it)."""
        page_fits = self._page_fits
        if page_fits and id(row) in page_fits:  # absorbed with its page, found to fit then
            page_fits.discard(id(row))  # once: a row shaped since is checked again
            return row
        signature = (*row, *map(type, row.values()))
        if signature in self._fits:
            return row
        changes: dict[str, Any] = {}
        for name, value in list(row.items()):
            if name not in self.fields:
                outcome = self._new_field(name, value, self.spec.columns)
            else:
                allowed = self._allowed[name]
                if allowed is None or type(value) in allowed:
                    continue
                outcome = self._mismatch(name, value, self.spec.data_type)
            if outcome == "skip":
                self.skipped_rows += 1
                return None
            if outcome == "drop":
                del row[name]
                self.dropped.add(name)
            if outcome == "changed":
                changes[name] = self.schema["properties"][name]
        if changes:
            self._compile()
            self.on_change(changes)
        self._fits.add((*row, *map(type, row.values())))
        return row

    def absorb(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Evolve for a whole page at once, before its records go out: every new field and
        widened type the page brings in one schema change (one SCHEMA message, not one per
        record that brings something), the new fields typed from all their values on the page.

        The page is checked field by field (each field's value types over the page at once),
        not record by record: the usual page brings nothing new and costs a few set operations.
        """
        columns = self.spec.columns == "evolve"
        data_type = self.spec.data_type == "evolve"
        if not (columns or data_type):
            return
        page = rows if isinstance(rows, list) else list(rows)
        if self._known_shapes(page):  # the usual page: nothing new
            self._page, self._page_fits = page, set(map(id, page))
            return
        present = dict.fromkeys(chain.from_iterable(page))  # every field on the page, in order
        new: dict[str, list[Any]] = {}
        widen: dict[str, set[str]] = {}
        clean = True  # every field known, every value of an allowed type
        for name in present:
            if name not in self.fields:
                clean = False
                if columns:
                    new[name] = [row[name] for row in page if name in row]
                continue
            allowed = self._allowed[name]
            if allowed is None:
                continue
            kinds = set(map(type, map(methodcaller("get", name, _ABSENT), page)))
            kinds.discard(_Absent)
            if not kinds <= allowed:
                clean = False
                if data_type:
                    widen[name] = {_JSON_TYPE.get(kind, "string") for kind in kinds - allowed}
        changes: dict[str, Any] = {}
        for name, values in new.items():
            schema = _value_schema(values)
            if any(isinstance(v, (dict, list)) for v in values):  # kept whole
                schema.pop("properties", None)
                schema.pop("items", None)
            self.schema["properties"][name] = changes[name] = schema
            self.added.append(name)
        for name, extra in widen.items():
            prop = self.schema["properties"][name]
            kind = prop.get("type")
            names = [kind] if isinstance(kind, str) else list(kind or [])
            prop["type"] = names + sorted(extra - set(names))
            changes[name] = prop
            self.widened.append(f"{name} (+{', '.join(sorted(extra))})")
        if changes:
            self._compile()
            self.on_change(changes)
        # What fits now (the schema evolved) is not checked again by apply().
        if clean:
            self._page, self._page_fits = page, set(map(id, page))
        else:
            self._page, self._page_fits = page, {id(row) for row in page if self._fits_now(row)}

    def _known_shapes(self, page: list[Mapping[str, Any]]) -> bool:
        """Whether every record of ``page`` has a shape (field names and value types) known to
        fit; shapes seen for the first time are checked (once each) and remembered."""
        shapes = {(*row, *map(type, row.values())) for row in page}
        fits = self._fits
        for shape in shapes - fits:
            half = len(shape) // 2
            for name, kind in zip(shape[:half], shape[half:], strict=True):
                if name not in self.fields:
                    return False
                allowed = self._allowed[name]
                if allowed is not None and kind not in allowed:
                    return False
            fits.add(shape)
        return True

    def _fits_now(self, row: Mapping[str, Any]) -> bool:
        """Whether ``row`` fits the schema as it is (only known fields, of allowed types)."""
        for name, value in row.items():
            if name not in self.fields:
                return False
            allowed = self._allowed[name]
            if allowed is not None and type(value) not in allowed:
                return False
        return True

    def _new_field(self, name: str, value: Any, mode: Mode) -> str:
        if mode == "evolve":
            schema = _value_schema([value])
            if isinstance(value, (dict, list)):  # kept whole: no declared properties or items
                schema.pop("properties", None)
                schema.pop("items", None)
            self.schema["properties"][name] = schema
            self.added.append(name)
            return "changed"
        if mode == "freeze":
            msg = (
                f"stream '{self.stream_name}': field '{name}' is not in its schema and the schema "
                f"contract is 'freeze' (set by {self.spec.source})"
            )
            raise SchemaContractError(msg)
        return "skip" if mode == "discard_row" else "drop"

    def _mismatch(self, name: str, value: Any, mode: Mode) -> str:
        if mode == "evolve":
            prop = self.schema["properties"][name]
            kind = prop.get("type")
            names = [kind] if isinstance(kind, str) else list(kind or [])
            extra = _JSON_TYPE.get(type(value), "string")
            prop["type"] = [*names, extra] if extra not in names else names
            self.widened.append(f"{name} (+{extra})")
            return "changed"
        if mode == "freeze":
            expected = "/".join(sorted({_JSON_TYPE.get(t, "?") for t in self._allowed[name] or ()}))
            msg = (
                f"stream '{self.stream_name}': field '{name}' holds a {_JSON_TYPE.get(type(value), 'value')} "
                f"where its schema allows {expected}, and the schema contract is 'freeze' "
                f"(set by {self.spec.source})"
            )
            raise SchemaContractError(msg)
        return "skip" if mode == "discard_row" else "drop"

    def summary(self) -> str | None:
        """One line for the end of the run: what the contract did, if anything."""
        parts = []
        if self.added:
            parts.append(f"added fields {', '.join(self.added)}")
        if self.widened:
            parts.append(f"widened the types of {', '.join(self.widened)}")
        if self.dropped:
            parts.append(f"dropped fields not in its schema: {', '.join(sorted(self.dropped))}")
        if self.skipped_rows:
            parts.append(f"skipped {self.skipped_rows} records with fields not in its schema")
        if not parts:
            return None
        return (
            f"stream '{self.stream_name}': schema contract '{self.spec.columns}' "
            f"({self.spec.source}): {'; '.join(parts)}"
        )


def contract_spec(settings: Mapping[str, Any], resource: Any) -> ContractSpec:
    """The contract of a resource: the ``schema_contract`` setting when set, else the
    definition's (resource or ``resource_defaults``), else ``evolve``."""
    if settings.get("schema_contract"):
        return ContractSpec.parse(settings["schema_contract"], "the setting schema_contract")
    if getattr(resource, "schema_contract", None) is not None:
        source = f"the definition's schema_contract of resource '{resource.name}'"
        return ContractSpec.parse(resource.schema_contract, source)
    return ContractSpec()


def _value_schema(values: list[Any]) -> dict[str, Any]:
    """The inferred schema of a new field's values (schema inference is imported only by a run
    whose records bring a field the schema lacks)."""
    from tap_example.engine.infer import value_schema

    return value_schema(values)
