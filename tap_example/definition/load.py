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
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from tap_example.definition.dlt_compat import (
    binding_name,
    expressions,
    normalise,
    parse_resource_expression,
)
from tap_example.definition.model import (
    AUTH_SPECS,
    COLUMN_TYPES,
    DEFAULT_RETRY_CODES,
    PAGINATOR_SPECS,
    AuthSpec,
    ColumnHint,
    Definition,
    ErrorHandler,
    Incremental,
    OffsetSpec,
    PageNumberSpec,
    PaginatorSpec,
    ParentBinding,
    RateLimit,
    Resource,
    ResponseAction,
)
from tap_example.definition.placeholders import Filler, placeholder_names
from tap_example.definition.stop_condition import StopCondition, parse_stop_condition
from tap_example.errors import DefinitionError
from tap_example.jsonpaths import check_selector, split_path
from tap_example.timestamps import is_date_text

BUILTIN_APIS = ("payments", "billing", "crm", "commerce", "clinical")

_PATH_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")

_DOTTED_PLACEHOLDER = re.compile(r"(?<![\$\{])\{([A-Za-z_][A-Za-z0-9_\-]*\.[^{}]*)\}")


def single_entity_path(path: str) -> bool:
    """The path's last segment holds a placeholder: it names one object (dlt's test)."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return re.search(r"(?<!\$)\{([a-zA-Z0-9\.\-_]+)\}", last) is not None


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
    document, notes = normalise(_expand_shorthands(copy.deepcopy(document)), origin)
    _validate_against_format(document, origin)
    client = document["client"]
    defaults = document.get("resource_defaults") or {}
    fill = Filler(settings, origin, strict=strict)

    base_url = fill(client["base_url"], "client.base_url")
    headers = {k: str(v) for k, v in fill(client.get("headers") or {}, "client.headers").items()}
    alternatives = auth_specs(client.get("auth"), origin)

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
        rate_limit=RateLimit(**(client.get("rate_limit") or {})),
        notes=notes,
    )


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
    if json_only:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise DefinitionError(f"{origin}: not valid JSON: {_one_line(exc)}") from None
    import yaml  # only a YAML definition needs it (a run from a JSON definition does not)

    try:
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise DefinitionError(f"{origin}: not valid YAML: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    return str(exc).replace("\n", " ")


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


# --------------------------------------------------------------------------- specs


def paginator_spec(
    raw: Any, where: str = "paginator", origin: str = "definition"
) -> PaginatorSpec | None:
    """A paginator's typed spec; a key its type does not take is an error naming the type."""
    if raw is None:
        return None
    values = {"type": raw} if isinstance(raw, str) else dict(raw)
    kind = values.pop("type")
    spec_type = PAGINATOR_SPECS.get(kind)
    if spec_type is None:
        msg = f"{origin}: {where}.type: unknown paginator type {kind!r} (known: {', '.join(PAGINATOR_SPECS)})"
        raise DefinitionError(msg)
    allowed = spec_type.keys()
    unknown = sorted(set(values) - allowed)
    if unknown:
        names = ", ".join(sorted(allowed | {"type"}))
        msg = f"{origin}: {where}: unknown key {unknown[0]!r} for paginator type {kind!r} (allowed: {names})"
        raise DefinitionError(msg)
    if spec_type is OffsetSpec and "limit" not in values:
        raise DefinitionError(f"{origin}: {where}: paginator type 'offset' needs 'limit'")
    _check_placements(values, kind, where, origin)
    if "stop_condition" in values and not isinstance(values["stop_condition"], StopCondition):
        try:
            values["stop_condition"] = parse_stop_condition(values["stop_condition"])
        except ValueError as exc:
            raise DefinitionError(f"{origin}: {where}.stop_condition: {exc}") from None
    for key in ("cursor_path", "next_url_path", "total_path", "has_more_path"):
        if values.get(key):
            try:
                split_path(values[key])
            except ValueError as exc:
                raise DefinitionError(f"{origin}: {where}.{key}: {exc}") from None
    if values.get("base_page") is None:
        values.pop("base_page", None)
    spec = spec_type(**values)
    _check_stops(spec, kind, where, origin)
    return spec


#: Where a paginator may put a value: a query parameter or a JSON body path, never both (dlt).
_PLACEMENTS = (
    ("page_param", "page_body_path"),
    ("offset_param", "offset_body_path"),
    ("limit_param", "limit_body_path"),
    ("cursor_param", "cursor_body_path"),
)


def _check_placements(values: Mapping[str, Any], kind: str, where: str, origin: str) -> None:
    for param, body_path in _PLACEMENTS:
        if values.get(param) is not None and values.get(body_path) is not None:
            msg = (
                f"{origin}: {where}: paginator type {kind!r} takes {param!r} or {body_path!r}, "
                "not both (the value goes either into the query or into the JSON body)"
            )
            raise DefinitionError(msg)


