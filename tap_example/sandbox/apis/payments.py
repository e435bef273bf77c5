"""payments: HAL pages (`_embedded`, `_links.next`), limit + offset, OAuth client credentials."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..auth import AuthScheme
from ..fakedata import Fake, Window
from ..paging import int_param, url_with
from ..wire import ApiError, Request, Response
from .base import ChildOf, Factory, FakeApi, Record, Route, newest_first, route

MAX_LIMIT = 200
TOPICS = (
    "customer_created",
    "customer_verified",
    "customer_suspended",
    "funding_source_added",
    "funding_source_removed",
    "transfer_created",
    "transfer_completed",
    "transfer_failed",
)
BANKS = ("First Sandbox Bank", "Fake Federal Credit Union", "Example Savings", "Mock Trust")
INDUSTRIES = (
    "Software",
    "Consulting",
    "Retail",
    "Food and beverage",
    "Travel",
    "Education",
    "Health",
    "Entertainment",
    "Manufacturing",
    "Non-profit",
    "Transportation",
    "Real estate",
)


class PaymentsApi(FakeApi):
    name = "payments"
    streams = (
        "customers",
        "funding_sources",
        "events",
        "exchange_partners",
        "business_classifications",
    )
    default_sizes = {
        "customers": 230,
        "funding_sources": 3,
        "events": 450,
        "exchange_partners": 30,
        "business_classifications": 12,
    }
    default_page_size = 25
    auth = AuthScheme("client_credentials", grant_path="/token", expires_in=3600)
    children_of = {"funding_sources": ChildOf("customers", "id")}
    # No payments record has an update time: an update changes a status and keeps `created`.
    # Events are append-only (mutate() appends new ones).
    edited_fields = {
        "customers": ("status", ("verified", "unverified", "suspended", "deactivated")),
        "funding_sources": ("status", ("verified", "unverified")),
        "exchange_partners": ("status", ("active", "inactive")),
    }

    def factories(self) -> dict[str, Factory]:
        return {
            "customers": self._customer,
            "events": self._event,
            "exchange_partners": self._exchange_partner,
            "business_classifications": self._business_classification,
        }

    def sort_key(self, stream: str) -> Callable[[Record], Any]:
        if stream in ("customers", "events"):
            return newest_first("created")
        return super().sort_key(stream)

    def routes(self) -> list[Route]:
        def listing(stream: str, resource: str) -> Route:
            path = f"/{resource}"
            return route("GET", path, lambda request, _: self._hal(request, resource, stream))

        return [
            listing("customers", "customers"),
            listing("events", "events"),
            listing("exchange_partners", "exchange-partners"),
            listing("business_classifications", "business-classifications"),
            route(
                "GET",
                "/customers/{customer_id}/funding-sources",
                self._funding_sources,
                child=True,
            ),
        ]

    def _funding_sources(self, request: Request, params: Mapping[str, str]) -> Response:
        rows = self.children_for("funding_sources", params["customer_id"])
        if rows is None:
            raise ApiError(404, f"customer {params['customer_id']!r} not found")
        return self._page(request, "funding-sources", rows)

    def _hal(self, request: Request, resource: str, stream: str) -> Response:
        return self._page(request, resource, self.tables[stream])

    def _page(self, request: Request, resource: str, rows: list[Record]) -> Response:
        limit = min(int_param(request.query, "limit", self.page_size), MAX_LIMIT)
        offset = int_param(request.query, "offset", 0, minimum=0)
        links = {"self": {"href": url_with(request, limit=limit, offset=offset)}}
        if offset + limit < len(rows):
            links["next"] = {"href": url_with(request, limit=limit, offset=offset + limit)}
        page = rows[offset : offset + limit]
        return Response.json(
            200, {"_links": links, "_embedded": {resource: page}, "total": len(rows)}
        )

    # -- record factories ------------------------------------------------------------------

    def _customer(self, fake: Fake, window: Window, seq: int) -> Record:
        first, last = fake.first_name(), fake.last_name()
        kind = fake.pick(("personal", "business", "unverified", "receive-only"))
        record: Record = {
            "id": fake.uuid(),
            "firstName": first,
            "lastName": last,
            "email": fake.email(first, last),
            "type": kind,
            "status": fake.pick(("verified", "verified", "unverified", "suspended", "deactivated")),
            "created": fake.timestamp(window),
            "businessName": fake.company() if kind == "business" else None,
            **fake.drift(),
        }
        if fake.chance(0.2):
            record["correlationId"] = fake.uuid()
        return record

    def _event(self, fake: Fake, window: Window, seq: int) -> Record:
        event_id, resource_id = fake.uuid(), fake.uuid()
        return {
            "id": event_id,
            "created": fake.timestamp(window),
            "topic": fake.pick(TOPICS),
            "resourceId": resource_id,
            "_links": {
                "self": {"href": f"https://api.example.com/events/{event_id}"},
                "resource": {"href": f"https://api.example.com/resources/{resource_id}"},
            },
            **fake.drift(),
        }

    def _exchange_partner(self, fake: Fake, window: Window, seq: int) -> Record:
        return {
            "id": fake.uuid(),
            "name": f"{fake.company()} Exchange {seq}",
            "status": fake.pick(("active", "active", "inactive")),
            "created": fake.timestamp(window),
            **fake.drift(),
        }

    def _business_classification(self, fake: Fake, window: Window, seq: int) -> Record:
        name = INDUSTRIES[(seq - 1) % len(INDUSTRIES)]
        if seq > len(INDUSTRIES):
            name = f"{name} {seq}"
        industries = [
            {"id": fake.uuid(), "name": f"{name}: segment {n}"}
            for n in range(1, fake.rng.randint(1, 5) + 1)
        ]
        return {
            "id": fake.uuid(),
            "name": name,
            "_embedded": {"industry-classifications": industries},
            **fake.drift(),
        }

    def make_children(
        self, child: str, fake: Fake, window: Window, parent: Record, index: int
    ) -> list[Record]:
        return [
            self._funding_source(fake, window, parent)
            for _ in range(fake.rng.randint(0, self.sizes[child]))
        ]

    def after_mutate(self, changed: dict[str, list[Any]], count: int, window: Window) -> None:
        """New funding sources under `count` existing customers (not only under new ones)."""
        fake = self._mutation_fake
        new = set(changed.get("customers", []))
        customers = [c for c in self.tables["customers"] if c["id"] not in new]
        for customer in fake.rng.sample(customers, min(count, len(customers))):
            source = self._funding_source(fake, window, customer)
            self.children["funding_sources"].setdefault(customer["id"], []).append(source)
            changed.setdefault("funding_sources", []).append(source["id"])

    def _funding_source(self, fake: Fake, window: Window, parent: Record) -> Record:
        is_bank = fake.chance(0.8)
        return {
            "id": fake.uuid(),
            "status": fake.pick(("verified", "unverified")),
            "type": "bank" if is_bank else "balance",
            "bankAccountType": fake.pick(("checking", "savings")) if is_bank else None,
            "name": f"{parent['firstName']}'s {'account' if is_bank else 'balance'}",
            "created": fake.timestamp(window),
            "removed": fake.chance(0.1),
            "channels": ["ach", "real-time-payments"] if fake.chance(0.3) else ["ach"],
            "bankName": fake.pick(BANKS) if is_bank else None,
            "fingerprint": fake.maybe(fake.hex(64), 0.3) if is_bank else None,
            **fake.drift(),
        }
