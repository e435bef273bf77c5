"""crm: page-number pages with a full `links` object, refresh-token OAuth and Account-Id."""

from __future__ import annotations

from collections.abc import Mapping

from ..auth import AuthScheme
from ..fakedata import Fake, Window
from ..paging import int_param, page_count, since, url_with
from ..wire import Request, Response
from .base import Factory, FakeApi, Record, Route, route

TITLES = ("CEO", "CTO", "Accountant", "Project Manager", "Designer")


class CrmApi(FakeApi):
    name = "crm"
    streams = ("clients", "contacts", "company")
    default_sizes = {"clients": 120, "contacts": 180, "company": 1}
    default_page_size = 50
    auth = AuthScheme(
        "refresh_token",
        grant_path="/api/v2/oauth2/token",
        expires_in=1_209_600,
        separate_token_host=True,
        requires_account_id=True,
    )
    update_fields = {"clients": "updated_at", "contacts": "updated_at"}
    single_object_streams = ("company",)

    def factories(self) -> dict[str, Factory]:
        return {"clients": self._client, "contacts": self._contact}

    def build_extras(self, fake: Fake) -> None:
        self.tables["company"] = [
            {
                "base_uri": "https://sandbox-co.example.com",
                "full_domain": "sandbox-co.example.com",
                "name": "Sandbox Co",
                "is_active": True,
                "week_start_day": "Monday",
                "time_format": "decimal",
                "currency": "USD",
                "plan_type": "trial",  # undocumented extra field
            }
        ]

    def routes(self) -> list[Route]:
        return [
            route("GET", "/v1/clients", lambda request, _: self._page(request, "clients")),
            route("GET", "/v1/contacts", lambda request, _: self._page(request, "contacts")),
            route("GET", "/v1/company", self._company),
        ]

    def _company(self, request: Request, params: Mapping[str, str]) -> Response:
        return Response.json(200, {"data": self.tables["company"][0]})

    def _page(self, request: Request, stream: str) -> Response:
        per_page = int_param(request.query, "per_page", self.page_size)
        page = int_param(request.query, "page", 1)
        rows = since(
            self.tables[stream],
            "updated_at",
            request.query.get("updated_since"),
            "updated_since",
            inclusive=True,
        )
        total_pages = max(1, page_count(len(rows), per_page))
        next_page = page + 1 if page < total_pages else None
        previous_page = page - 1 if page > 1 else None

        def link(number: int | None) -> str | None:
            return None if number is None else url_with(request, page=number, per_page=per_page)

        return Response.json(
            200,
            {
                stream: rows[(page - 1) * per_page : page * per_page],
                "per_page": per_page,
                "total_pages": total_pages,
                "total_entries": len(rows),
                "page": page,
                "next_page": next_page,
                "previous_page": previous_page,
                "links": {
                    "first": link(1),
                    "next": link(next_page),
                    "previous": link(previous_page),
                    "last": link(total_pages),
                },
            },
        )

    # -- record factories ------------------------------------------------------------------

    def _client(self, fake: Fake, window: Window, seq: int) -> Record:
        created, updated = fake.created_updated(window)
        country, city = fake.city()
        return {
            "id": 4_000_000 + seq,
            "name": f"{fake.company()} #{seq}",
            "is_active": fake.chance(0.85),
            "address": fake.maybe(f"{fake.rng.randrange(1, 999)} Main St\n{city}, {country}", 0.3),
            "statement_key": fake.hex(32),
            "currency": fake.currency(),
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }

    def _contact(self, fake: Fake, window: Window, seq: int) -> Record:
        created, updated = fake.created_updated(window)
        first, last = fake.first_name(), fake.last_name()
        client = fake.pick(self.tables["clients"]) if self.tables.get("clients") else None
        return {
            "id": 7_000_000 + seq,
            "client": {"id": client["id"], "name": client["name"]} if client else None,
            "title": fake.maybe(fake.pick(TITLES), 0.4),
            "first_name": first,
            "last_name": last,
            "email": fake.maybe(fake.email(first, last), 0.2),
            "phone_office": fake.phone(),
            "phone_mobile": fake.phone() if fake.chance(0.6) else "",
            "fax": "",
            "created_at": created,
            "updated_at": updated,
            **fake.drift(),
        }
