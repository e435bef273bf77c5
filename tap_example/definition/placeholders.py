"""``${setting}`` placeholders: where a definition takes a value from the tap's settings."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from tap_example.errors import DefinitionError

SETTING_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

SpecT = TypeVar("SpecT")


class Filler:
    """Fills ``${name}`` from settings, naming the key of any placeholder left unset.

    With ``strict=False`` an unset placeholder stays as it is and its message is collected in
    :attr:`unfilled` (discovery works without credentials).
    """

    def __init__(self, settings: Mapping[str, Any], origin: str, *, strict: bool = True) -> None:
        self.settings = settings
        self.origin = origin
        self.strict = strict
        self.unfilled: list[str] = []

    def __call__(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            whole = SETTING_PLACEHOLDER.fullmatch(value)
            if whole:
                return self._lookup(whole.group(1), where, value)
            return SETTING_PLACEHOLDER.sub(
                lambda m: str(self._lookup(m.group(1), where, m.group(0))), value
            )
        if isinstance(value, Mapping):
            return {k: self(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self(v, f"{where}[{i}]") for i, v in enumerate(value))
        return value

    def _lookup(self, name: str, where: str, original: str) -> Any:
        value = self.settings.get(name)
        if value is None or value == "":
            msg = (
                f"{self.origin}: {where}: ${{{name}}} needs the setting '{name}', which is not set"
            )
            if self.strict:
                raise DefinitionError(msg)
            self.unfilled.append(msg)
            return original
        return value


def fill_placeholders(value: Any, settings: Mapping[str, Any], where: str, origin: str) -> Any:
    """Fill ``${name}`` placeholders in every string of ``value`` from ``settings``."""
    return Filler(settings, origin)(value, where)


def fill_spec(spec: SpecT, settings: Mapping[str, Any], where: str, origin: str) -> SpecT:
    """A copy of the frozen dataclass ``spec`` with its placeholders filled from ``settings``."""
    assert dataclasses.is_dataclass(spec) and not isinstance(spec, type)
    fill = Filler(settings, origin)
    changes = {
        f.name: fill(getattr(spec, f.name), f"{where}.{f.name}") for f in dataclasses.fields(spec)
    }
    return dataclasses.replace(spec, **changes)


def missing_placeholders(value: Any, settings: Mapping[str, Any]) -> list[str]:
    """Names of ``${name}`` placeholders in ``value`` whose setting is not set."""
    return [name for name in placeholder_names(value) if settings.get(name) in (None, "")]


def placeholder_names(value: Any) -> list[str]:
    """Names of the ``${name}`` placeholders anywhere in ``value``, in order, once each."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.extend(n for n in SETTING_PLACEHOLDER.findall(node) if n not in found)
        elif isinstance(node, Mapping):
            for item in node.values():
                walk(item)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            for f in dataclasses.fields(node):
                walk(getattr(node, f.name))

    walk(value)
    return found
