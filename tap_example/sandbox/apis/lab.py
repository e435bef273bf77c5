"""lab: a fake API for *user* definitions, with every paging style and every auth style.

No built-in definition describes it; tests and users point a definition file of their own at
it. Every endpoint is served under each auth "realm", a first path segment that picks the one
credential the realm accepts, so one server checks every auth type:

    /bearer/...         Authorization: Bearer <API_KEY>
    /key-header/...     X-API-Key: <API_KEY>
    /key-query/...      ?api_key=<API_KEY>  (next links leave it out: clients must re-add it)
    /basic/...          HTTP Basic USERNAME:PASSWORD
    /oauth-cc/...       Bearer token from POST /oauth/token, grant_type=client_credentials
    /oauth-refresh/...  Bearer token from POST /oauth/token, grant_type=refresh_token (rotated)

Endpoints (relative to a realm), one paging style each:

    GET  /projects                          offset + limit, body {"total", "items"}
    GET  /projects/{project_id}/tasks       page + per_page, body {"data", "meta": {"total_pages"}}
    GET  /projects/{project_id}/tasks/{task_id}/comments
                                            limit, Link: <...>; rel="next" header, bare list body
    GET  /projects/{project_id}/members     single page, bare list body
    GET  /events                            limit, {"events", "links": {"next"}}; since=<ts> filter
    GET  /users                             limit + cursor query, {"results", "next_cursor"}
    POST /audit/search                      cursor in the JSON body: {"page": {"size", "after"}},
                                            answer {"entries", "page": {"next"}}
    GET  /exports                           {"items", "next"}: page 2 lives on another origin
    GET  /workspace                         one object, {"data": {...}}

Child records do not repeat their parent's id: a client must add it from the path it called.
The other origin (a second listener, think of a CDN) serves page 2 of /exports to anyone and
logs which credentials arrived there (:attr:`LabApi.foreign_requests`): none should.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from ..auth import AuthScheme, TokenAuthority
from ..fakedata import Fake, Window, format_timestamp
from ..paging import decode_cursor, encode_cursor, int_param, int_value, page_after, since
from ..wire import ApiError, Request, Response
from .base import ChildOf, Factory, FakeApi, Record, Route, route

API_KEY = "sandbox-lab-key"
USERNAME = "lab-user"
PASSWORD = "sandbox-lab-password"  # noqa: S105 - a fake credential of a fake API
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
REALMS = ("bearer", "key-header", "key-query", "basic", "oauth-cc", "oauth-refresh")
#: Query parameters a next link never repeats (the API key must be added again by the client).
NOT_IN_LINKS = ("api_key",)

ROLES = ("owner", "editor", "viewer")
EVENT_TYPES = ("task.created", "task.closed", "comment.added", "member.joined")
ACTIONS = ("login", "export", "invite", "delete")


def _unauthorized(message: str) -> Response:
    return Response.error(401, message, {"WWW-Authenticate": 'Bearer realm="lab"'})


#: The lab's streams and their sizes (child streams: the most records per parent; tasks and
#: members have at least one).
SIZES = {
    "projects": 12,
    "tasks": 3,
    "comments": 3,
    "members": 3,
    "events": 40,
    "users": 25,
    "audit_logs": 23,
    "exports": 8,
    "workspace": 1,
}


class LabApi(FakeApi):
    name = "lab"
    streams = tuple(SIZES)
    default_sizes = SIZES
    default_page_size = 10
    auth = AuthScheme("client_credentials", grant_path=None)  # realms decide, see authorize()
    foreign_host = True
    keys = {"members": "user_id"}
    growing_streams = ("events",)
    single_object_streams = ("workspace",)
    #: Comments (children of tasks, grandchildren of projects) are built in __init__.
    children_of = {"tasks": ChildOf("projects", "id"), "members": ChildOf("projects", "id")}

    def __init__(
        self, *, seed: int = 0, sizes: Mapping[str, int] | None = None, page_size: int | None = None
    ) -> None:
        super().__init__(seed=seed, sizes=sizes, page_size=page_size)
        self.comments: dict[str, list[Record]] = {}
        fake = Fake(random.Random(f"lab:{seed}:comments"))  # noqa: S311
        serial = 0
        for task in self.records_ref("tasks"):
            rows = []
            for _ in range(fake.rng.randrange(self.sizes["comments"] + 1)):
                serial += 1
                rows.append(_comment(fake, serial))
            self.comments[task["id"]] = rows
        self.client_credentials = TokenAuthority(
            "lab",
            AuthScheme("client_credentials", grant_path=TOKEN_PATH),
            token_ttl=None,
            token_max_uses=None,
            rotate_refresh_token=True,
        )
        self.refresh_grant = TokenAuthority(
            "lab",
            AuthScheme("refresh_token", grant_path=TOKEN_PATH),
            token_ttl=None,
            token_max_uses=None,
            rotate_refresh_token=True,
        )
        #: What reached the other origin: path and the names of any credentials it carried.
        self.foreign_requests: list[dict[str, Any]] = []

    # -- data --------------------------------------------------------------------------------

    def factories(self) -> dict[str, Factory]:
        return {
            "projects": _project,
            "events": _event,
            "users": _user,
            "audit_logs": _audit,
            "exports": _export,
        }

    def build_extras(self, fake: Fake) -> None:
        self.tables["workspace"] = [
            {
                "name": "Sandbox Lab",
                "plan": "team",
                "seats": 25,
                "created_at": fake.timestamp(Window(1_700_000_000, 1_700_086_400)),
            }
        ]

    def make_children(
        self, child: str, fake: Fake, window: Window, parent: Record, index: int
    ) -> list[Record]:
        count = 1 + fake.rng.randrange(self.sizes[child])
        if child == "tasks":
            return [_task(fake, window, parent["id"], n) for n in range(1, count + 1)]
        return [
            {
                "user_id": 5000 + fake.rng.randrange(1, 200) * 10 + n,
                "role": ROLES[n % len(ROLES)],
                "joined_at": fake.timestamp(window),
            }
            for n in range(count)
        ]

    def records_ref(self, stream: str) -> list[Record]:
        if stream == "comments":
            return [row for task in self.records_ref("tasks") for row in self.comments[task["id"]]]
        return super().records_ref(stream)

    # -- auth --------------------------------------------------------------------------------

    def authorize(self, request: Request, authority: TokenAuthority) -> Response | None:
        """Each realm accepts exactly one kind of credential; the token endpoint is open."""
        if request.path == TOKEN_PATH:
            return None
        realm = request.path.split("/")[1]
        checks: dict[str, Callable[[Request], Response | None]] = {
            "bearer": lambda r: (
                None
                if r.header("Authorization") == f"Bearer {API_KEY}"
                else _unauthorized("missing or wrong bearer token")
            ),
            "key-header": lambda r: (
                None
                if r.header("X-API-Key") == API_KEY
                else _unauthorized("missing or wrong X-API-Key header")
            ),
            "key-query": lambda r: (
                None
                if r.query.get("api_key") == API_KEY
                else _unauthorized("missing or wrong api_key query parameter")
            ),
            "basic": lambda r: (
                None
                if _basic(r) == (USERNAME, PASSWORD)
                else _unauthorized("missing or wrong HTTP Basic credentials")
            ),
            "oauth-cc": self.client_credentials.authorize,
            "oauth-refresh": self.refresh_grant.authorize,
        }
        check = checks.get(realm)
        if check is None:
            return Response.error(
                404, f"no such realm {realm!r}; paths start with one of: {', '.join(REALMS)}"
            )
        return check(request)

    def tap_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Settings for a definition of this API: every credential, OAuth realm as base URL."""
        origin = config["base_url"]
        return {
            "base_url": f"{origin}/oauth-cc",
            "token_url": f"{origin}{TOKEN_PATH}",
            **self.client_credentials.credentials,
            "refresh_token": self.refresh_grant.refresh_token,
            "api_key": API_KEY,
            "username": USERNAME,
            "password": PASSWORD,
        }

    # -- routes ------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            route("POST", TOKEN_PATH, self._grant),
            route("GET", "/{realm}/projects", self._projects),
            route("GET", "/{realm}/projects/{project_id}/tasks", self._tasks, child=True),
            route(
                "GET",
                "/{realm}/projects/{project_id}/tasks/{task_id}/comments",
                self._comments,
                child=True,
            ),
            route("GET", "/{realm}/projects/{project_id}/members", self._members, child=True),
            route("GET", "/{realm}/events", self._events),
            route("GET", "/{realm}/users", self._users),
            route("POST", "/{realm}/audit/search", self._audit_search),
            route("GET", "/{realm}/exports", self._exports),
            route("GET", "/{realm}/workspace", self._workspace),
        ]

    def serve_foreign(self, request: Request) -> Response:
        """The other origin: page 2 of /exports for anyone, noting any credentials sent."""
        carried = [
            name
            for name, present in (
                ("Authorization", request.header("Authorization") is not None),
                ("X-API-Key", request.header("X-API-Key") is not None),
                ("api_key", "api_key" in request.query),
            )
            if present
        ]
        self.foreign_requests.append({"path": request.path, "credentials": carried})
        parts = request.path.split("/")
        if request.method != "GET" or len(parts) != 3 or parts[2] != "exports":
            return Response.error(404, f"no such path on the other origin: {request.path}")
        rows = self.tables["exports"]
        half = (len(rows) + 1) // 2
        return Response.json(200, {"items": rows[half:], "next": None})

    def _grant(self, request: Request, params: Mapping[str, str]) -> Response:
        authority = (
            self.refresh_grant
            if request.form().get("grant_type") == "refresh_token"
            else self.client_credentials
        )
        return authority.grant(request)

    def _projects(self, request: Request, params: Mapping[str, str]) -> Response:
        limit = int_param(request.query, "limit", self.page_size)
        offset = int_param(request.query, "offset", 0, minimum=0)
        rows = self.tables["projects"]
        return Response.json(200, {"total": len(rows), "items": rows[offset : offset + limit]})

    def _project_children(self, child: str, params: Mapping[str, str]) -> list[Record]:
        project_id = params["project_id"]
        groups: dict[Any, list[Record]] = self.children[child]  # keyed by the (integer) id
        rows = groups.get(int(project_id)) if project_id.isdigit() else None
        if rows is None:
            raise ApiError(404, f"no such project: {params['project_id']}")
        return rows

    def _tasks(self, request: Request, params: Mapping[str, str]) -> Response:
        rows = self._project_children("tasks", params)
        per_page = int_param(request.query, "per_page", self.page_size)
        page = int_param(request.query, "page", 1)
        total_pages = max(1, -(-len(rows) // per_page))
        return Response.json(
            200,
            {
                "data": rows[(page - 1) * per_page : page * per_page],
                "meta": {"page": page, "per_page": per_page, "total_pages": total_pages},
            },
        )

    def _comments(self, request: Request, params: Mapping[str, str]) -> Response:
        tasks = self._project_children("tasks", params)
        if not any(task["id"] == params["task_id"] for task in tasks):
            raise ApiError(404, f"no task {params['task_id']} in project {params['project_id']}")
        rows = self.comments[params["task_id"]]
        limit = int_param(request.query, "limit", self.page_size)
        after = request.query.get("after")
        page, has_more = page_after(
            rows, "id", decode_cursor(after, "after") if after else None, limit
        )
        headers = {}
        if has_more:
            headers["Link"] = f'<{_link(request, after=encode_cursor(page[-1]["id"]))}>; rel="next"'
        return Response.json(200, page, headers)

    def _members(self, request: Request, params: Mapping[str, str]) -> Response:
        return Response.json(200, self._project_children("members", params))

    def _events(self, request: Request, params: Mapping[str, str]) -> Response:
        limit = int_param(request.query, "limit", self.page_size)
        rows = since(
            self.tables["events"],
            "occurred_at",
            request.query.get("since"),
            "since",
            inclusive=True,
        )
        after = request.query.get("after")
        page, has_more = page_after(
            rows, "id", decode_cursor(after, "after") if after else None, limit
        )
        following = _link(request, after=encode_cursor(page[-1]["id"])) if has_more else None
        return Response.json(200, {"events": page, "links": {"next": following}})

    def _users(self, request: Request, params: Mapping[str, str]) -> Response:
        limit = int_param(request.query, "limit", self.page_size)
        cursor = request.query.get("cursor")
        page, has_more = page_after(
            self.tables["users"], "id", decode_cursor(cursor, "cursor") if cursor else None, limit
        )
        return Response.json(
            200,
            {"results": page, "next_cursor": encode_cursor(page[-1]["id"]) if has_more else None},
        )

    def _audit_search(self, request: Request, params: Mapping[str, str]) -> Response:
        body = request.json_body()
        paging = body.get("page") if isinstance(body, dict) else None
        if paging is not None and not isinstance(paging, dict):
            raise ApiError(400, "'page' must be an object with 'size' and 'after'")
        paging = paging or {}
        size = int_value(paging.get("size"), "page.size", self.page_size)
        after = paging.get("after")
        if after is not None and not isinstance(after, str):
            raise ApiError(400, f"'page.after' must be a string, got {after!r}")
        actions = (body.get("filter") or {}).get("actions") if isinstance(body, dict) else None
        rows = [r for r in self.tables["audit_logs"] if not actions or r["action"] in actions]
        page, has_more = page_after(
            rows, "id", decode_cursor(after, "page.after") if after else None, size
        )
        return Response.json(
            200,
            {
                "entries": page,
                "page": {"next": encode_cursor(page[-1]["id"])} if has_more else {},
            },
        )

    def _exports(self, request: Request, params: Mapping[str, str]) -> Response:
        rows = self.tables["exports"]
        half = (len(rows) + 1) // 2
        if self.foreign_origin is None:
            raise ApiError(500, "the other origin is not listening")
        following = f"{self.foreign_origin}{request.path}?page=2"
        return Response.json(200, {"items": rows[:half], "next": following})

    def _workspace(self, request: Request, params: Mapping[str, str]) -> Response:
        return Response.json(200, {"data": self.tables["workspace"][0]})


# -- records ---------------------------------------------------------------------------------


def _project(fake: Fake, window: Window, seq: int) -> Record:
    created = fake.moment(window)
    day = format_timestamp(created)[:10]
    return {
        "id": 100 + seq,
        "name": f"{fake.company()} project {seq}",
        "owner": {"id": fake.rng.randrange(1, 500), "email": f"owner{seq}@example.com"},
        "tags": [fake.pick(("alpha", "beta", "ops", "web")) for _ in range(seq % 3)],
        "budget": fake.maybe(round(fake.rng.uniform(100, 9000), 2), 0.25),
        "archived": fake.chance(0.2),
        "created_at": fake.stamp(created),
        "due_on": fake.maybe(day, 0.3),
    }


def _task(fake: Fake, window: Window, project_id: int, n: int) -> Record:
    return {
        "id": f"tsk_{project_id}_{n}",
        "title": f"Task {n} of {project_id}",
        "done": fake.chance(0.5),
        "estimate_hours": fake.maybe(fake.rng.randrange(1, 40), 0.3),
        "updated_at": fake.timestamp(window),
    }


def _comment(fake: Fake, serial: int) -> Record:
    first = fake.first_name()
    return {
        "id": 90_000 + serial,
        "body": f"Comment {serial} by {first}",
        "author": first,
        "posted_at": fake.timestamp(Window(1_704_067_200, 1_735_675_199)),
    }


def _event(fake: Fake, window: Window, seq: int) -> Record:
    return {
        "id": f"evt_{seq:05d}",
        "type": fake.pick(EVENT_TYPES),
        "occurred_at": fake.timestamp(window),
        "payload": {"amount": round(fake.rng.uniform(1, 500), 2), "currency": fake.currency()},
    }


def _user(fake: Fake, window: Window, seq: int) -> Record:
    first, last = fake.first_name(), fake.last_name()
    return {
        "id": 7000 + seq,
        "email": fake.email(first, last),
        "active": fake.chance(0.8),
        "last_login_at": fake.maybe(fake.timestamp(window), 0.3),
    }


def _audit(fake: Fake, window: Window, seq: int) -> Record:
    return {
        "id": 3000 + seq,
        "action": fake.pick(ACTIONS),
        "actor": fake.first_name(),
        "at": fake.timestamp(window),
    }


def _export(fake: Fake, window: Window, seq: int) -> Record:
    return {"id": seq, "file": f"export-{seq:03d}.csv", "rows": fake.rng.randrange(10, 9999)}


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _link(request: Request, **params: Any) -> str:
    """This request's URL with some parameters replaced, minus credentials (see NOT_IN_LINKS)."""
    query = {k: v for k, v in request.query.items() if k not in NOT_IN_LINKS}
    query.update({name: str(value) for name, value in params.items()})
    return f"{request.origin}{request.path}?{urlencode(query)}"
