"""The route table's types, and the one handler every operation runs through.

Each ``Operation`` names its method, path, scope, handler and JSON schemas; from the table come
the router, the scope checks and the OpenAPI document (``ingress.admin.openapi``). ``dispatch``
applies the conventions every route shares, in this order: the API key (401), the rate limit
(429), the scope (403), the tenant in the path (404 for another tenant's key, never saying
whether it exists), the body (415, 400, 422 naming the field), ``Idempotency-Key`` on a POST
(the stored answer again, or 422), ``If-Match`` on a PATCH (428, 412), then the handler; a
listing is paginated and a single resource gets its ``ETag``. Requests on one idempotency key, and
PATCHes of one resource, take turns from their check to their write (409 when a turn stays taken).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

import jsonschema_rs
import orjson
from aiohttp import web

from infra.db.admin_requests import IdempotencyConflictError, RequestInProgressError, StoredAnswer, request_digest
from infra.db.api_keys import Principal
from ingress.admin.state import STATE, AdminState, Repositories
from ingress.http.bodies import parse_json, read_json_bytes
from ingress.http.problems import Problem, missing_scope, unauthenticated
from streams.errors import (
    ConfigurationError,
    InvalidEventTypeError,
    InvalidRouteError,
    NotFoundError,
    NothingToReplayError,
    ReplayRunningError,
    StoreRefusedError,
)
from streams.scopes import Scope

Method = Literal["GET", "POST", "PATCH"]
Kind = Literal["list", "single", "action"]
R = TypeVar("R")

MAX_BODY_BYTES = 256 * 1024
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
CURSOR = re.compile(r"c[0-9]{1,9}")
"""A page's start. Opaque to clients: they pass back the ``next_cursor`` they were given."""
RATE_HEADERS = web.RequestKey("crmbus_admin_rate_headers", dict[str, str])
SHOWN_ONCE = ("secret", "token", "signing_secret")
"""An answer's members holding a secret shown once: an Idempotency-Key's stored answer drops them."""
WITHHELD = "Crmbus-Withheld"


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated, authorised request as a handler sees it."""

    principal: Principal
    path: Mapping[str, str]
    query: Mapping[str, str]
    body: dict[str, Any]
    repos: Repositories
    state: AdminState
    limit: int = DEFAULT_LIMIT
    cursor: int | None = None
    """For a listing: the page's size, and where it starts (``Page``'s ``after``, or an offset)."""

    @property
    def tenant_id(self) -> str:
        return self.path["tenant_id"]

    async def run(self, blocking: Callable[[], R]) -> R:
        """A repository call, in a thread: they block."""
        return await asyncio.to_thread(blocking)


@dataclass(frozen=True, slots=True)
class Page:
    """A listing's page its handler cut itself (a keyset: by id, after ``Call.cursor``)."""

    items: list[Any]
    after: int | None
    """Where the next page starts; None on the last page."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Answer]]


@dataclass(frozen=True, slots=True)
class Operation:
    method: Method
    path: str
    """Under ``/v1``; ``{tenant_id}`` in it makes the operation the tenant's."""
    scope: Scope
    handler: Handler
    summary: str
    kind: Kind
    response: Mapping[str, Any]
    """The schema of the answer (of one item, for a listing)."""
    request: Mapping[str, Any] | None = None
    status: int = 200
    current: Handler | None = None
    """For a PATCH: the resource as its GET shows it, whose ETag ``If-Match`` must name."""
    parameters: Sequence[Mapping[str, Any]] = ()
    """Path and query parameters beyond ``tenant_id``, ``limit`` and ``cursor``."""
    errors: tuple[int, ...] = ()
    """Statuses this operation answers beyond those every operation may (409, say)."""
    personal: bool = False
    """Its answer holds a person's data: never kept for an ``Idempotency-Key`` (which it ignores)."""

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.strip("_")

    @property
    def query_names(self) -> frozenset[str]:
        listing = {"limit", "cursor"} if self.kind == "list" else set()
        return frozenset(listing | {str(p["name"]) for p in self.parameters if p.get("in") == "query"})

    @property
    def tenant_scoped(self) -> bool:
        return "{tenant_id}" in self.path


def etag_of(body: Any) -> str:
    return '"' + hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32] + '"'


def not_found(what: str = "resource") -> Problem:
    return Problem(404, "not-found", "Not found", f"no such {what}")


def _invalid(detail: str, field_path: str | None = None) -> Problem:
    return Problem(422, "invalid-request", "Invalid request", detail, field=field_path)


def _cursor_offset(query: Mapping[str, str]) -> tuple[int, int | None]:
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise _invalid(f"limit: must be an integer from 1 to {MAX_LIMIT}", "limit")
    cursor = query.get("cursor")
    if cursor is None:
        return int(raw_limit), None
    if CURSOR.fullmatch(cursor) is None:
        raise _invalid("cursor: is not a cursor this API gave", "cursor")
    return int(raw_limit), int(cursor[1:])


