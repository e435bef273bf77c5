"""dlt ``rest_api`` configs as they are: the forms dlt accepts that the tap's own format spells
differently, normalised before the document is validated (:func:`normalise`).

- ``auth`` without ``type`` is bearer (dlt's default); ``auth: bearer`` (the string shorthand)
  takes its credentials from the settings of the same names (``${token}``, ``${api_key}``, ...),
  as dlt takes them from its config providers.
- an endpoint without ``path`` (or a resource without ``endpoint``) reads the resource's name.
- an endpoint's ``auth`` takes the client's forms; ``response_actions`` hold no callables.
- destination hints (``table_name``, ...) are accepted with one note each; keys a
  file cannot carry (``processing_steps``, ``client.session``) or the tap does not support yet
  are errors that say so, never "unknown key".

Nothing here imports the engine: it is data in, data out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tap_example.errors import DefinitionError

#: What a bare ``auth: <type>`` takes from the settings (dlt resolves these from its config).
SHORTHAND_CREDENTIALS: dict[str, dict[str, str]] = {
    "bearer": {"token": "${token}"},
    "api_key": {"api_key": "${api_key}"},
    "http_basic": {"username": "${username}", "password": "${password}"},
    "oauth2_client_credentials": {
        "client_id": "${client_id}",
        "client_secret": "${client_secret}",
        "access_token_url": "${access_token_url}",
    },
}

#: dlt resource keys that only concern dlt's destination: accepted, with what the tap does.
DESTINATION_HINTS: dict[str, str] = {
    "table_name": (
        "the stream keeps the resource's name (state, selection and parent relations are keyed "
        "on it); to load into another table rename the stream with a stream map "
        "(stream_maps: {<resource>: {__alias__: <table>}})"
    ),
    "max_table_nesting": "nesting is the target's concern (target-side flattening settings)",
    "table_format": "table formats are chosen by the target",
    "file_format": "file formats are chosen by the target",
    "merge_key": "merge keys are a loader concern; primary_key is sent as the stream's key",
    "references": "table references are dlt destination schema; Singer has no place for them",
    "nested_hints": "nested-table hints are dlt destination schema; Singer has no place for them",
    "parent_table_name": "nested tables are the target's concern (Singer streams are flat lists)",
    "parallelized": "the tap already fetches pages and children concurrently (see 'max_workers')",
}

#: dlt keys a definition file cannot carry, and what to use instead.
PYTHON_ONLY: dict[str, str] = {
    "processing_steps": (
        "holds Python callables (filter/map/yield_map), which a definition file cannot carry; "
        "drop it and filter or transform records with stream maps (Meltano mappers or the "
        "tap's stream_maps setting)"
    ),
}

#: dlt keys the tap does not support (yet), and why (none at the moment: ``data``, dlt's form
#: or raw body, is sent as dlt sends it).
NOT_SUPPORTED: dict[str, str] = {}

#: What a definition file cannot carry in place of a response action.
_CALLABLE_ACTION = (
    "is a Python callable (a requests response hook), which a definition file cannot carry; "
    "use {status_code: <int>, content: <substring>, action: ignore}"
)

_CLIENT_PYTHON_ONLY = {
    "session": (
        "is a Python requests.Session, which a definition file cannot carry; the tap pools its "
        "own sessions (see the 'max_workers' and proxy/CA settings)"
    ),
}


def normalise(document: Any, origin: str) -> tuple[Any, tuple[str, ...]]:
    """``document`` with dlt's shorthands expanded, and the notes about hints it accepted."""
    if not isinstance(document, dict):
        return document, ()
    notes: list[str] = []
    client = document.get("client")
    if isinstance(client, dict):
        for key, why in _CLIENT_PYTHON_ONLY.items():
            if key in client:
                raise DefinitionError(f"{origin}: client.{key}: dlt's {key} {why}")
        if "auth" in client:
            client["auth"] = _auth(client["auth"], "client.auth", origin)
    defaults = document.get("resource_defaults")
    if isinstance(defaults, dict):
        notes.extend(_resource_keys(defaults, "resource_defaults", origin))
        _endpoint_keys(defaults.get("endpoint"), "resource_defaults.endpoint", origin)
    resources = document.get("resources")
    for index, item in enumerate(resources if isinstance(resources, list) else []):
        if not isinstance(item, dict):
            continue
        where = f"resources[{index}] ({item.get('name')})"
        notes.extend(_resource_keys(item, where, origin))
        endpoint = item.get("endpoint")
        if endpoint is None:
            item["endpoint"] = endpoint = {}
        if isinstance(endpoint, dict) and "path" not in endpoint and "name" in item:
            endpoint["path"] = item["name"]  # dlt: the endpoint's path defaults to the name
        if isinstance(endpoint, dict):
            _incremental_param(endpoint, f"{where}.endpoint", origin)
            _endpoint_keys(endpoint, f"{where}.endpoint", origin)
            notes.extend(_incremental_keys(endpoint, f"{where}.endpoint.incremental", origin))
    return document, tuple(notes)


