"""One source of truth per concept: the definition model's spec types, the engine's registries
and the published JSON Schema (``definition.schema.json``) agree; unknown types are errors."""

from __future__ import annotations

import sys
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from typing import Any, ClassVar

import pytest

from tap_example.definition import (
    AUTH_SPECS,
    PAGINATOR_SPECS,
    AuthSpec,
    PaginatorSpec,
    ParentBinding,
    RateLimit,
    Resource,
    auth_specs,
    format_schema,
    paginator_spec,
)
from tap_example.engine.auth import AUTHENTICATORS, build_authenticator
from tap_example.engine.paging import PAGINATORS, build_paginator
from tap_example.errors import ConfigError, DefinitionError
from tap_example.sandbox import SandboxServer
from tap_example.tap import TapExample, _parents_first
from tests.conftest import FAST


def schema_def(name: str) -> dict[str, Any]:
    definition: dict[str, Any] = format_schema()["$defs"][name]
    return definition


def paginator_object_schema() -> dict[str, Any]:
    return next(o for o in schema_def("paginator")["oneOf"] if o.get("type") == "object")


def test_paginator_type_names_agree_everywhere() -> None:
    by_name = schema_def("paginator")["oneOf"][0]["enum"]
    in_object = paginator_object_schema()["properties"]["type"]["enum"]
    assert set(by_name) == set(in_object) == set(PAGINATOR_SPECS)
    assert set(PAGINATORS) == set(PAGINATOR_SPECS.values())


def test_paginator_keys_agree_with_the_schema() -> None:
    properties = set(paginator_object_schema()["properties"]) - {"type"}
    keys = set().union(*(spec.keys() for spec in PAGINATOR_SPECS.values()))
    assert properties == keys


@pytest.mark.parametrize("kind", sorted(PAGINATOR_SPECS))
def test_each_paginator_type_builds_its_own_paginator(kind: str) -> None:
    raw: dict[str, Any] = {"type": kind}
    if kind == "offset":
        raw["limit"] = 10
    spec = paginator_spec(raw)
    assert spec is not None and kind in spec.type_names
    paginator = build_paginator(spec)
    assert type(paginator) is PAGINATORS[type(spec)]


def auth_branches() -> dict[str, set[str]]:
    """Per auth type name, the keys its ``if/then`` branch of the JSON Schema allows."""
    branches: dict[str, set[str]] = {}
    for branch in schema_def("auth")["allOf"]:
        condition = branch["if"]["properties"]["type"]
        names = [condition["const"]] if "const" in condition else condition["enum"]
        for name in names:
            branches[name] = set(branch["then"]["properties"]) - {"type"}
    return branches


def test_auth_types_and_keys_agree_with_the_schema() -> None:
    declared = set(schema_def("auth")["properties"]["type"]["enum"])
    branches = auth_branches()
    assert declared == set(branches) == set(AUTH_SPECS)
    for name, spec in AUTH_SPECS.items():
        assert branches[name] == set(spec.keys()), name
    assert set(AUTHENTICATORS) == set(AUTH_SPECS.values())


def test_client_rate_limit_keys_agree_with_the_schema() -> None:
    client = format_schema()["properties"]["client"]["properties"]
    assert set(client["rate_limit"]["properties"]) == set(RateLimit.keys())


def test_an_unknown_paginator_or_auth_type_is_an_error_not_a_default() -> None:
    with pytest.raises(DefinitionError, match="unknown paginator type 'sideways'"):
        paginator_spec({"type": "sideways"})
    with pytest.raises(DefinitionError, match="unknown auth type 'kerberos'"):
        auth_specs({"type": "kerberos", "client_id": "x"})


@dataclass(frozen=True)
class UnregisteredPaging(PaginatorSpec):
    type_names: ClassVar[tuple[str, ...]] = ("unregistered",)


@dataclass(frozen=True)
class UnregisteredAuth(AuthSpec):
    type_names: ClassVar[tuple[str, ...]] = ("unregistered",)


def test_a_spec_without_a_registered_runtime_is_an_error() -> None:
    with pytest.raises(TypeError, match="no paginator is registered"):
        build_paginator(UnregisteredPaging())
    with pytest.raises(ConfigError, match="no authenticator is registered"):
        build_authenticator(
            [UnregisteredAuth()],
            settings={},
            base_url="https://api.test",
            api_name="test",
            origin="test",
        )


def test_parents_come_first_and_a_missing_parent_or_cycle_is_an_error() -> None:
    definition = TapExample(config={"api": "payments"}).definition
    ordered = [r.name for r in _parents_first(list(reversed(definition.resources)))]
    assert ordered.index("customers") < ordered.index("funding_sources")
    orphan = Resource("orphan", "/x/{id}", bindings=(ParentBinding("id", "nowhere", "id", True),))
    with pytest.raises(DefinitionError, match="resolves from resource 'nowhere'"):
        _parents_first([orphan])
    one = Resource("one", "/{a}", bindings=(ParentBinding("a", "two", "id", True),))
    two = Resource("two", "/{b}", bindings=(ParentBinding("b", "one", "id", True),))
    with pytest.raises(DefinitionError, match="parent cycle"):
        _parents_first([one, two])


def test_the_switch_interval_is_restored_when_the_sync_ends() -> None:
    before = sys.getswitchinterval()
    with SandboxServer(api="payments") as server:
        tap = TapExample(config={**FAST, **server.tap_config(), "max_concurrency": 4})
        with redirect_stdout(StringIO()):
            tap.sync_all()
    assert sys.getswitchinterval() == before