def _page(request: web.Request, body: Any, limit: int, offset: int) -> Answer:
    if isinstance(body, Page):
        page, after = body.items, body.after
    else:
        page = list(body[offset : offset + limit])
        after = offset + limit if offset + limit < len(body) else None
    next_cursor = None if after is None else f"c{after}"
    headers: dict[str, str] = {}
    if next_cursor is not None:
        link = request.url.with_query({**request.query, "cursor": next_cursor, "limit": str(limit)})
        headers["Link"] = f'<{link.path_qs}>; rel="next"'
    return Answer(200, {"items": page, "next_cursor": next_cursor}, headers)


async def _principal(state: AdminState, request: web.Request) -> Principal:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    presented = credentials.strip() if scheme.lower() == "bearer" else ""
    principal = await state.api_keys.get(presented) if presented else None
    if principal is None:
        raise unauthenticated()
    return principal


async def _body(operation: Operation, request: web.Request, validator: Any) -> tuple[dict[str, Any], bytes]:
    if operation.request is None:
        return {}, b""
    # No body at all is an empty object: an operation whose fields are all optional needs none.
    raw = await read_json_bytes(request, MAX_BODY_BYTES) if request.body_exists else b""
    document = parse_json(raw or b"{}")
    for error in validator.iter_errors(document):
        where = ".".join(str(part) for part in error.instance_path) or None
        raise _invalid(f"{where or 'the body'}: {_rule(error)}", where)
    return document, raw


def _rule(error: Any) -> str:
    # The validator's message may quote the value sent: name the rule instead.
    kind = type(error.kind).__name__.removeprefix("ValidationErrorKind_")
    return {
        "Required": "lacks a required field",
        "AdditionalProperties": "has a field this operation does not take",
        "Type": "has the wrong type",
        "Enum": "is not one of the allowed values",
        "MinLength": "is too short",
        "MaxLength": "is too long",
        "Pattern": "does not match the required pattern",
        "Minimum": "is too small",
        "Maximum": "is too large",
        "MinItems": "has too few items",
        "UniqueItems": "has repeated items",
        "MinProperties": "is empty",
    }.get(kind, "is not valid here")


def _check_query(operation: Operation, query: Mapping[str, str], validators: Mapping[str, Any]) -> None:
    if not set(query) <= operation.query_names:
        raise _invalid("the query has a parameter this operation does not take")
    if len(query) != len(set(query)):
        raise _invalid("the query names a parameter twice")
    for name, value in query.items():
        if name in validators and not validators[name].is_valid(value):
            raise _invalid(f"{name}: is not a value this parameter takes", name)