#: dlt incremental keys that steer dlt's own machinery: accepted, with what the tap does.
INCREMENTAL_HINTS: dict[str, str] = {
    "primary_key": (
        "dlt deduplicates records equal to the last cursor value on it; the tap sends such "
        "records again (at least once) and targets deduplicate on the stream's primary key"
    ),
    "allow_external_schedulers": (
        "there is no external scheduler here; the range comes from the state, start_date and "
        "initial_value"
    ),
}


def _incremental_keys(endpoint: dict[str, Any], where: str, origin: str) -> Iterator[str]:
    """dlt's incremental keys the tap has no use for, as notes; ``convert`` (a callable) as a
    one-line error."""
    incremental = endpoint.get("incremental")
    if not isinstance(incremental, dict):
        return
    if "convert" in incremental:
        msg = (
            f"{origin}: {where}.convert: dlt's convert is not supported by tap-example because "
            "it is a Python callable, which a definition file cannot carry; use start_format "
            "for how the start value is sent"
        )
        raise DefinitionError(msg)
    for key, why in INCREMENTAL_HINTS.items():
        if key in incremental:
            incremental.pop(key)
            yield f"{where}.{key}: dlt's {key} is accepted and not acted on: {why}"


def _endpoint_keys(endpoint: Any, where: str, origin: str) -> None:
    """An endpoint's own ``auth`` in the client's forms; ``response_actions`` a file can hold."""
    if not isinstance(endpoint, dict):
        return
    if endpoint.get("auth") is not None:
        endpoint["auth"] = _auth(endpoint["auth"], f"{where}.auth", origin)
    actions = endpoint.get("response_actions")
    for index, action in enumerate(actions if isinstance(actions, list) else []):
        at = f"{origin}: {where}.response_actions[{index}]"
        if callable(action):
            raise DefinitionError(f"{at}: dlt's response action {_CALLABLE_ACTION}")
        if not isinstance(action, dict):
            continue
        kind = action.get("action")
        if callable(kind) or (isinstance(kind, list) and kind and all(map(callable, kind))):
            msg = (
                f"{at}.action: dlt's custom response action is not supported by tap-example "
                f"because it {_CALLABLE_ACTION}"
            )
            raise DefinitionError(msg)
        if kind is None:
            msg = f"{at}.action: missing; dlt needs one: action: ignore"
            raise DefinitionError(msg)
        if isinstance(kind, str) and kind != "ignore":
            msg = (
                f"{at}.action: unknown response action {kind!r}: 'ignore' is the one action "
                "dlt takes by name (others are Python callables)"
            )
            raise DefinitionError(msg)
        if action.get("status_code") is None and action.get("content") is None:
            msg = f"{at}: needs status_code or content (or both), as dlt matches on them"
            raise DefinitionError(msg)


def _incremental_param(endpoint: dict[str, Any], where: str, origin: str) -> None:
    """dlt's older form, ``params: {since: {type: incremental, cursor_path: ...}}``, as the
    endpoint's ``incremental`` with ``start_param: since``."""
    params = endpoint.get("params")
    if not isinstance(params, dict):
        return
    found = [k for k, v in params.items() if isinstance(v, dict) and v.get("type") == "incremental"]
    if not found:
        return
    if len(found) > 1 or "incremental" in endpoint:
        msg = (
            f"{origin}: {where}.params.{found[-1]}: only one incremental per endpoint (dlt's "
            "rule): an incremental param, or endpoint.incremental"
        )
        raise DefinitionError(msg)
    values = {k: v for k, v in params.pop(found[0]).items() if k != "type"}
    if "end_value" in values:
        msg = (
            f"{origin}: {where}.params.{found[0]}.end_value: dlt allows end_value only in "
            "endpoint.incremental (with end_param), not in an incremental param"
        )
        raise DefinitionError(msg)
    endpoint["incremental"] = {"start_param": found[0], **values}


