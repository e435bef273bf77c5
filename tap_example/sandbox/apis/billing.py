"""billing: `{"data", "has_more", "next"}` pages with an opaque keyset cursor, static API key."""

from __future__ import annotations

from collections.abc import Mapping

from ..auth import AuthScheme
from ..fakedata import Fake, Window
from ..paging import decode_cursor, encode_cursor, int_param, page_after, since
from ..wire import ApiError, Request, Response
from .base import ChildOf, Factory, FakeApi, Record, Route, route

EVENT_GROUPS = ("customer", "address", "business", "subscription", "transaction")
EVENT_ACTIONS = ("created", "updated", "imported")
REPORT_TYPES = ("transactions", "adjustments", "discounts", "products_prices")
TAX_CATEGORIES = ("standard", "digital-goods", "saas", "ebooks", "training-services")

# stream -> (path, has updated_at): the list endpoints
LISTS = {
    "customers": ("/v1/customers", True),
    "discounts": ("/v1/discounts", True),
    "prices": ("/v1/prices", True),
    "products": ("/v1/products", True),
    "events": ("/v1/events", False),
    "event_types": ("/v1/event-types", False),
    "reports": ("/v1/reports", True),
    "subscriptions": ("/v1/subscriptions", True),
    "transactions": ("/v1/transactions", True),
}
CHILD_PATHS = {"customer_addresses": "addresses", "businesses": "businesses"}


