"""When paging stops, read from a response body: a small grammar, never evaluated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from tap_example.jsonpaths import MISSING, compile_path, split_path

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
