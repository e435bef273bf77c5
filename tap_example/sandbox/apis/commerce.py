"""commerce: opaque `cursor` pages (query for GET, JSON body for POST search), OAuth or API key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..auth import AuthScheme
from ..fakedata import MICROS, Fake, Window
from ..paging import decode_cursor, encode_cursor, int_param, int_value, page_after
from ..wire import ApiError, Request, Response
from .base import Factory, FakeApi, Record, Route, route

TIMEZONES = ("America/New_York", "America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo")
JOB_TITLES = ("Barista", "Cashier", "Cook", "Shift lead", "Stocker")


class CommerceApi(FakeApi):
    name = "commerce"
    streams = ("customers", "locations", "shifts")
    default_sizes = {"customers": 250, "locations": 12, "shifts": 230}
    default_page_size = 100
    auth = AuthScheme(
        "client_credentials", grant_path="/oauth2/token", expires_in=3600, accepts_api_key=True
    )
    update_fields = {"customers": "updated_at", "shifts": "updated_at"}
    # Locations have no update time: an update changes the status and keeps `created_at`.
    edited_fields = {"locations": ("status", ("ACTIVE", "INACTIVE"))}

    def factories(self) -> dict[str, Factory]:
        return {"locations": self._location, "customers": self._customer, "shifts": self._shift}

    def routes(self) -> list[Route]:
        return [
            route("GET", "/customers", lambda request, _: self._get_page(request, "customers")),
            route("GET", "/locations", lambda request, _: self._get_page(request, "locations")),
            route("POST", "/labor/shifts/search", self._search_shifts),
        ]

    def _get_page(self, request: Request, stream: str) -> Response:
        limit = int_param(request.query, "limit", self.page_size)
        cursor = request.query.get("cursor")
        return self._page(stream, limit, decode_cursor(cursor, "cursor") if cursor else None)

    def _search_shifts(self, request: Request, params: Mapping[str, str]) -> Response:
        body = request.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "the search body must be a JSON object")
        limit = int_value(body.get("limit"), "limit", self.page_size)
        cursor = body.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise ApiError(400, f"'cursor' must be a string, got {cursor!r}")
        return self._page("shifts", limit, decode_cursor(cursor, "cursor") if cursor else None)

    def _page(self, stream: str, limit: int, after: str | int | None) -> Response:
        page, has_more = page_after(self.tables[stream], "id", after, limit)
        payload: dict[str, Any] = {stream: page}
        if has_more:
            payload["cursor"] = encode_cursor(page[-1]["id"])
        return Response.json(200, payload)

    # -- record factories ------------------------------------------------------------------

    def touched(self, stream: str, record: Record) -> None:
        record["version"] += 1

    def _location(self, fake: Fake, window: Window, seq: int) -> Record:
        country, city = fake.city()
        return {
            "id": f"LOC_{seq:04d}",
            "name": f"{city} store {seq}",
            "status": fake.pick(("ACTIVE", "ACTIVE", "INACTIVE")),
            "timezone": fake.pick(TIMEZONES),
            "currency": fake.currency(),
            "address": {
                "address_line_1": f"{fake.rng.randrange(1, 999)} Market St",
                "locality": city,
                "postal_code": fake.postal_code(),
                "country": country,
            },
            "created_at": fake.timestamp(window),
            **fake.drift(),
        }

    def _customer(self, fake: Fake, window: Window, seq: int) -> Record:
        created, updated = fake.created_updated(window)
        first, last = fake.first_name(), fake.last_name()
        return {
            "id": f"CUST_{seq:05d}",
            "given_name": first,
            "family_name": last,
            "email_address": fake.email(first, last),
            "phone_number": fake.maybe(fake.phone(), 0.3),
            "version": fake.rng.randint(0, 5),
            "preferences": {"email_unsubscribed": fake.chance(0.2)},
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }

    def _shift(self, fake: Fake, window: Window, seq: int) -> Record:
        end = fake.moment(window)  # the last change falls in the window, the start may not
        start = end - fake.rng.randint(2, 9) * 3600 * MICROS
        is_open = fake.chance(0.15)
        locations = self.tables.get("locations") or [{"id": "LOC_0001", "currency": "USD"}]
        location = fake.pick(locations)
        created = fake.stamp(start)
        updated = fake.stamp(end + fake.rng.randint(1, 600) * MICROS)
        return {
            "id": f"SHF_{seq:05d}",
            "employee_id": f"EMP_{fake.rng.randint(1, 40):03d}",
            "location_id": location["id"],
            "start_at": fake.stamp(start),
            "end_at": None if is_open else fake.stamp(end),
            "status": "OPEN" if is_open else "CLOSED",
            "wage": {
                "title": fake.pick(JOB_TITLES),
                "hourly_rate": {
                    "amount": fake.rng.randrange(1200, 3500),
                    "currency": location["currency"],
                },
            },
            "version": fake.rng.randint(1, 4),
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }
