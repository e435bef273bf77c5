"""The mock API behind the dlt corpus: every shape the corpus configs read, on 127.0.0.1 only.

One threaded server answers for all of them; each config keeps its real base URL's path
(``/api/v2/`` for PokeAPI, ``/repos/dlt-hub/dlt/`` for GitHub, ...) and the test swaps the
origin for this server's. The data is fixed (no randomness, no clock), so dlt and the tap read
the same answers. Each family of paths checks its own credentials (the constants below), the
way the real API would: a wrong or missing credential is a 401.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from tests.jsonserver import Call, JSONServer

GITHUB_TOKEN = "ghp_corpus_t0ken"
HUBSPOT_TOKEN = "pat-corpus-t0ken"
ZENDESK_USER = "agent@example.com/token"
ZENDESK_PASSWORD = "zd-corpus-t0ken"
QUERY_KEY = "q-corpus-k3y"
HEADER_KEY = "h-corpus-k3y"
CLIENT_TOKEN = "client-corpus-t0ken"
ADMIN_KEY = "admin-corpus-k3y"
CLIENT_ID = "corpus-client"
CLIENT_SECRET = "corpus-s3cret"
ACCESS_TOKEN = "at-corpus-t0ken"

Body = Any


class RefusedError(Exception):
    """An answer other than 200: ``(status, body)``."""

    def __init__(self, status: int, body: Body) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def instant(text: str | None, what: str) -> datetime:
    """An ISO date-time the API accepts (``Z`` or an offset; fractions allowed), else a 400."""
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError:
        raise RefusedError(400, {"error": f"{what}: not an ISO date-time: {text!r}"}) from None
    if value.tzinfo is None:
        raise RefusedError(400, {"error": f"{what}: no time zone: {text!r}"})
    return value


def day(text: str | None, what: str) -> date:
    """A plain ``YYYY-MM-DD`` (an API that takes dates only rejects date-times)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(text)):
        raise RefusedError(400, {"error": f"{what}: expected YYYY-MM-DD, got {text!r}"})
    return date.fromisoformat(str(text))


# --------------------------------------------------------------------------- data

POKEMON = [f"poke-{i:02d}" for i in range(1, 46)]
BERRIES = [f"berry-{i:02d}" for i in range(1, 13)]
LOCATIONS = [f"place-{i:02d}" for i in range(1, 26)]

ISSUES: list[dict[str, Any]] = [
    {
        "id": 9000 + n,
        "number": n,
        "title": f"issue {n}",
        "state": "open",
        "updated_at": f"2024-01-{10 + n:02d}T{n % 24:02d}:30:00Z",
        "user": {"login": f"user{n % 5}"},
    }
    for n in range(1, 21)
]

CUSTOMERS: list[dict[str, Any]] = [
    {"id": f"c-{i:03d}", "name": f"customer {i}"} for i in range(1, 24)
]
PRODUCTS: list[dict[str, Any]] = [
    {"sku": f"SKU-{i:03d}", "name": f"product {i}", "price": 100 + i} for i in range(1, 9)
]
ORDERS: list[dict[str, Any]] = [
    {
        "id": f"o-{i:03d}",
        "customer_id": CUSTOMERS[i % len(CUSTOMERS)]["id"],
        "ordered_at": f"2017-{1 + i // 4:02d}-{1 + (i * 3) % 27:02d}T10:00:00Z",
        "order_total": 10 * i,
    }
    for i in range(1, 41)
]

CONTACTS: list[dict[str, Any]] = [
    {
        "id": str(100 + i),
        "properties": {"email": f"c{i}@example.com", "firstname": f"Name{i}"},
        "createdAt": f"2024-02-01T00:{i:02d}:00Z",
        "updatedAt": f"2024-03-{1 + i % 28:02d}T12:00:00Z",
        "archived": False,
    }
    for i in range(1, 28)
]

TICKETS = [
    {"id": 500 + i, "subject": f"ticket {i}", "status": ["open", "pending", "solved"][i % 3]}
    for i in range(1, 18)
]

