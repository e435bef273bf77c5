"""Load, validate and normalise an API definition (dlt ``rest_api`` structure) into plain data.

Data flows one way: a YAML/JSON document -> JSON Schema validation (``definition.schema.json``)
-> defaults merged, ``${setting}`` placeholders filled, paginators, bindings and stop conditions
checked -> an immutable :class:`Definition`. Every problem is a :class:`DefinitionError` naming
the file, the resource and the key at fault, raised before any request is made.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import best_match

from tap_example.errors import DefinitionError
from tap_example.jsonpaths import split_path
from tap_example.pagination import PAGINATORS, parse_stop_condition

BUILTIN_APIS = ("payments", "billing", "crm", "commerce", "clinical")

_SETTING_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PATH_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_RETRY_CODES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class ErrorHandler:
    """Which statuses are retried, how often, and how fast the waits grow."""

    retry_on_status_codes: tuple[int, ...] = DEFAULT_RETRY_CODES
    max_retries: int = 5
    backoff_factor: float = 1.0


@dataclass(frozen=True)
class Incremental:
    """A datetime replication key, and how the server can filter on it."""

    cursor_path: str
    start_param: str | None = None
    initial_value: str | None = None
    row_order: str | None = None  # "asc" or "desc" where the API guarantees an order
    per_parent: bool = False  # child streams: one bookmark per parent record


@dataclass(frozen=True)
class ParentBinding:
    """``{placeholder}`` (in the path, or a query parameter) takes ``field`` of a parent record."""

    placeholder: str
    resource: str
    field: str
    in_path: bool


@dataclass(frozen=True)
class Resource:
    """One endpoint of the API: becomes one Singer stream."""

    name: str
    path: str
    method: str = "GET"
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    data_selector: str | None = None
    paginator: Mapping[str, Any] | None = None
    error_handler: ErrorHandler = ErrorHandler()
    primary_key: tuple[str, ...] = ()
    write_disposition: str = "append"
    incremental: Incremental | None = None
    bindings: tuple[ParentBinding, ...] = ()
    include_from_parent: tuple[str, ...] = ()
    schema_file: Path | None = None
    selected: bool = True

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
    auth: tuple[Mapping[str, Any], ...]
    resources: tuple[Resource, ...]
    #: Placeholders left unfilled because their setting is not set (discovery needs none).
    unfilled: tuple[str, ...] = ()
    #: Settings the definition's ``${name}`` placeholders name (credentials, account ids, ...).
    settings_used: tuple[str, ...] = ()

    def require_settings(self) -> None:
        """Raise for the first ``${setting}`` that a sync would need but is not set."""
        if self.unfilled:
            raise DefinitionError(self.unfilled[0])

    def resource(self, name: str) -> Resource:
        return next(r for r in self.resources if r.name == name)


# --------------------------------------------------------------------------- public API


def load_definition(
    *,
    api: str | None = None,
    api_file: str | None = None,
    settings: Mapping[str, Any] | None = None,
    strict: bool = True,
) -> Definition:
    """Load the built-in definition ``api`` or the user's ``api_file``.

    With ``strict=False`` a placeholder whose setting is missing stays as it is and is listed
    in :attr:`Definition.unfilled`, so discovery works without credentials.
    """
    settings = settings or {}
    if api_file:
        path = Path(api_file).expanduser()
        origin = str(path)
        if not path.is_file():
            msg = f"setting 'api_file': definition file {origin} does not exist"
            raise DefinitionError(msg)
        document = _parse(
            path.read_text(encoding="utf-8"), origin, json_only=path.suffix == ".json"
        )
        return build_definition(
            document,
            origin=origin,
            settings=settings,
            base_dir=path.parent,
            name=path.stem,
            strict=strict,
        )
    if not api:
        msg = (
            "set 'api' (one of: " + ", ".join(BUILTIN_APIS) + ") or 'api_file' (a definition file)"
        )
        raise DefinitionError(msg)
    if api not in BUILTIN_APIS:
        msg = f"setting 'api': unknown API {api!r}; built-in APIs are: {', '.join(BUILTIN_APIS)}"
        raise DefinitionError(msg)
    text = resources.files("tap_example.apis").joinpath(f"{api}.yaml").read_text(encoding="utf-8")
    return build_definition(
        _parse(text, f"built-in definition '{api}'"),
        origin=f"built-in definition '{api}'",
        settings=settings,
        base_dir=None,
        name=api,
        strict=strict,
    )


def build_definition(
    document: Any,
    *,
    origin: str,
    settings: Mapping[str, Any],
    base_dir: Path | None,
    name: str,
    strict: bool = True,
) -> Definition:
    """Validate a parsed document and turn it into a :class:`Definition`."""
    document = _expand_shorthands(copy.deepcopy(document))
    _validate_against_format(document, origin)
    client = document["client"]
    defaults = document.get("resource_defaults") or {}
    fill = _Filler(settings, origin, strict=strict)

    base_url = fill(client["base_url"], "client.base_url")
    headers = {k: str(v) for k, v in fill(client.get("headers") or {}, "client.headers").items()}
    auth = client.get("auth")
    alternatives = tuple(auth if isinstance(auth, list) else [auth] if auth else [])

    resources_: list[Resource] = []
    names: set[str] = set()
    for index, raw in enumerate(document["resources"]):
        where = f"resources[{index}] ({raw['name']})"
        if raw["name"] in names:
            raise DefinitionError(
                f"{origin}: {where}.name: duplicate resource name {raw['name']!r}"
            )
        names.add(raw["name"])
        merged = _merge_defaults(defaults, raw)
        resources_.append(
            _build_resource(merged, where, origin, fill, client.get("paginator"), base_dir, name)
        )
    _check_bindings(resources_, origin)
    return Definition(
        name=name,
        origin=origin,
        base_url=str(base_url),
        headers=headers,
        auth=alternatives,
        resources=tuple(resources_),
        unfilled=tuple(fill.unfilled),
        settings_used=tuple(placeholder_names(document)),
    )


def fill_placeholders(value: Any, settings: Mapping[str, Any], where: str, origin: str) -> Any:
    """Fill ``${name}`` placeholders in every string of ``value`` from ``settings``."""
    return _Filler(settings, origin)(value, where)


def missing_placeholders(value: Any, settings: Mapping[str, Any]) -> list[str]:
    """Names of ``${name}`` placeholders in ``value`` whose setting is not set."""
    return [name for name in placeholder_names(value) if settings.get(name) in (None, "")]


def placeholder_names(value: Any) -> list[str]:
    """Names of the ``${name}`` placeholders anywhere in ``value``, in order, once each."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.extend(n for n in _SETTING_PLACEHOLDER.findall(node) if n not in found)
        elif isinstance(node, Mapping):
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value)
    return found