class BillingApi(FakeApi):
    name = "billing"
    streams = (
        "customers",
        "customer_addresses",
        "businesses",
        "discounts",
        "prices",
        "products",
        "events",
        "event_types",
        "reports",
        "ip_addresses",
        "subscriptions",
        "transactions",
    )
    default_sizes = {
        "customers": 120,
        "customer_addresses": 2,
        "businesses": 2,
        "discounts": 45,
        "prices": 50,
        "products": 41,
        "events": 130,
        "event_types": 15,
        "reports": 20,
        "ip_addresses": 1,
        "subscriptions": 110,
        "transactions": 140,
    }
    default_page_size = 50
    auth = AuthScheme("api_key")
    children_of = {
        "customer_addresses": ChildOf("customers", "id"),
        "businesses": ChildOf("customers", "id"),
    }
    keys = {"event_types": "name"}
    update_fields = {
        stream: "updated_at"
        for stream in (
            "customers",
            "customer_addresses",
            "businesses",
            "discounts",
            "prices",
            "products",
            "reports",
            "subscriptions",
            "transactions",
        )
    }
    single_object_streams = ("ip_addresses",)

    def factories(self) -> dict[str, Factory]:
        return {
            "customers": self._customer,
            "products": self._product,
            "prices": self._price,
            "discounts": self._discount,
            "subscriptions": self._subscription,
            "transactions": self._transaction,
            "events": self._event,
            "event_types": self._event_type,
            "reports": self._report,
        }

    def build_extras(self, fake: Fake) -> None:
        cidrs = [f"34.{fake.rng.randrange(256)}.{fake.rng.randrange(256)}.0/24" for _ in range(4)]
        self.tables["ip_addresses"] = [{"ipv4_cidrs": cidrs}]

    def routes(self) -> list[Route]:
        def listing(stream: str, path: str, filtered: bool) -> Route:
            return route("GET", path, lambda request, _: self._list(request, stream, filtered))

        routes = [listing(stream, path, filtered) for stream, (path, filtered) in LISTS.items()]
        for child, suffix in CHILD_PATHS.items():
            routes.append(self._child_route(child, suffix))
        routes.append(route("GET", "/v1/ips", self._ips))
        return routes

    def _child_route(self, child: str, suffix: str) -> Route:
        def handler(request: Request, params: Mapping[str, str]) -> Response:
            rows = self.children_for(child, params["customer_id"])
            if rows is None:
                raise ApiError(404, f"customer {params['customer_id']!r} not found")
            return self._page(request, child, rows, filtered=True)

        return route("GET", f"/v1/customers/{{customer_id}}/{suffix}", handler, child=True)

    def _list(self, request: Request, stream: str, filtered: bool) -> Response:
        return self._page(request, stream, self.tables[stream], filtered)

    def _page(self, request: Request, stream: str, rows: list[Record], filtered: bool) -> Response:
        limit = int_param(request.query, "limit", self.page_size)
        cursor = request.query.get("next")
        after = decode_cursor(cursor, "next") if cursor else None
        if filtered:
            rows = since(
                rows,
                "updated_at",
                request.query.get("updated_after"),
                "updated_after",
                inclusive=False,
            )
        key = self.key(stream)
        page, has_more = page_after(rows, key, after, limit)
        next_cursor = encode_cursor(page[-1][key]) if has_more else None
        return Response.json(200, {"data": page, "has_more": has_more, "next": next_cursor})

    def _ips(self, request: Request, params: Mapping[str, str]) -> Response:
        return Response.json(
            200, {"data": self.tables["ip_addresses"][0], "has_more": False, "next": None}
        )

    # -- record factories ------------------------------------------------------------------

    def _customer(self, fake: Fake, window: Window, seq: int) -> Record:
        first, last = fake.first_name(), fake.last_name()
        created, updated = fake.created_updated(window)
        custom = {"tier": fake.pick(("free", "pro", "enterprise"))} if fake.chance(0.5) else None
        return {
            "id": f"ctm_{seq:05d}",
            "name": f"{first} {last}",
            "email": fake.email(first, last),
            "status": fake.pick(("active", "active", "archived")),
            "custom_data": custom,
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }

    def make_children(
        self, child: str, fake: Fake, window: Window, parent: Record, index: int
    ) -> list[Record]:
        rows = []
        for _ in range(fake.rng.randint(0, self.sizes[child])):
            seq = self._next_seq(child)
            created, updated = fake.created_updated(window)
            common = {"customer_id": parent["id"], "status": fake.pick(("active", "archived"))}
            if child == "customer_addresses":
                country, city = fake.city()
                row = {
                    "id": f"add_{seq:05d}",
                    **common,
                    "country_code": country,
                    "postal_code": fake.postal_code(),
                    "city": city,
                }
            else:
                row = {
                    "id": f"biz_{seq:05d}",
                    **common,
                    "name": fake.company(),
                    "company_number": fake.maybe(f"{fake.rng.randrange(10**8):08d}", 0.4),
                }
            rows.append({**row, "created_at": created, "updated_at": updated, **fake.drift()})
        return rows

    def _product(self, fake: Fake, window: Window, seq: int) -> Record:
        created, updated = fake.created_updated(window)
        return {
            "id": f"pro_{seq:05d}",
            "name": f"{fake.pick(('Starter', 'Team', 'Scale', 'Add-on'))} plan {seq}",
            "tax_category": fake.pick(TAX_CATEGORIES),
            "status": fake.pick(("active", "active", "archived")),
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }

    def _price(self, fake: Fake, window: Window, seq: int) -> Record:
        created, updated = fake.created_updated(window)
        products = self.tables.get("products") or [{"id": "pro_00001"}]
        return {
            "id": f"pri_{seq:05d}",
            "product_id": fake.pick(products)["id"],
            "description": fake.pick(("Monthly", "Yearly", "Per seat", "One-off")),
            "unit_price": {
                "amount": str(fake.rng.randrange(100, 100_000)),
                "currency_code": fake.currency(),
            },
            "status": fake.pick(("active", "archived")),
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }

    def _discount(self, fake: Fake, window: Window, seq: int) -> Record:
        created, updated = fake.created_updated(window)
        kind = fake.pick(("flat", "percentage", "flat_per_seat"))
        amount = (
            str(fake.rng.randrange(5, 50))
            if kind == "percentage"
            else str(fake.rng.randrange(100, 5000))
        )
        return {
            "id": f"dsc_{seq:05d}",
            "description": f"Promo {seq}",
            "type": kind,
            "amount": amount,
            "status": fake.pick(("active", "archived")),
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }

    def _subscription(self, fake: Fake, window: Window, seq: int) -> Record:
        created, updated = fake.created_updated(window)
        status = fake.pick(("active", "active", "trialing", "paused", "canceled"))
        prices = self.tables.get("prices") or [{"id": "pri_00001"}]
        items = [
            {
                "price_id": fake.pick(prices)["id"],
                "quantity": fake.rng.randint(1, 10),
                "recurring": True,
            }
            for _ in range(fake.rng.randint(1, 3))
        ]
        return {
            "id": f"sub_{seq:05d}",
            "customer_id": self._some_customer(fake),
            "status": status,
            "currency_code": fake.currency(),
            "next_billed_at": None if status == "canceled" else fake.timestamp(window),
            "items": items,
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }

    def _transaction(self, fake: Fake, window: Window, seq: int) -> Record:
        created, updated = fake.created_updated(window)
        status = fake.pick(("billed", "completed", "completed", "draft", "past_due"))
        subscriptions = self.tables.get("subscriptions") or []
        subscription = (
            fake.pick(subscriptions)["id"] if subscriptions and fake.chance(0.7) else None
        )
        return {
            "id": f"txn_{seq:05d}",
            "customer_id": self._some_customer(fake),
            "subscription_id": subscription,
            "status": status,
            "origin": fake.pick(("api", "subscription_recurring", "web")),
            "currency_code": fake.currency(),
            "details": {"totals": {"total": str(fake.rng.randrange(100, 200_000))}},
            "billed_at": None if status == "draft" else updated,
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }

    def _event(self, fake: Fake, window: Window, seq: int) -> Record:
        group, action = fake.pick(EVENT_GROUPS), fake.pick(EVENT_ACTIONS)
        return {
            "id": f"evt_{seq:05d}",
            "event_type": f"{group}.{action}",
            "occurred_at": fake.timestamp(window),
            "data": {"id": self._some_customer(fake), "status": fake.pick(("active", "archived"))},
            **fake.drift(),
        }

    def _event_type(self, fake: Fake, window: Window, seq: int) -> Record:
        group = EVENT_GROUPS[(seq - 1) % len(EVENT_GROUPS)]
        action = EVENT_ACTIONS[(seq - 1) // len(EVENT_GROUPS) % len(EVENT_ACTIONS)]
        rounds = (seq - 1) // (len(EVENT_GROUPS) * len(EVENT_ACTIONS))
        name = f"{group}.{action}" + (f"_{rounds}" if rounds else "")
        return {
            "name": name,
            "description": f"Occurs when a {group} is {action}.",
            "group": group.capitalize(),
            "available_versions": [1, 2] if fake.chance(0.3) else [1],
            **fake.drift(),
        }

    def _report(self, fake: Fake, window: Window, seq: int) -> Record:
        created, updated = fake.created_updated(window)
        status = fake.pick(("ready", "ready", "pending", "failed", "expired"))
        return {
            "id": f"rep_{seq:05d}",
            "type": fake.pick(REPORT_TYPES),
            "status": status,
            "rows": fake.rng.randrange(0, 5000) if status == "ready" else 0,
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }

    def _some_customer(self, fake: Fake) -> str:
        customers = self.tables.get("customers") or [{"id": "ctm_00001"}]
        return str(fake.pick(customers)["id"])