RECORDS = [{"id": i, "value": f"record {i}"} for i in range(1, 38)]
AUDIT = [{"id": f"a{i:02d}", "action": ["login", "logout", "update"][i % 3]} for i in range(1, 15)]
FEED = [{"id": i, "headline": f"story {i}"} for i in range(1, 12)]
PROJECTS = [{"id": i, "name": f"project {i}"} for i in range(1, 6)]
INVOICES = [{"id": f"inv-{i}", "amount": 12.5 * i, "currency": "EUR"} for i in range(1, 14)]
NESTED = {
    "data": [
        {"order": 1, "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]},
        {"order": 2, "lines": []},
        {"order": 3, "lines": [{"sku": "c", "qty": 5}]},
    ],
    "teams": [
        {"name": "red", "members": [{"id": 10, "active": True}, {"id": 11, "active": False}]},
        {"name": "blue", "members": [{"id": 12, "active": True}]},
    ],
}
EVENTS: list[dict[str, Any]] = [
    {"id": i, "kind": "click", "occurred_at": f"2024-05-{i:02d}T08:00:00Z"} for i in range(1, 21)
]
for _missing in (4, 9):  # two events without their cursor
    del EVENTS[_missing]["occurred_at"]
DAILY = [{"day": f"2024-03-{i:02d}", "visits": 10 * i} for i in range(1, 29)]
SCORES = [{"id": i, "score": 1000 - 37 * i} for i in range(1, 26)]
REPORTS = {
    "sales": [{"id": i, "kind": "sales", "total": i * 11} for i in range(1, 8)],
    "refunds": [{"id": 100 + i, "kind": "refunds", "total": i} for i in range(1, 4)],
}
ITEMS = [{"id": i, "label": f"item {i}"} for i in range(1, 27)]


# --------------------------------------------------------------------------- auth


def bearer(call: Call, token: str, *, optional: bool = False) -> None:
    got = call.headers.get("Authorization")
    if optional and got is None:
        return
    if got != f"Bearer {token}":
        raise RefusedError(401, {"message": "Bad credentials"})


def basic(call: Call) -> None:
    pair = base64.b64encode(f"{ZENDESK_USER}:{ZENDESK_PASSWORD}".encode()).decode()
    if call.headers.get("Authorization") != f"Basic {pair}":
        raise RefusedError(401, {"error": "Couldn't authenticate you"})


# --------------------------------------------------------------------------- PokeAPI


def pokeapi_list(call: Call, names: list[str], kind: str) -> Body:
    """``{count, next, previous, results}``; the server caps the page at 20 (as APIs cap)."""
    offset, limit = call.number("offset", 0), min(call.number("limit", 20), 20)
    following = offset + limit
    return {
        "count": len(names),
        "next": call.url(offset=following, limit=limit) if following < len(names) else None,
        "previous": call.url(offset=max(0, offset - limit), limit=limit) if offset else None,
        "results": [
            {"name": n, "url": f"{call.origin}/api/v2/{kind}/{n}/"} for n in names[offset:following]
        ],
    }


def pokeapi(call: Call) -> Body:
    parts = call.path.strip("/").split("/")[2:]  # after api/v2
    lists = {"pokemon": POKEMON, "berry": BERRIES, "location": LOCATIONS}
    if len(parts) == 1 and parts[0] in lists:
        return pokeapi_list(call, lists[parts[0]], parts[0])
    if len(parts) == 2 and parts[1] in lists.get(parts[0], []):
        index = lists[parts[0]].index(parts[1]) + 1
        detail = {"id": index, "name": parts[1], "order": index * 2}
        if parts[0] == "pokemon":
            kinds = [{"slot": 1, "type": {"name": ["grass", "fire", "water"][index % 3]}}]
            detail |= {"height": index * 3, "weight": index * 10, "types": kinds}
        else:
            detail |= {"firmness": {"name": "soft" if index % 2 else "hard"}, "size": index}
        return detail
    raise RefusedError(404, "Not Found")


# --------------------------------------------------------------------------- GitHub


def linked(call: Call, rows: list[Any], size: int) -> list[Any]:
    """One page of ``rows`` (``page`` from 1) and a ``Link: <...>; rel="next"`` header."""
    page = call.number("page", 1)
    if page * size < len(rows):
        query = {k: v[0] for k, v in call.query.items()} | {"page": page + 1}
        call.answer_headers["Link"] = f'<{call.url(**query)}>; rel="next"'
    return rows[(page - 1) * size : page * size]


def github(call: Call) -> Body:
    bearer(call, GITHUB_TOKEN, optional=True)
    parts = call.path.strip("/").split("/")[3:]  # after repos/dlt-hub/dlt
    size = min(call.number("per_page", 30), 100)
    if parts == ["issues"]:
        rows = list(ISSUES)
        if call.arg("since") is not None:
            since = instant(call.arg("since"), "since")
            rows = [r for r in rows if instant(r["updated_at"], "x") >= since]
        descending = call.arg("direction", "desc") == "desc"
        rows.sort(key=lambda r: str(r["updated_at"]), reverse=descending)
        return linked(call, rows, size)
    if len(parts) == 3 and parts[0] == "issues" and parts[2] == "comments":
        number = int(parts[1])
        rows = [
            {
                "id": number * 100 + k,
                "body": f"comment {k} on {number}",
                "issue": number,
                "updated_at": f"2024-02-{(number * 7 + k * 5) % 28 + 1:02d}T09:00:00Z",
            }
            for k in range(1, number % 4 + 2)
        ]
        if call.arg("since") is not None:
            since = instant(call.arg("since"), "since")
            rows = [r for r in rows if instant(r["updated_at"], "x") >= since]
        return linked(call, rows, size)
    raise RefusedError(404, {"message": "Not Found"})


# --------------------------------------------------------------------------- jaffle shop


def jaffle(call: Call) -> Body:
    """Bare lists by page number from 1 (``page_size``); past the end an empty list."""
    name = call.path.strip("/").split("/")[-1]
    rows: list[dict[str, Any]] = {"customers": CUSTOMERS, "products": PRODUCTS, "orders": ORDERS}[
        name
    ]
    if name == "orders":
        if call.arg("start_date") is not None:
            start = instant(call.arg("start_date"), "start_date")
            rows = [r for r in rows if instant(r["ordered_at"], "x") >= start]
        if call.arg("end_date") is not None:
            end = instant(call.arg("end_date"), "end_date")
            rows = [r for r in rows if instant(r["ordered_at"], "x") <= end]
    page, size = call.number("page", 1), call.number("page_size", 10)
    return rows[(page - 1) * size : page * size]


# --------------------------------------------------------------------------- HubSpot


def hubspot_search(call: Call) -> Body:
    """POST search: ``{limit, after, filterGroups}`` in; ``paging.next.after`` out."""
    bearer(call, HUBSPOT_TOKEN)
    if call.method != "POST":
        raise RefusedError(405, {"message": "POST only"})
    query = call.json()
    rows = CONTACTS
    for group in query.get("filterGroups", []):
        for condition in group.get("filters", []):
            if condition.get("operator") == "GTE":
                start = instant(condition.get("value"), "filters.value")
                name = condition["propertyName"]
                rows = [r for r in rows if instant(r[name], "x") >= start]
    after, limit = int(query.get("after") or 0), int(query.get("limit") or 10)
    body: dict[str, Any] = {"total": len(rows), "results": rows[after : after + limit]}
    if after + limit < len(rows):
        body["paging"] = {"next": {"after": str(after + limit), "link": "?after=x"}}
    return body


# --------------------------------------------------------------------------- Zendesk


def zendesk(call: Call) -> Body:
    """Cursor pages: ``page[size]``/``page[after]`` in; ``meta.has_more`` and
    ``meta.after_cursor`` out (the last page still carries a cursor: ``has_more`` ends it)."""
    basic(call)
    parts = call.path.strip("/").split("/")[2:]  # after api/v2
    size = call.number("page[size]", 100)
    if parts == ["tickets.json"]:
        rows, key = TICKETS, "tickets"
    elif len(parts) == 3 and parts[0] == "tickets" and parts[2] == "comments.json":
        ticket = int(parts[1])
        rows = [{"id": ticket * 10 + k, "body": f"reply {k}"} for k in range(ticket % 3 + 1)]
        key = "comments"
    else:
        raise RefusedError(404, {"error": "InvalidEndpoint"})
    start = int(str(call.arg("page[after]", "c0"))[1:])
    following = start + size
    meta = {"has_more": following < len(rows), "after_cursor": f"c{following}"}
    return {key: rows[start:following], "meta": meta}


# --------------------------------------------------------------------------- /v1 shapes


def records(call: Call) -> Body:
    if call.arg("api_key") != QUERY_KEY:
        raise RefusedError(401, {"error": "api_key"})
    offset, limit = call.number("offset", 0), call.number("limit", 10)
    return {"records": RECORDS[offset : offset + limit], "total": len(RECORDS)}


def audit(call: Call) -> Body:
    if call.headers.get("X-API-Key") != HEADER_KEY:
        raise RefusedError(401, {"error": "X-API-Key"})
    start = call.number("cursor", 0)
    following = start + 4
    if following < len(AUDIT):
        call.answer_headers["X-Next-Cursor"] = str(following)
    return AUDIT[start:following]


def feed(call: Call) -> Body:
    page = call.number("page", 0)
    following = call.url(page=page + 1) if (page + 1) * 3 < len(FEED) else None
    return {"items": FEED[page * 3 : (page + 1) * 3], "next_page": following}


def projects(call: Call) -> Body:
    bearer(call, CLIENT_TOKEN)
    parts = call.path.strip("/").split("/")[1:]
    if parts == ["projects"]:
        return {"data": PROJECTS}
    project = int(parts[1])
    if project == 3:
        raise RefusedError(404, {"error": "project 3 has no task list"})
    tasks = [{"id": f"t{project}-{n}", "done": n == 1, "project": project} for n in (1, 2)]
    return {"data": tasks, "note": "archived" if project == 5 else "active"}


def token(call: Call) -> Body:
    form = call.form()
    wanted = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
    if any(form.get(k) != v for k, v in wanted.items()) or form.get("client_secret") != (
        CLIENT_SECRET
    ):
        raise RefusedError(401, {"error": "invalid_client"})
    return {"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600}


def invoices(call: Call) -> Body:
    bearer(call, ACCESS_TOKEN)
    page, size = call.number("page", 1), 5
    pages = -(-len(INVOICES) // size)
    return {"data": INVOICES[(page - 1) * size : page * size], "meta": {"pages": pages}}


def admin(call: Call) -> Body:
    if call.headers.get("X-Admin-Key") != ADMIN_KEY or "Authorization" in call.headers:
        raise RefusedError(401, {"error": "admin key only"})
    return {"data": [{"user": "root"}, {"user": "ops"}]}


def health(call: Call) -> Body:
    if "Authorization" in call.headers:
        raise RefusedError(400, {"error": "health takes no credentials"})
    return {"status": "ok", "version": "1.4.2"}


def events(call: Call) -> Body:
    """Events filtered by ``from``/``to`` (ISO date-times, both ends inclusive)."""
    bearer(call, CLIENT_TOKEN)
    rows = EVENTS
    if call.arg("from") is not None:
        start = instant(call.arg("from"), "from")
        rows = [r for r in rows if "occurred_at" not in r or instant(r["occurred_at"], "") >= start]
    if call.arg("to") is not None:
        end = instant(call.arg("to"), "to")
        rows = [r for r in rows if "occurred_at" not in r or instant(r["occurred_at"], "") <= end]
    page = call.number("page", 1)
    return {"events": rows[(page - 1) * 6 : page * 6], "has_more": page * 6 < len(rows)}


def daily(call: Call) -> Body:
    """A date cursor: ``since`` must be a plain date, as date-only APIs want it."""
    bearer(call, CLIENT_TOKEN)
    rows = DAILY
    if call.arg("since") is not None:
        since = day(call.arg("since"), "since")
        rows = [r for r in rows if date.fromisoformat(str(r["day"])) >= since]
    return {"data": rows}


def scores(call: Call) -> Body:
    """Newest (lowest score) last; ``max_score`` filters on the server."""
    bearer(call, CLIENT_TOKEN)
    rows = SCORES
    if call.arg("max_score") is not None:
        rows = [r for r in rows if int(r["score"]) <= call.number("max_score", 0)]
    offset = call.number("offset", 0)
    return {"scores": rows[offset : offset + 10], "count": len(rows)}


def reports(call: Call) -> Body:
    """POST with a form body (``application/x-www-form-urlencoded``), never JSON."""
    bearer(call, CLIENT_TOKEN)
    if not call.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        raise RefusedError(415, {"error": "form body expected"})
    form = call.form()
    rows = REPORTS.get(form.get("kind", ""), [])
    return {"rows": [r | {"region": form.get("region")} for r in rows]}


def items(call: Call) -> Body:
    """Page numbers with a ``has_more`` flag, and offsets without any total."""
    bearer(call, CLIENT_TOKEN)
    if call.path.endswith("/paged"):
        page, size = call.number("page", 1), call.number("size", 4)
        rows = ITEMS[(page - 1) * size : page * size]
        return {"items": rows, "has_more": page * size < len(ITEMS)}
    offset, limit = call.number("start", 0), call.number("count", 5)
    return {"items": ITEMS[offset : offset + limit]}


def nested(call: Call) -> Body:
    bearer(call, CLIENT_TOKEN)
    return NESTED


def echo(call: Call) -> Body:
    """The request itself as the one record: what dlt and the tap send must match too."""
    bearer(call, CLIENT_TOKEN)
    wanted = ("Content-Type", "X-Client", "X-Trace")  # not Accept: the tap asks for JSON
    return {
        "request": {
            "method": call.method,
            "path": call.path,
            "query": {k: sorted(v) for k, v in sorted(call.query.items())},
            "headers": {k: v for k, v in call.headers.items() if k in wanted},
            "body": call.raw.decode(),
        }
    }


def v1(call: Call) -> Body:
    route: dict[str, Callable[[Call], Body]] = {
        "records": records,
        "audit": audit,
        "feed": feed,
        "projects": projects,
        "invoices": invoices,
        "admin": admin,
        "health": health,
        "events": events,
        "daily": daily,
        "scores": scores,
        "reports": reports,
        "items": items,
        "nested": nested,
        "echo": echo,
    }
    parts = call.path.strip("/").split("/")
    handler = route.get(parts[1]) if len(parts) > 1 else None
    if handler is None:
        raise RefusedError(404, {"error": "no such path"})
    return handler(call)


def route(call: Call) -> Body:
    if call.path == "/oauth/token" and call.method == "POST":
        return token(call)
    if call.path == "/crm/v3/objects/contacts/search":
        return hubspot_search(call)
    prefixes: list[tuple[str, Callable[[Call], Body]]] = [
        ("/api/v2/tickets", zendesk),
        ("/api/v2/", pokeapi),
        ("/repos/dlt-hub/dlt/", github),
        ("/api/v1/", jaffle),
        ("/v1/", v1),
    ]
    for prefix, handler in prefixes:
        if call.path.startswith(prefix):
            return handler(call)
    raise RefusedError(404, {"error": "no such path"})


class CorpusServer(JSONServer):
    """The mock API (:class:`tests.jsonserver.JSONServer`); it keeps the method and target
    (path and query) of every request it answered."""

    def __init__(self) -> None:
        super().__init__(self.answer)
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def answer(self, call: Call) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((call.method, call.target))
        try:
            return 200, route(call)
        except RefusedError as refused:
            return refused.status, refused.body


__all__ = ["CorpusServer"]