def _check_stops(spec: PaginatorSpec, kind: str, where: str, origin: str) -> None:
    """A page-number or offset paginator with no way to stop is an error, as in dlt."""
    if not isinstance(spec, (PageNumberSpec, OffsetSpec)):
        return
    maximum = spec.maximum_page if isinstance(spec, PageNumberSpec) else spec.maximum_offset
    if (
        spec.total_path is None
        and maximum is None
        and spec.has_more_path is None
        and spec.stop_after_empty_page is False
        and spec.stop_condition is None
    ):
        last = "maximum_page" if isinstance(spec, PageNumberSpec) else "maximum_offset"
        msg = (
            f"{origin}: {where}: paginator type {kind!r} never stops with total_path: null and "
            f"stop_after_empty_page: false; set total_path, {last}, has_more_path or "
            "stop_condition, or drop stop_after_empty_page: false"
        )
        raise DefinitionError(msg)


def auth_specs(
    raw: Any, origin: str = "definition", key: str = "client.auth"
) -> tuple[AuthSpec, ...]:
    """``client.auth`` (or an endpoint's ``auth``: ``key``), one mapping or a list of
    alternatives, as typed specs; ``${settings}`` stay in place until the tap chooses an
    alternative."""
    alternatives = raw if isinstance(raw, list) else [raw] if raw else []
    specs: list[AuthSpec] = []
    for index, item in enumerate(alternatives):
        where = f"{key}[{index}]" if isinstance(raw, list) else key
        values = dict(item)
        kind = values.pop("type")
        spec_type = AUTH_SPECS.get(kind)
        if spec_type is None:
            msg = f"{origin}: {where}.type: unknown auth type {kind!r} (known: {', '.join(AUTH_SPECS)})"
            raise DefinitionError(msg)
        unknown = sorted(set(values) - spec_type.keys())
        if unknown:
            msg = f"{origin}: {where}: unknown key {unknown[0]!r} for auth type {kind!r}"
            raise DefinitionError(msg)
        if isinstance(values.get("scopes"), list):
            values["scopes"] = tuple(values["scopes"])
        specs.append(spec_type(**values))
    return tuple(specs)


# --------------------------------------------------------------------------- resources


def _build_resource(
    raw: Mapping[str, Any],
    where: str,
    origin: str,
    fill: Filler,
    client_paginator: Any,
    base_dir: Path | None,
    api_name: str,
) -> Resource:
    endpoint = raw["endpoint"]
    ep = f"{where}.endpoint"
    if "path" not in endpoint:
        raise DefinitionError(f"{origin}: {ep}: missing 'path'")
    path, params, bindings = _params_and_bindings(
        fill(endpoint["path"], f"{ep}.path"), endpoint, ep, origin, fill
    )
    method = str(endpoint.get("method", "GET")).upper()
    raw_paginator = endpoint.get("paginator", client_paginator)
    if raw_paginator is None and base_dir is not None:
        raw_paginator = "auto"  # dlt: no paginator means detect it from the first response
    selector = endpoint.get("data_selector")
    if single_entity_path(path):  # dlt: ``.../{id}`` answers one object, on one page
        raw_paginator = raw_paginator or "single_page"
        selector = "$" if selector is None else selector
    if base_dir is not None:
        raw_paginator = _dlt_paginator_defaults(raw_paginator)
    paginator = paginator_spec(raw_paginator, f"{ep}.paginator", origin)
    for key in ("cursor_body_path", "page_body_path", "offset_body_path", "limit_body_path"):
        if getattr(paginator, key, None) and method != "POST":
            raise DefinitionError(f"{origin}: {ep}.paginator.{key}: needs method POST")
    _check_selector(selector, ep, origin)
    _check_body(endpoint, paginator, ep, origin)
    disposition = raw.get("write_disposition", "append")
    if isinstance(disposition, dict):
        disposition = disposition["disposition"]
    return Resource(
        name=raw["name"],
        path=path,
        method=method,
        params=params,
        json=fill(endpoint.get("json"), f"{ep}.json"),
        data=fill(endpoint.get("data"), f"{ep}.data"),
        headers={
            k: str(v) for k, v in fill(endpoint.get("headers") or {}, f"{ep}.headers").items()
        },
        data_selector=selector,
        paginator=paginator,
        error_handler=_error_handler(endpoint, ep, origin),
        primary_key=_primary_key(raw.get("primary_key")),
        write_disposition=disposition,
        incremental=_incremental(
            endpoint.get("incremental"), ep, origin, fill, base_dir is not None
        ),
        bindings=bindings,
        include_from_parent=tuple(raw.get("include_from_parent") or ()),
        schema_file=_schema_file(raw, where, origin, base_dir, api_name),
        selected=bool(raw.get("selected", True)),
        schema_contract=raw.get("schema_contract"),
        auth=auth_specs(endpoint["auth"], origin, f"{ep}.auth") if "auth" in endpoint else None,
        columns=_columns(raw.get("columns") or {}, where, origin),
    )