def _auth(raw: Any, where: str, origin: str) -> Any:
    if isinstance(raw, list):
        return [_auth(item, f"{where}[{i}]", origin) for i, item in enumerate(raw)]
    if isinstance(raw, str):
        if raw not in SHORTHAND_CREDENTIALS:
            known = ", ".join(SHORTHAND_CREDENTIALS)
            msg = f"{origin}: {where}: unknown auth type {raw!r} (known shorthands: {known})"
            raise DefinitionError(msg)
        return {"type": raw, **SHORTHAND_CREDENTIALS[raw]}
    if not isinstance(raw, dict):
        return raw
    values = dict(raw)
    values.setdefault("type", "bearer")  # dlt: an auth mapping without type is bearer
    if values.get("type") == "api_key" and values.get("location") == "param":
        values["location"] = "query"  # dlt: 'param' is another name for 'query'
    if "session" in values:
        msg = f"{origin}: {where}.session: dlt's session {_CLIENT_PYTHON_ONLY['session']}"
        raise DefinitionError(msg)
    return values


def _resource_keys(item: dict[str, Any], where: str, origin: str) -> Iterator[str]:
    for key, why in PYTHON_ONLY.items():
        if key in item:
            raise DefinitionError(f"{origin}: {where}.{key}: dlt's {key} {why}")
    for key, why in DESTINATION_HINTS.items():
        if key in item:
            item.pop(key)
            yield f"{where}.{key}: dlt's {key} is accepted and not acted on: {why}"
    if item.get("columns") is not None:
        item["columns"], dropped = _columns(item["columns"], f"{where}.columns", origin)
        if dropped:
            yield (
                f"{where}.columns: dlt's column hints {', '.join(dropped)} are destination schema "
                "and not acted on; data_type, nullable and description shape the stream's schema"
            )
    disposition = item.get("write_disposition")
    if isinstance(disposition, dict) and "strategy" in disposition:
        strategy = disposition.pop("strategy")
        yield (
            f"{where}.write_disposition.strategy: dlt's merge strategy {strategy!r} is the "
            "loader's choice; the tap sends the primary key and every changed record"
        )
    endpoint = item.get("endpoint")
    if isinstance(endpoint, dict):
        for key, why in NOT_SUPPORTED.items():
            if key in endpoint:
                msg = (
                    f"{origin}: {where}.endpoint.{key}: dlt's {key} is not supported by "
                    f"tap-example because {why}"
                )
                raise DefinitionError(msg)


#: The column hint keys the tap turns into the stream's JSON schema.
COLUMN_KEYS = ("data_type", "nullable", "description")


def _columns(raw: Any, where: str, origin: str) -> tuple[dict[str, Any], list[str]]:
    """dlt's ``columns`` (a mapping by name, or a list of columns with ``name``) as a mapping
    of the keys the tap acts on, and the other hint keys it found (sorted, once each)."""
    if isinstance(raw, list) and all(isinstance(c, dict) and "name" in c for c in raw):
        raw = {c["name"]: {k: v for k, v in c.items() if k != "name"} for c in raw}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        msg = (
            f"{origin}: {where}: dlt's columns given as {type(raw).__name__} is not supported "
            "by tap-example because a definition file holds hints as data only; use "
            "{<column>: {data_type: <type>, nullable: <bool>}}"
        )
        raise DefinitionError(msg)
    dropped = sorted(
        {k for hints in raw.values() for k in hints if k not in (*COLUMN_KEYS, "name")}
    )
    kept = {name: {k: v for k, v in h.items() if k in COLUMN_KEYS} for name, h in raw.items()}
    return kept, dropped


_RESOURCE_EXPRESSION = re.compile(r"(?<![\$\{])\{(resources\.[^{}]+)\}")
_INCREMENTAL_EXPRESSION = re.compile(r"(?<![\$\{])\{(incremental\.[^{}]+)\}")


def expressions(value: Any, pattern: re.Pattern[str] = _RESOURCE_EXPRESSION) -> list[str]:
    """The ``{resources.R.F}`` expressions anywhere in ``value`` (strings, keys, nested), in
    order, once each."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.extend(e for e in pattern.findall(node) if e not in found)
        elif isinstance(node, dict):
            for key, item in node.items():
                walk(key)
                walk(item)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)

    walk(value)
    return found


def incremental_expressions(value: Any) -> list[str]:
    """The ``{incremental.X}`` expressions anywhere in ``value``."""
    return expressions(value, _INCREMENTAL_EXPRESSION)


def parse_resource_expression(expression: str) -> tuple[str, str]:
    """``resources.R.F`` as ``(R, F)``; ``F`` may be a dot path."""
    parts = expression.strip().split(".", 2)
    if len(parts) != 3 or not all(parts):
        msg = f"invalid expression {{{expression}}}: expected {{resources.<resource>.<field>}}"
        raise ValueError(msg)
    return parts[1], parts[2]


def binding_name(resource: str, field: str) -> str:
    """Where a ``{resources.R.F}`` value lands in child records: ``_R_F`` (dots made ``_``),
    dlt's name for ``include_from_parent`` fields."""
    return f"_{resource}_{field.replace('.', '_')}"
