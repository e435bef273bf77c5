"""clinical: page-number pages with `page_count`/`total_items`, per-study audit trails."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..auth import AuthScheme
from ..fakedata import Fake, Window, parse_timestamp
from ..paging import int_param, page_count, since
from ..wire import ApiError, Request, Response
from .base import ChildOf, Factory, FakeApi, Record, Route, route

AUDIT_EVENTS = (
    "study.updated",
    "record.created",
    "record.updated",
    "field.value_changed",
    "user.invited",
)


class ClinicalApi(FakeApi):
    name = "clinical"
    streams = ("user", "study", "audit_trial")
    default_sizes = {"user": 1, "study": 60, "audit_trial": 30}
    default_page_size = 50
    auth = AuthScheme("client_credentials", grant_path="/oauth/token", expires_in=3600)
    children_of = {"audit_trial": ChildOf("study", "study_id")}
    keys = {"study": "crf_id", "audit_trial": "uuid"}
    growing_streams = ("study",)
    # Studies have no update time: an update changes `live` and keeps `created_on`.
    edited_fields = {"study": ("live", (True, False))}

    def factories(self) -> dict[str, Factory]:
        return {"user": self._user, "study": self._study}

    def sort_key(self, stream: str) -> Callable[[Record], Any]:
        if stream == "audit_trial":
            return lambda record: (parse_timestamp(record["datetime"]), record["uuid"])
        return super().sort_key(stream)

    def routes(self) -> list[Route]:
        return [
            route("GET", "/v1/user", lambda request, _: self._embedded(request, "user")),
            route("GET", "/v1/study", lambda request, _: self._embedded(request, "study")),
            route("GET", "/v1/study/{study_id}/audit-trail", self._audit_trail, child=True),
        ]

    def _embedded(self, request: Request, stream: str) -> Response:
        page, meta = self._page(request, self.tables[stream])
        return Response.json(200, {"_embedded": {stream: page}, **meta})

    def _audit_trail(self, request: Request, params: Mapping[str, str]) -> Response:
        entries = self.children_for("audit_trial", params["study_id"])
        if entries is None:
            raise ApiError(404, f"study {params['study_id']!r} not found")
        entries = since(
            entries, "datetime", request.query.get("date_from"), "date_from", inclusive=True
        )
        page, meta = self._page(request, entries)
        return Response.json(200, {"items": page, **meta})

    def _page(self, request: Request, rows: list[Record]) -> tuple[list[Record], dict[str, int]]:
        """A page and its counters; pages past the end are empty, not errors."""
        size = int_param(request.query, "page_size", self.page_size)
        number = int_param(request.query, "page", 1)
        meta = {
            "page": number,
            "page_size": size,
            "page_count": page_count(len(rows), size),
            "total_items": len(rows),
        }
        return rows[(number - 1) * size : number * size], meta

    def after_mutate(self, changed: dict[str, list[Any]], count: int, window: Window) -> None:
        """New audit entries (later than anything served) on `count` existing studies."""
        fake = self._mutation_fake
        studies = [s for s in self.tables["study"] if s["crf_id"] not in changed.get("study", [])]
        for study in fake.rng.sample(studies, min(count, len(studies))):
            entries = self.children["audit_trial"][study["study_id"]]
            for _ in range(fake.rng.randint(1, 3)):
                entry = self._audit_entry(fake, window)
                entries.append(entry)
                changed.setdefault("audit_trial", []).append(entry["uuid"])

    # -- record factories ------------------------------------------------------------------

    def _user(self, fake: Fake, window: Window, seq: int) -> Record:
        first, last = fake.first_name(), fake.last_name()
        return {
            "id": fake.uuid().upper(),
            "full_name": f"{first} {last}",
            "email_address": fake.email(first, last),
            "entity": "User",
            "last_login": fake.maybe(fake.timestamp(window), 0.3),
            **fake.drift(),
        }

    def _study(self, fake: Fake, window: Window, seq: int) -> Record:
        users = self.tables.get("user") or [{"id": None}]
        return {
            "crf_id": f"CRF{seq:04d}",
            "study_id": fake.uuid().upper(),
            "name": f"Study {seq}: {fake.pick(('Sleep', 'Diet', 'Cardio', 'Vaccine'))} trial",
            "created_by": fake.pick(users)["id"],
            "live": fake.chance(0.6),
            "randomization_enabled": fake.chance(0.4),
            "version": f"1.{fake.rng.randint(0, 9)}",
            "created_on": fake.timestamp(window),
            **fake.drift(),
        }

    def make_children(
        self, child: str, fake: Fake, window: Window, parent: Record, index: int
    ) -> list[Record]:
        if index % 13 == 4:  # a few studies never have audit entries
            return []
        return [
            self._audit_entry(fake, window) for _ in range(fake.rng.randint(0, self.sizes[child]))
        ]

    def _audit_entry(self, fake: Fake, window: Window) -> Record:
        users = self.tables.get("user") or [{"id": None, "email_address": None}]
        user = fake.pick(users)
        old = fake.maybe(str(fake.rng.randrange(100)), 0.4)
        return {
            "uuid": fake.uuid(),
            "datetime": fake.timestamp(window),
            "event_type": fake.pick(AUDIT_EVENTS),
            "user_id": user["id"],
            "user_email": user["email_address"],
            "entity_id": fake.uuid().upper(),
            "old_value": old,
            "new_value": fake.maybe(str(fake.rng.randrange(100)), 0.1),
            **fake.drift(),
        }