def dispatcher(operation: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    validator = jsonschema_rs.validator_for(dict(operation.request)) if operation.request is not None else None
    query_validators = {
        str(p["name"]): jsonschema_rs.validator_for(dict(p["schema"]))
        for p in operation.parameters
        if p.get("in") == "query" and p["schema"].get("type") == "string"
    }

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        principal = await _principal(state, request)
        _check_query(operation, request.query, query_validators)
        rate = state.limits.check("", str(principal.key_id))
        request[RATE_HEADERS] = rate
        if not principal.may(operation.scope):
            raise missing_scope(operation.scope)
        path = dict(request.match_info)
        repos = state.repositories(principal.actor)
        if operation.tenant_scoped:
            tenant_id = path["tenant_id"]
            if not principal.acts_for(tenant_id) or await asyncio.to_thread(repos.tenants.find, tenant_id) is None:
                raise not_found("tenant")
        body, raw = await _body(operation, request, validator)
        limit, cursor = _cursor_offset(request.query) if operation.kind == "list" else (DEFAULT_LIMIT, None)
        call = Call(principal, path, request.query, body, repos, state, limit, cursor)
        keeps_answers = operation.method == "POST" and not operation.personal
        idempotency_key = request.headers.get("Idempotency-Key") if keeps_answers else None
        if idempotency_key is not None and IDEMPOTENCY_KEY.fullmatch(idempotency_key) is None:
            raise _invalid("Idempotency-Key: must be 1 to 255 visible ASCII characters", "Idempotency-Key")
        current = operation.current if operation.method == "PATCH" else None  # what If-Match must name
        target = f"{request.method} {request.path}"
        turn = (
            f"idempotency {principal.key_id} {target} {idempotency_key}" if idempotency_key is not None
            else f"update {request.path}" if current is not None
            else None
        )  # fmt: skip
        async with _one_at_a_time(state, turn):
            if idempotency_key is not None:
                digest = request_digest(raw)
                try:
                    stored = await asyncio.to_thread(
                        state.requests.find, principal.key_id, target, idempotency_key, digest
                    )
                except IdempotencyConflictError as exc:
                    raise Problem(
                        422, "idempotency-key-reused", "Idempotency-Key reused", str(exc), field="Idempotency-Key"
                    ) from None
                if stored is not None:
                    return _replayed(stored)
            if current is not None:
                await _check_if_match(request, await current(call))
            answer = await _refusals(operation.handler, call)
            if operation.kind == "list":
                answer = _page(request, answer.body, limit, cursor or 0)
            elif operation.kind == "single" and operation.method != "POST":
                answer = Answer(answer.status, answer.body, {**answer.headers, "ETag": etag_of(answer.body)})
            if idempotency_key is not None and 200 <= answer.status < 300:
                await asyncio.to_thread(
                    state.requests.remember, principal.key_id, target, idempotency_key, digest, _to_keep(answer)
                )
            return _response(answer)

    return handle


@asynccontextmanager
async def _one_at_a_time(state: AdminState, turn: str | None) -> AsyncIterator[None]:
    """With ``turn`` (a POST's Idempotency-Key, a PATCH's resource): no other request of that turn,
    in any process, between this one's check (the key's stored answer, the ETag) and its write;
    409 after ``HOLD_WAIT_S`` of waiting."""
    if turn is None:
        yield
        return
    taking = asyncio.ensure_future(asyncio.to_thread(state.requests.hold, turn))
    try:
        release = await asyncio.shield(taking)
    except RequestInProgressError:
        raise Problem(
            409,
            "request-in-progress",
            "Request in progress",
            "another request with this Idempotency-Key, or on this resource, is still running; retry",
            headers={"Retry-After": "1"},
        ) from None
    except asyncio.CancelledError:
        taking.add_done_callback(_release_once_taken)  # the wait goes on in its thread: let go once it ends
        raise
    try:
        yield
    finally:
        await asyncio.to_thread(release)


def _release_once_taken(taking: asyncio.Future[Callable[[], None]]) -> None:
    if not taking.cancelled() and taking.exception() is None:
        taking.result()()


def _to_keep(answer: Answer) -> StoredAnswer:
    """The answer as kept for an Idempotency-Key: never a secret shown once (an API key's, a
    source's token and signing secret), which is stored nowhere, only hashed or sealed."""
    body, withheld = answer.body, []
    if isinstance(body, dict):
        withheld = sorted(name for name in SHOWN_ONCE if body.get(name) is not None)
        body = {name: value for name, value in body.items() if name not in withheld}
    headers = {**answer.headers, **({WITHHELD: ",".join(withheld)} if withheld else {})}
    return StoredAnswer(answer.status, orjson.dumps(body), headers)


def _replayed(stored: StoredAnswer) -> web.Response:
    """The first answer again; 409 when it held a secret, which was shown once and not kept."""
    body = orjson.loads(stored.body)
    withheld = stored.headers.get(WITHHELD)
    if withheld:
        made = body.get("id") if isinstance(body, dict) else None
        raise Problem(
            409, "secret-shown-once", "Already done; its secret is not kept",
            f"this request already ran (it made {made}); its {withheld.replace(',', ', ')} were in that answer "
            "only and are kept nowhere: rotate the key, or revoke the source and add another, for new ones",
            extra={"id": made},
        )  # fmt: skip
    return _response(Answer(stored.status, body, stored.headers), replayed=True)


async def _refusals(handler: Handler, call: Call) -> Answer:
    """What a repository refuses, as a problem: 422 naming the field, 409 for a name in use."""
    try:
        return await handler(call)
    except (InvalidRouteError, InvalidEventTypeError) as exc:
        raise _invalid(str(exc), exc.field) from None
    except StoreRefusedError:
        raise Problem(409, "conflict", "Conflict", "it conflicts with what exists (a name in use?)") from None
    except NotFoundError as exc:
        raise not_found(exc.kind.replace("_", " ")) from None
    except NothingToReplayError as exc:
        raise Problem(409, "nothing-to-replay", "Nothing to replay", str(exc)) from None
    except ReplayRunningError as exc:
        raise Problem(409, "replay-running", "Replay running", str(exc)) from None
    except ConfigurationError as exc:
        raise _invalid(str(exc)) from None


async def _check_if_match(request: web.Request, current: Answer) -> None:
    given = request.headers.get("If-Match")
    if given is None:
        raise Problem(
            428, "precondition-required", "Precondition required",
            "send If-Match with the ETag of the resource as you last read it",
        )  # fmt: skip
    tags = {tag.strip() for tag in given.split(",")}
    if "*" not in tags and etag_of(current.body) not in tags:
        raise Problem(
            412, "precondition-failed", "Precondition failed",
            "the resource changed since that ETag; read it again", headers={"ETag": etag_of(current.body)},
        )  # fmt: skip


def _response(answer: Answer, replayed: bool = False) -> web.Response:
    headers = {**answer.headers, "Idempotent-Replayed": "true"} if replayed else dict(answer.headers)
    return web.Response(
        status=answer.status, body=orjson.dumps(answer.body), content_type="application/json", headers=headers
    )


def uuid_of(raw: str, what: str) -> uuid.UUID:
    """A path's id; a malformed one names nothing, so it is a 404 like an unknown one."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(what) from None


def instant_of(raw: str, name: str) -> datetime:
    """A query's or body's date-time (ISO 8601 with a time zone); 422 naming ``name`` otherwise."""
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise Problem(422, "invalid-request", "Invalid request", f"{name}: is not a date-time", field=name) from None
    if at.tzinfo is None:
        raise Problem(422, "invalid-request", "Invalid request", f"{name}: needs a time zone", field=name)
    return at
