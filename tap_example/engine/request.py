"""A stream's request, built from its resource: URL, query parameters, headers, body, method."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from singer_sdk.streams.rest import HTTPRequest

from tap_example.definition.model import Definition, Resource
from tap_example.engine.paging import DefinitionPaginator, build_paginator


class RequestBuilder:
    """Everything of a request that comes from the definition (paging comes from the paginator)."""

    def __init__(self, definition: Definition, resource: Resource, page_size: int | None) -> None:
        self.definition = definition
        self.resource = resource
        self.page_size = page_size
        #: Shapes requests for page tokens (paging state lives in each loop's own paginator).
        self._shaper: DefinitionPaginator[Any] = build_paginator(resource.paginator, page_size)
        #: ``{incremental.start_value}`` and friends for a partition (the stream's
        #: ``IncrementalPolicy.placeholder_values``), when the resource is incremental.
        self.incremental_values: Callable[[Mapping[str, Any] | None], Mapping[str, Any]] | None = (
            None
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Accept": "application/json", **self.definition.headers, **self.resource.headers}

    def url(self, url_base: str, context: Mapping[str, Any] | None) -> str:
        """Base URL + path, with ``{placeholders}`` taken from the parent context only."""
        path = self.resource.path
        for binding in self.resource.bindings:
            if binding.in_path and binding.expression is None:
                value = (context or {}).get(binding.placeholder)
                path = path.replace(f"{{{binding.placeholder}}}", quote(str(value), safe=""))
        path = str(expand(path, self.values(context), quote_values=True))
        if path.startswith(("http://", "https://")):
            return path
        if not path.strip("/"):  # dlt's ``path: ''``: the base URL itself
            return url_base
        return f"{url_base}/{path.lstrip('/')}"

    def values(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """What ``{resources.R.F}`` and ``{incremental.X}`` expressions stand for in this
        partition."""
        values = {
            b.expression: (context or {}).get(b.placeholder)
            for b in self.resource.bindings
            if b.expression is not None
        }
        if self.incremental_values is not None:
            values.update(self.incremental_values(context))
        return values

    def params(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """The resource's parameters and the parent values bound to query parameters."""
        params: dict[str, Any] = dict(self.resource.params)
        for binding in self.resource.bindings:
            if not binding.in_path and binding.expression is None:
                params[binding.placeholder] = (context or {}).get(binding.placeholder)
        values = self.values(context)
        return (
            {expand(k, values): expand(v, values) for k, v in params.items()} if values else params
        )

    def payload(self, context: Mapping[str, Any] | None = None) -> Any:
        """A fresh copy of the resource's JSON body (paginators may write into it); a string
        that is one expression takes the value itself (its type kept, as dlt does). dlt's
        ``data`` (a form or raw body) instead, when the resource has one."""
        if self.resource.data is not None:
            return expand(self.resource.data, self.values(context))
        body = self.resource.json
        if body is None:
            return None
        return expand(json.loads(json.dumps(body)), self.values(context), keep_type=True)

    def headers_for(self, context: Mapping[str, Any] | None) -> dict[str, str]:
        """The request's headers with ``{resources.R.F}`` expressions filled."""
        values = self.values(context)
        return {k: str(expand(v, values)) for k, v in self.headers.items()}

    def shape(
        self, request: HTTPRequest, token: Any, context: Mapping[str, Any] | None = None
    ) -> None:
        """The method, expressions in headers, and the page size and ``token`` where the
        paginator puts them."""
        request.method = self.resource.method
        if self.values(context):
            request.headers.update(self.headers_for(context))
        self._shaper.apply(request, token)


_EXPRESSION = re.compile(r"(?<![\$\{])\{((?:resources|incremental)\.[^{}]+)\}")


def expand(
    value: Any, values: Mapping[str, Any], *, quote_values: bool = False, keep_type: bool = False
) -> Any:
    """``value`` with each ``{resources.R.F}`` / ``{incremental.X}`` it holds (in strings, keys,
    nested) replaced from ``values``; an expression without a value stays as it is."""
    if not values:
        return value
    if isinstance(value, str):
        whole = _EXPRESSION.fullmatch(value)
        if keep_type and whole and whole.group(1) in values:
            return values[whole.group(1)]

        def one(match: re.Match[str]) -> str:
            if match.group(1) not in values:
                return match.group(0)
            text = str(values[match.group(1)])
            return quote(text, safe="") if quote_values else text

        return _EXPRESSION.sub(one, value)
    if isinstance(value, Mapping):
        return {
            expand(k, values): expand(v, values, quote_values=quote_values, keep_type=keep_type)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand(v, values, quote_values=quote_values, keep_type=keep_type) for v in value]
    return value