def _check_body(endpoint: Mapping[str, Any], paginator: Any, ep: str, origin: str) -> None:
    """dlt's ``data`` (a form or raw body) excludes ``json``, and body-path paginators write
    into a JSON body only."""
    if endpoint.get("data") is None:
        return
    if endpoint.get("json") is not None:
        msg = f"{origin}: {ep}.data: 'json' and 'data' cannot both be given (dlt's rule): pick one"
        raise DefinitionError(msg)
    for key in ("cursor_body_path", "page_body_path", "offset_body_path", "limit_body_path"):
        if getattr(paginator, key, None):
            msg = f"{origin}: {ep}.paginator.{key}: writes into a 'json' body, not 'data'"
            raise DefinitionError(msg)


def _dlt_paginator_defaults(raw: Any) -> Any:
    """A user definition's paginator with dlt's defaults where the built-in definitions use
    the tap's own: a ``cursor`` without ``cursor_path`` reads ``cursors.next`` (dlt's
    ``JSONResponseCursorPaginator``), not the parameter's name."""
    if raw == "cursor" or (isinstance(raw, dict) and raw.get("type") == "cursor"):
        values = {"type": "cursor"} if isinstance(raw, str) else dict(raw)
        values.setdefault("cursor_path", "cursors.next")
        return values
    return raw


def _params_and_bindings(
    path: str, endpoint: Mapping[str, Any], ep: str, origin: str, fill: Filler
) -> tuple[str, dict[str, Any], tuple[ParentBinding, ...]]:
    """The path with plain params bound into its placeholders (dlt's ``_bind_path_params``),
    the remaining query parameters, and the bindings to a parent's fields: ``resolve`` params
    and ``{resources.R.F}`` expressions in the path, params, json and headers."""
    params: dict[str, Any] = {}
    bindings: list[ParentBinding] = []
    raw_params = dict(endpoint.get("params") or {})
    for placeholder in _PATH_PLACEHOLDER.findall(path):
        value = raw_params.get(placeholder)
        if placeholder in raw_params and not isinstance(value, dict):
            filled = fill(raw_params.pop(placeholder), f"{ep}.params.{placeholder}")
            path = path.replace(f"{{{placeholder}}}", str(filled))
    path_names = _PATH_PLACEHOLDER.findall(path)
    for key, value in raw_params.items():
        if isinstance(value, dict) and value.get("type") == "resolve":
            bindings.append(
                ParentBinding(key, value["resource"], value["field"], key in path_names)
            )
        else:
            params[key] = fill(value, f"{ep}.params.{key}")
    bindings.extend(_expression_bindings(path, endpoint, ep, origin))
    for name in _DOTTED_PLACEHOLDER.findall(path):
        if not name.startswith(("resources.", "incremental.")):
            msg = (
                f"{origin}: {ep}.path: placeholder {{{name}}} is not a valid name; valid names "
                "start with 'resources.' or 'incremental.'"
            )
            raise DefinitionError(msg)
    bound = {b.placeholder for b in bindings}
    for placeholder in path_names:
        if placeholder not in bound:
            msg = (
                f"{origin}: {ep}.path: placeholder {{{placeholder}}} has no binding; add "
                f"params: {{{placeholder}: <value>}}, or name the parent's field as "
                f"{{resources.<parent>.<field>}} in the path"
            )
            raise DefinitionError(msg)
    if len({b.resource for b in bindings}) > 1:
        msg = (
            f"{origin}: {ep}.params: all 'resolve' params must name the same parent resource "
            "(a grandchild resolves a grandparent's value from its parent, whose records carry "
            "it under the placeholder's name); {resources.R.F} expressions too"
        )
        raise DefinitionError(msg)
    return path, params, tuple(bindings)


def _expression_bindings(
    path: str, endpoint: Mapping[str, Any], ep: str, origin: str
) -> list[ParentBinding]:
    """One binding per ``{resources.R.F}`` expression (dlt's current placeholder syntax)."""
    bindings: list[ParentBinding] = []
    in_path = set(expressions(path))
    for key in ("path", "params", "json", "data", "headers"):
        value = path if key == "path" else endpoint.get(key)
        for expression in expressions(value):
            if any(b.expression == expression for b in bindings):
                continue
            try:
                resource, field_path = parse_resource_expression(expression)
                split_path(field_path)
            except ValueError as exc:
                raise DefinitionError(f"{origin}: {ep}.{key}: {exc}") from None
            bindings.append(
                ParentBinding(
                    binding_name(resource, field_path),
                    resource,
                    field_path,
                    expression in in_path,
                    expression=expression,
                )
            )
    return bindings


