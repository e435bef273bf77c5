"""A stream's request, built from its resource: URL, query parameters, headers, body, method."""

from __future__ import annotations

import json
from collections.abc import Mapping
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

    @property
    def headers(self) -> dict[str, str]:
        return {"Accept": "application/json", **self.definition.headers, **self.resource.headers}

    def url(self, url_base: str, context: Mapping[str, Any] | None) -> str:
        """Base URL + path, with ``{placeholders}`` taken from the parent context only."""
        path = self.resource.path
        for binding in self.resource.bindings:
            if binding.in_path:
                value = (context or {}).get(binding.placeholder)
                path = path.replace(f"{{{binding.placeholder}}}", quote(str(value), safe=""))
        if path.startswith(("http://", "https://")):
            return path
        return f"{url_base}/{path.lstrip('/')}"

    def params(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """The resource's parameters and the parent values bound to query parameters."""
        params: dict[str, Any] = dict(self.resource.params)
        for binding in self.resource.bindings:
            if not binding.in_path:
                params[binding.placeholder] = (context or {}).get(binding.placeholder)
        return params

    def payload(self) -> Any:
        """A fresh copy of the resource's JSON body (paginators may write into it)."""
        body = self.resource.json
        return json.loads(json.dumps(body)) if body is not None else None

    def shape(self, request: HTTPRequest, token: Any) -> None:
        """The method, and the page size and ``token`` where the paginator puts them."""
        request.method = self.resource.method
        self._shaper.apply(request, token)
