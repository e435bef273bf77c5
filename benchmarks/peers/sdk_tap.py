"""The minimal singer-sdk 0.54.9 tap over the benchmark API: what the SDK template gives you.

``python sdk_tap.py --config CONFIG`` with ``{"base_url": ..., "mode": ...}``:

- ``items`` syncs the big stream, following its next links;
- ``children`` the parents and their child endpoint (sequential, as the SDK does it);
- ``offset`` the big stream with the SDK's ``OffsetPaginator``, stopping at the body's ``total``
  (one page after another, as the SDK does it);
- ``lists`` the eight lists ``/lists/1`` ... ``/lists/8`` as eight streams ``list_1`` ...
  ``list_8``, following their next links (one stream after another, as the SDK does it).

Schemas are tap-example's benchmark schemas, so both taps conform the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.pagination import BaseHATEOASPaginator, OffsetPaginator
from singer_sdk.streams import RESTStream

SCHEMAS = Path(__file__).resolve().parent.parent / "api" / "schemas"


class NextLink(BaseHATEOASPaginator):
    def get_next_url(self, response: Any) -> Any:
        return ((response.json().get("_links") or {}).get("next") or {}).get("href")


class TotalOffset(OffsetPaginator):
    """The SDK's offset paginator, stopping once the next offset reaches the body's total."""

    def has_more(self, response: Any) -> bool:
        return bool(self.current_value + self.page_size < response.json()["total"])


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


class OffsetItemsStream(ItemsStream):
    def get_new_paginator(self) -> TotalOffset:  # type: ignore[override]
        return TotalOffset(start_value=0, page_size=200)

    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        return {"limit": 200, "offset": next_page_token or 0}


class ListStream(BenchStream):
    records_jsonpath = "$._embedded.items[*]"
    schema = json.loads((SCHEMAS / "items.json").read_text())

    def __init__(self, tap: Tap, number: int) -> None:
        self.number = number
        super().__init__(tap, name=f"list_{number}")

    @property
    def path(self) -> str:  # type: ignore[override]
        return f"/lists/{self.number}"


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
        mode = self.config.get("mode")
        if mode == "children":
            return [ParentsStream(self), ChildrenStream(self)]
        if mode == "offset":
            return [OffsetItemsStream(self)]
        if mode == "lists":
            return [ListStream(self, number) for number in range(1, 9)]
        return [ItemsStream(self)]


if __name__ == "__main__":
    TapBench.cli()