def _error_handler(endpoint: Mapping[str, Any], ep: str, origin: str) -> ErrorHandler:
    """The endpoint's ``error_handler``, with its ``response_actions`` (dlt's endpoint key)."""
    raw = endpoint.get("error_handler") or {}
    actions = tuple(
        ResponseAction(status_code=a.get("status_code"), content=a.get("content"))
        for a in endpoint.get("response_actions") or ()
    )
    return ErrorHandler(
        retry_on_status_codes=tuple(raw.get("retry_on_status_codes", DEFAULT_RETRY_CODES)),
        max_retries=int(raw.get("max_retries", ErrorHandler.max_retries)),
        backoff_factor=float(raw.get("backoff_factor", ErrorHandler.backoff_factor)),
        response_actions=actions,
    )


def _check_selector(selector: str | None, ep: str, origin: str) -> None:
    """A ``data_selector`` is a dot path or JSONPath (jsonpath-ng's extended syntax, as dlt's)."""
    if selector is not None:
        try:
            check_selector(selector)
        except ValueError as exc:
            raise DefinitionError(f"{origin}: {ep}.data_selector: {exc}") from None


def _columns(raw: Mapping[str, Any], where: str, origin: str) -> dict[str, ColumnHint]:
    """dlt's ``columns`` hints (normalised by ``dlt_compat``) as typed hints."""
    hints: dict[str, ColumnHint] = {}
    for name, values in raw.items():
        kind = values.get("data_type")
        if kind is not None and kind not in COLUMN_TYPES:
            msg = (
                f"{origin}: {where}.columns.{name}.data_type: unknown dlt data type {kind!r} "
                f"(known: {', '.join(COLUMN_TYPES)})"
            )
            raise DefinitionError(msg)
        hints[name] = ColumnHint(
            data_type=kind,
            nullable=values.get("nullable"),
            description=values.get("description"),
        )
    return hints


def _incremental(
    raw: Any, ep: str, origin: str, fill: Filler, user_file: bool = True
) -> Incremental | None:
    if not raw:
        return None
    where = f"{origin}: {ep}.incremental"
    func = raw.get("last_value_func", "max")
    if func not in ("max", "min"):
        msg = (
            f"{where}.last_value_func: {func!r} is not supported by tap-example because a "
            "definition file cannot carry a Python callable; use 'max' or 'min'"
        )
        raise DefinitionError(msg)
    try:
        split_path(raw["cursor_path"])
    except ValueError as exc:
        raise DefinitionError(f"{where}.cursor_path: {exc}") from None
    return Incremental(
        cursor_path=raw["cursor_path"],
        start_param=raw.get("start_param"),
        initial_value=fill(raw.get("initial_value"), f"{ep}.incremental.initial_value"),
        row_order=raw.get("row_order"),
        per_parent=bool(raw.get("per_parent", False)),
        start_format=str(raw.get("start_format") or _start_format(raw, user_file)),
        opt_in=bool(raw.get("opt_in", False)),
        end_param=raw.get("end_param"),
        end_value=fill(raw.get("end_value"), f"{ep}.incremental.end_value"),
        lag=float(raw["lag"]) if raw.get("lag") is not None else None,
        # dlt's default is raise; the built-in APIs keep records without a cursor
        on_cursor_value_missing=raw.get(
            "on_cursor_value_missing", "raise" if user_file else "include"
        ),
        range_start=raw.get("range_start", "closed"),
        range_end=raw.get("range_end", "open"),
        last_value_func=func,
    )


def _start_format(raw: Mapping[str, Any], user_file: bool) -> str:
    """dlt sends the start as it is written: a date ``initial_value`` (``2024-03-01``) goes to
    the API as a date, not a date-time."""
    initial = raw.get("initial_value")
    if user_file and is_date_text(initial):
        return "date"
    return "rfc3339"


def _primary_key(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    return (raw,) if isinstance(raw, str) else tuple(raw)


def _schema_file(
    raw: Mapping[str, Any], where: str, origin: str, base_dir: Path | None, api_name: str
) -> Path | None:
    """The resource's schema file: the user's ``schema``, or the built-in API's packaged one."""
    if raw.get("schema"):
        if base_dir is None:
            raise DefinitionError(
                f"{origin}: {where}.schema: only definition files can name schema files"
            )
        schema_file: Path = (base_dir / str(raw["schema"])).resolve()
        if not schema_file.is_file():
            raise DefinitionError(f"{origin}: {where}.schema: file {schema_file} does not exist")
        return schema_file
    if base_dir is None:
        candidate = resources.files("tap_example.schemas") / api_name / f"{raw['name']}.json"
        return Path(str(candidate))
    return None


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