@cache
def format_schema() -> dict[str, Any]:
    """The JSON Schema of the definition format (also published for editors)."""
    text = (
        resources.files("tap_example")
        .joinpath("definition.schema.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


# --------------------------------------------------------------------------- steps


def _parse(text: str, origin: str, *, json_only: bool = False) -> Any:
    try:
        return json.loads(text) if json_only else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        detail = str(exc).replace("\n", " ")
        raise DefinitionError(
            f"{origin}: not valid {'JSON' if json_only else 'YAML'}: {detail}"
        ) from None


def _expand_shorthands(document: Any) -> Any:
    """dlt shorthands: a resource given as a string, an endpoint given as its path."""
    if not isinstance(document, dict):
        return document
    resources_ = document.get("resources")
    if isinstance(resources_, list):
        for index, item in enumerate(resources_):
            if isinstance(item, str):
                resources_[index] = {"name": item, "endpoint": {"path": item}}
            elif isinstance(item, dict) and isinstance(item.get("endpoint"), str):
                item["endpoint"] = {"path": item["endpoint"]}
    return document


def _location(path: list[Any], document: Any) -> str:
    parts: list[str] = []
    node = document
    for key in path:
        if isinstance(key, int):
            label = f"[{key}]"
            if (
                isinstance(node, list)
                and key < len(node)
                and isinstance(node[key], dict)
                and "name" in node[key]
            ):
                label += f" ({node[key]['name']})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(key))
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
    return "".join(parts) or "top level"


def _validate_against_format(document: Any, origin: str) -> None:
    if not isinstance(document, dict):
        raise DefinitionError(
            f"{origin}: a definition must be a mapping with 'client' and 'resources'"
        )
    validator = jsonschema.Draft202012Validator(format_schema())
    error = best_match(validator.iter_errors(document))
    if error is None:
        return
    while error.validator in ("oneOf", "anyOf") and error.context:
        # Report what is wrong inside the alternative that has the instance's type.
        specific = [
            e for e in error.context if e.validator not in ("type", "oneOf", "anyOf", "const")
        ]
        if not specific:
            break
        error = best_match(specific)
    message = error.message
    unexpected = re.search(r"\(('.+') (?:was|were) unexpected\)", message)
    if unexpected:
        message = f"unknown key {unexpected.group(1)}"
    elif error.validator in ("oneOf", "anyOf") and error.instance is not None:
        message = f"invalid value {json.dumps(error.instance, default=str)[:120]}"
    raise DefinitionError(f"{origin}: {_location(list(error.absolute_path), document)}: {message}")


def _merge_defaults(defaults: Mapping[str, Any], resource: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: copy.deepcopy(v) for k, v in defaults.items() if k != "endpoint"}
    merged.update({k: v for k, v in resource.items() if k != "endpoint"})
    endpoint: dict[str, Any] = copy.deepcopy(dict(defaults.get("endpoint") or {}))
    for key, value in (resource.get("endpoint") or {"path": resource["name"]}).items():
        if key in ("params", "headers") and isinstance(value, dict):
            endpoint[key] = {**endpoint.get(key, {}), **value}
        else:
            endpoint[key] = value
    merged["endpoint"] = endpoint
    return merged


class _Filler:
    """Fills ``${name}`` from settings, naming the key of any placeholder left unset."""

    def __init__(self, settings: Mapping[str, Any], origin: str, *, strict: bool = True) -> None:
        self.settings = settings
        self.origin = origin
        self.strict = strict
        self.unfilled: list[str] = []

    def __call__(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            whole = _SETTING_PLACEHOLDER.fullmatch(value)
            if whole:
                return self._lookup(whole.group(1), where, value)
            return _SETTING_PLACEHOLDER.sub(
                lambda m: str(self._lookup(m.group(1), where, m.group(0))), value
            )
        if isinstance(value, Mapping):
            return {k: self(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, f"{where}[{i}]") for i, v in enumerate(value)]
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


def _build_paginator_spec(spec: Any, where: str, origin: str) -> dict[str, Any] | None:
    if spec is None:
        return None
    spec = {"type": spec} if isinstance(spec, str) else dict(spec)
    kind = spec["type"]
    allowed = PAGINATORS[kind].keys | {"type"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        msg = f"{origin}: {where}: unknown key {unknown[0]!r} for paginator type {kind!r} (allowed: {', '.join(sorted(allowed))})"
        raise DefinitionError(msg)
    if kind == "offset" and "limit" not in spec:
        raise DefinitionError(f"{origin}: {where}: paginator type 'offset' needs 'limit'")
    if "stop_condition" in spec:
        try:
            spec["stop_condition"] = parse_stop_condition(spec["stop_condition"])
        except ValueError as exc:
            raise DefinitionError(f"{origin}: {where}.stop_condition: {exc}") from None
    for key in ("cursor_path", "next_url_path", "total_path"):
        if spec.get(key):
            try:
                split_path(spec[key])
            except ValueError as exc:
                raise DefinitionError(f"{origin}: {where}.{key}: {exc}") from None
    return dict(spec)


def _build_resource(
    raw: Mapping[str, Any],
    where: str,
    origin: str,
    fill: _Filler,
    client_paginator: Any,
    base_dir: Path | None,
    api_name: str,
) -> Resource:
    endpoint = raw["endpoint"]
    ep = f"{where}.endpoint"
    if "path" not in endpoint:
        raise DefinitionError(f"{origin}: {ep}: missing 'path'")
    path = fill(endpoint["path"], f"{ep}.path")

    params: dict[str, Any] = {}
    bindings: list[ParentBinding] = []
    path_names = _PATH_PLACEHOLDER.findall(path)
    for key, value in (endpoint.get("params") or {}).items():
        if isinstance(value, dict) and value.get("type") == "resolve":
            bindings.append(
                ParentBinding(key, value["resource"], value["field"], key in path_names)
            )
        else:
            params[key] = fill(value, f"{ep}.params.{key}")
    bound = {b.placeholder for b in bindings}
    for placeholder in path_names:
        if placeholder not in bound:
            msg = (
                f"{origin}: {ep}.path: placeholder {{{placeholder}}} has no binding; add "
                f"params: {{{placeholder}: {{type: resolve, resource: <parent>, field: <field>}}}}"
            )
            raise DefinitionError(msg)
    if len({b.resource for b in bindings}) > 1:
        msg = (
            f"{origin}: {ep}.params: all 'resolve' params must name the same parent resource "
            "(a grandchild resolves a grandparent's value from its parent, whose records "
            "carry it under the placeholder's name)"
        )
        raise DefinitionError(msg)

    paginator_raw = endpoint.get("paginator", client_paginator)
    paginator = _build_paginator_spec(paginator_raw, f"{ep}.paginator", origin)
    if (
        paginator
        and paginator.get("cursor_body_path")
        and str(endpoint.get("method", "GET")).upper() != "POST"
    ):
        raise DefinitionError(f"{origin}: {ep}.paginator.cursor_body_path: needs method POST")

    handler_raw = endpoint.get("error_handler") or {}
    handler = ErrorHandler(
        retry_on_status_codes=tuple(handler_raw.get("retry_on_status_codes", DEFAULT_RETRY_CODES)),
        max_retries=int(handler_raw.get("max_retries", ErrorHandler.max_retries)),
        backoff_factor=float(handler_raw.get("backoff_factor", ErrorHandler.backoff_factor)),
    )

    incremental = None
    if endpoint.get("incremental"):
        inc = endpoint["incremental"]
        if "." in inc["cursor_path"]:
            msg = f"{origin}: {ep}.incremental.cursor_path: must be a top-level record field, not {inc['cursor_path']!r}"
            raise DefinitionError(msg)
        incremental = Incremental(
            cursor_path=inc["cursor_path"],
            start_param=inc.get("start_param"),
            initial_value=fill(inc.get("initial_value"), f"{ep}.incremental.initial_value"),
            row_order=inc.get("row_order"),
            per_parent=bool(inc.get("per_parent", False)),
        )

    selector = endpoint.get("data_selector")
    if selector is not None:
        try:
            split_path(selector)
        except ValueError as exc:
            raise DefinitionError(f"{origin}: {ep}.data_selector: {exc}") from None

    primary_key = raw.get("primary_key")
    keys = (
        ()
        if primary_key is None
        else (primary_key,)
        if isinstance(primary_key, str)
        else tuple(primary_key)
    )
    disposition = raw.get("write_disposition", "append")
    if isinstance(disposition, dict):
        disposition = disposition["disposition"]

    schema_file: Path | None = None
    if raw.get("schema"):
        if base_dir is None:
            raise DefinitionError(
                f"{origin}: {where}.schema: only definition files can name schema files"
            )
        schema_file = (base_dir / raw["schema"]).resolve()
        if not schema_file.is_file():
            raise DefinitionError(f"{origin}: {where}.schema: file {schema_file} does not exist")
    elif base_dir is None:
        candidate = resources.files("tap_example.schemas") / api_name / f"{raw['name']}.json"
        schema_file = Path(str(candidate))

    return Resource(
        name=raw["name"],
        path=path,
        method=str(endpoint.get("method", "GET")).upper(),
        params=params,
        json=fill(endpoint.get("json"), f"{ep}.json"),
        headers={
            k: str(v) for k, v in fill(endpoint.get("headers") or {}, f"{ep}.headers").items()
        },
        data_selector=selector,
        paginator=paginator,
        error_handler=handler,
        primary_key=keys,
        write_disposition=disposition,
        incremental=incremental,
        bindings=tuple(bindings),
        include_from_parent=tuple(raw.get("include_from_parent") or ()),
        schema_file=schema_file,
        selected=bool(raw.get("selected", True)),
    )


def _check_bindings(resources_: list[Resource], origin: str) -> None:
    by_name = {r.name: r for r in resources_}
    for index, resource in enumerate(resources_):
        where = f"resources[{index}] ({resource.name}).endpoint.params"
        for binding in resource.bindings:
            if binding.resource not in by_name:
                msg = f"{where}.{binding.placeholder}: resolves from resource {binding.resource!r}, which is not defined"
                raise DefinitionError(f"{origin}: {msg}")
        if resource.include_from_parent and not resource.parent:
            msg = f"{origin}: resources[{index}] ({resource.name}).include_from_parent: the resource has no parent"
            raise DefinitionError(msg)
        seen = [resource.name]
        parent = resource.parent
        while parent:
            if parent in seen:
                chain = " -> ".join([*seen, parent])
                raise DefinitionError(f"{origin}: {where}: parent cycle {chain}")
            seen.append(parent)
            parent = by_name[parent].parent
