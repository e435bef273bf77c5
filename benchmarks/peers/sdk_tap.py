"""The minimal singer-sdk 0.54.9 tap over the benchmark API: what the SDK template gives you.

``python sdk_tap.py --config CONFIG`` with ``{"base_url": ..., "mode": "items" | "children"}``:
``items`` syncs the big stream, ``children`` the parents and their child endpoint (sequential,
as the SDK does it). Schemas are tap-example's benchmark schemas, so both taps conform the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.pagination import BaseHATEOASPaginator
from singer_sdk.streams import RESTStream

SCHEMAS = Path(__file__).resolve().parent.parent / "api" / "schemas"


class NextLink(BaseHATEOASPaginator):
    def get_next_url(self, response: Any) -> Any:
        return ((response.json().get("_links") or {}).get("next") or {}).get("href")


class BenchStream(RESTStream):
    primary_keys = ("id",)

    @property
    def url_base(self) -> str:
        return self.config["base_url"]

    def get_new_paginator(self) -> NextLink:
        return NextLink()

    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": 200}
        if next_page_token:
            params.update(parse_qsl(next_page_token.query))
        return params


class ItemsStream(BenchStream):
    name = "items"
    path = "/items"
    records_jsonpath = "$._embedded.items[*]"
    schema = json.loads((SCHEMAS / "items.json").read_text())


class ParentsStream(BenchStream):
    name = "parents"
    path = "/parents"
    records_jsonpath = "$._embedded.parents[*]"
    schema = json.loads((SCHEMAS / "parents.json").read_text())

    def get_child_context(self, record: dict, context: Any) -> dict:
        return {"parent_id": record["id"]}


class ChildrenStream(BenchStream):
    name = "children"
    path = "/parents/{parent_id}/children"
    records_jsonpath = "$._embedded.children[*]"
    parent_stream_type = ParentsStream
    schema = json.loads((SCHEMAS / "children.json").read_text())


class TapBench(Tap):
    name = "tap-bench-sdk"
    config_jsonschema = th.PropertiesList(
        th.Property("base_url", th.StringType, required=True),
        th.Property("mode", th.StringType, default="items"),
    ).to_dict()

    def discover_streams(self) -> list[RESTStream]:
        if self.config.get("mode") == "children":
            return [ParentsStream(self), ChildrenStream(self)]
        return [ItemsStream(self)]


if __name__ == "__main__":
    TapBench.cli()
