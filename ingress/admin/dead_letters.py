"""Dead letters, replays and delivery retries: what operators do with what failed.

They come from the archive (``infra.db.dead_letters``) and the replay engine
(``infra.control.replay``). A shown letter's record is decoded and its payload masked unless the
key may read personal data (``personal_data:read``): an event's payload loses its type's
``personal_data`` paths; a delivery's mapped payload, whose fields the type does not name, keeps
only its shape.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from infra.db.dead_letters import DeadLetterView, ReplayRun
from infra.db.delivery_log import DeliveryAttempt, DeliverySearch
from ingress.admin import schemas as s
from ingress.admin.table import Answer, Call, Operation, Page, instant_of, not_found, uuid_of
from ingress.http.problems import Problem
from streams.errors import DecodeError
from streams.redact import mask_all, mask_paths
from streams.replay_filter import STATUSES, ReplayFilter


def _when(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _letter(view: DeadLetterView) -> dict[str, Any]:
    return {
        "id": view.id, "tenant_id": view.tenant_id, "destination": view.destination,
        "delivery_id": view.delivery_id, "event_id": str(view.event_id) if view.event_id else None,
        "original_topic": view.original_topic, "original_partition": view.original_partition,
        "original_offset": view.original_offset, "error_class": view.error_class,
        "error_message": view.error_message, "status_code": view.status_code, "attempts": view.attempts,
        "first_failure_at": _when(view.first_failure_at), "last_failure_at": _when(view.last_failure_at),
        "status": view.status, "replay_id": str(view.replay_id) if view.replay_id else None,
        "discard_reason": view.discard_reason, "created_at": _when(view.created_at),
    }  # fmt: skip


def _replay(run: ReplayRun) -> dict[str, Any]:
    return {"id": str(run.id), "tenant_id": run.tenant_id, "selection": run.selection.to_json(),
            "requested_by": run.requested_by, "state": run.state, "selected": run.selected, "sent": run.sent,
            "created_at": _when(run.created_at), "finished_at": _when(run.finished_at),
            "heartbeat_at": _when(run.heartbeat_at)}  # fmt: skip


def _instant(raw: str | None, name: str) -> datetime | None:
    return None if raw is None else instant_of(raw, name)


def _event_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise Problem(422, "invalid-request", "Invalid request", "event_id: is not a UUID", field="event_id") from None


def _selection(given: dict[str, Any]) -> ReplayFilter:
    ids, events = given.get("delivery_ids"), given.get("event_ids")
    if given.get("status") not in (None, *STATUSES):
        raise Problem(422, "invalid-request", "Invalid request", f"status: is one of {', '.join(STATUSES)}",
                      field="status")  # fmt: skip
    return ReplayFilter(
        destination=given.get("destination"), error_class=given.get("error_class"),
        since=_instant(given.get("since"), "since"), until=_instant(given.get("until"), "until"),
        status=given.get("status"), delivery_ids=frozenset(ids) if ids is not None else None,
        event_ids=frozenset(events) if events is not None else None,
    )  # fmt: skip


async def list_dead_letters(call: Call) -> Answer:
    query: dict[str, Any] = dict(call.query)
    if "delivery_id" in query:
        query["delivery_ids"] = [query.pop("delivery_id")]
    if "event_id" in query:
        query["event_ids"] = [_event_id(query.pop("event_id"))]
    selection = _selection(query)
    found = await call.run(
        lambda: call.repos.dead_letters.list(call.tenant_id, selection, after_id=call.cursor, limit=call.limit + 1)
    )
    more = len(found) > call.limit
    page = found[: call.limit]
    return Answer(200, Page([_letter(view) for view in page], page[-1].id if more else None))


def _record(call: Call, view: DeadLetterView) -> tuple[dict[str, Any] | None, bool]:
    """The letter's record, decoded, its payload masked unless the key may read personal data."""
    try:
        record = call.state.decode(view.value)
    except DecodeError:
        return None, False
    raw = record.get("payload")
    payload = orjson.loads(raw) if isinstance(raw, str) else raw
    if call.principal.may("personal_data:read"):
        return record | {"payload": payload}, False
    if "delivery_id" in record:  # a delivery: its mapped fields are named by the route, not the type
        return record | {"payload": mask_all(payload)}, True
    found = call.repos.event_types.catalogue().get(
        view.tenant_id or "", str(record.get("type")), int(record.get("schema_version") or 1)
    )
    paths = found.personal_data if found is not None else ()
    # A type this process does not know: its personal fields are unknown, so every value is.
    masked = mask_paths(payload, paths) if found is not None else mask_all(payload)
    return record | {"payload": masked}, True


async def get_dead_letter(call: Call) -> Answer:
    raw = call.path["letter_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise not_found("dead letter")
    view = await call.run(lambda: call.repos.dead_letters.get(call.tenant_id, int(raw)))
    record, masked = await call.run(lambda: _record(call, view))
    return Answer(200, _letter(view) | {"record": record, "masked": masked})


async def discard_dead_letters(call: Call) -> Answer:
    ids, reason = call.body["ids"], call.body["reason"]
    discarded = await call.run(lambda: call.repos.dead_letters.discard(call.tenant_id, ids, reason))
    return Answer(200, {"discarded": discarded})


async def preview_replay(call: Call) -> Answer:
    """What a replay of the selection would send now; nothing is sent."""
    preview = await call.state.replays.engine(call.principal.actor).preview(call.tenant_id, _selection(call.body))
    return Answer(200, {"count": preview.count, "sample": [_letter(view) for view in preview.sample]})


async def replay_dead_letters(call: Call) -> Answer:
    run = await call.state.replays.start(call.principal.actor, call.tenant_id, _selection(call.body))
    return Answer(202, _replay(run), {"Location": f"/v1/tenants/{call.tenant_id}/replays/{run.id}"})


async def get_replay(call: Call) -> Answer:
    replay_id = uuid_of(call.path["replay_id"], "replay")
    return Answer(200, _replay(await call.run(lambda: call.repos.dead_letters.replay(call.tenant_id, replay_id))))


async def resume_replay(call: Call) -> Answer:
    replay_id = uuid_of(call.path["replay_id"], "replay")
    await call.run(lambda: call.repos.dead_letters.replay(call.tenant_id, replay_id))
    run = await call.state.replays.resume(call.principal.actor, call.tenant_id, replay_id)
    return Answer(202, _replay(run), {"Location": f"/v1/tenants/{call.tenant_id}/replays/{run.id}"})


ATTEMPT_STATUSES = ("delivered", "retrying", "dead_lettered", "duplicate")


def _attempt(found: DeliveryAttempt) -> dict[str, Any]:
    return {"attempt": found.attempt, "status": found.status, "status_code": found.status_code,
            "at": _when(found.created_at)}  # fmt: skip


async def list_deliveries(call: Call) -> Answer:
    query = call.query
    try:
        event_id = uuid.UUID(query["event_id"]) if "event_id" in query else None
    except ValueError:
        raise Problem(422, "invalid-request", "Invalid request", "event_id: is not a UUID", field="event_id") from None
    search = DeliverySearch(
        event_id=event_id, destination=query.get("destination"), status=query.get("status"),
        since=_instant(query.get("since"), "since"), until=_instant(query.get("until"), "until"),
    )  # fmt: skip
    found = await call.run(
        lambda: call.repos.deliveries.search(call.tenant_id, search, after=call.cursor, limit=call.limit + 1)
    )
    page = found[: call.limit]
    items = [
        {"delivery_id": view.delivery_id, "event_id": str(view.event_id), "event_type": view.event_type,
         "destination": view.destination, "attempts": [_attempt(a) for a in view.attempts]}
        for view in page
    ]  # fmt: skip
    return Answer(200, Page(items, page[-1].position if len(found) > call.limit else None))


async def retry_deliveries(call: Call) -> Answer:
    engine = call.state.replays.engine(call.principal.actor)
    return Answer(200, _replay(await engine.retry(call.tenant_id, call.body["delivery_ids"])))


_T = "/tenants/{tenant_id}"
_WORD = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}
_FILTERS = {
    "destination": _WORD,
    "error_class": _WORD,
    "status": {"enum": list(STATUSES)},
    "since": s.WHEN | {"description": "Last failure at or after (with a time zone)"},
    "until": s.WHEN | {"description": "Last failure before (with a time zone)"},
}
_QUERY = [
    {"name": name, "in": "query", "required": False, "schema": schema}
    for name, schema in {**_FILTERS, "delivery_id": _WORD, "event_id": s.UUID}.items()
]
_DELIVERY_IDS = {"type": "array", "items": _WORD, "minItems": 1, "maxItems": 1000, "uniqueItems": True}
LETTER = s.obj(
    ["id", "tenant_id", "destination", "delivery_id", "event_id", "error_class", "status", "attempts"],
    {"id": {"type": "integer"}, "tenant_id": {"type": ["string", "null"]}, "status": {"enum": list(STATUSES)},
     "destination": {"type": ["string", "null"]}, "delivery_id": {"type": ["string", "null"]},
     "event_id": {"type": ["string", "null"]}, "error_class": {"type": "string"}, "attempts": {"type": "integer"}},
    closed=False,
)  # fmt: skip
SHOWN_LETTER = LETTER | {
    "required": [*LETTER["required"], "record", "masked"],
    "properties": LETTER["properties"]
    | {
        "record": {"type": ["object", "null"], "description": "The record decoded; null when it cannot be"},
        "masked": {"type": "boolean", "description": "Personal data masked: the key lacks personal_data:read"},
    },
}
REPLAY = s.obj(
    ["id", "state", "selected", "sent", "selection"],
    {"id": s.UUID, "state": {"enum": ["running", "done", "interrupted"]}, "selected": {"type": "integer"},
     "heartbeat_at": s.WHEN | {"description": "When it last began or marked a page: stale while running, "
                                              "its run was stopped without a word (resume it)"},
     "sent": {"type": "integer"}, "selection": s.ANY_OBJECT},
    closed=False,
)  # fmt: skip
DELIVERY = s.obj(
    ["delivery_id", "event_id", "event_type", "destination", "attempts"],
    {"delivery_id": {"type": "string"}, "event_id": s.UUID, "event_type": {"type": "string"},
     "destination": {"type": "string"},
     "attempts": {"type": "array", "items": s.obj(["attempt", "status", "status_code", "at"], {
         "attempt": {"type": "integer"}, "status": {"type": "string"},
         "status_code": {"type": ["integer", "null"]}, "at": s.WHEN})}},
)  # fmt: skip
_DELIVERY_QUERY = [
    {"name": name, "in": "query", "required": False, "schema": schema}
    for name, schema in {
        "event_id": s.UUID, "destination": _WORD, "status": {"type": "string", "enum": list(ATTEMPT_STATUSES)},
        "since": _FILTERS["since"], "until": _FILTERS["until"],
    }.items()
]  # fmt: skip
_REASON = {"type": "string", "minLength": 1, "maxLength": 500, "pattern": "^[^\\x00]*\\S[^\\x00]*$"}
_SELECTION = s.obj([], {**_FILTERS, "delivery_ids": _DELIVERY_IDS})
_REPLAY_ID = {"name": "replay_id", "in": "path", "required": True, "schema": s.UUID}

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", f"{_T}/dead-letters", "dlq:read", list_dead_letters, "List dead letters, by id, with filters",
              "list", LETTER, parameters=_QUERY),
    Operation("GET", f"{_T}/dead-letters/{{letter_id}}", "dlq:read", get_dead_letter,
              "Show a dead letter, its record decoded; personal data masked without personal_data:read", "single",
              SHOWN_LETTER,
              parameters=[{"name": "letter_id", "in": "path", "required": True,
                           "schema": {"type": "integer", "minimum": 1, "maximum": 10**17}}]),
    Operation("POST", f"{_T}/dead-letters/discard", "dlq:replay", discard_dead_letters,
              "Discard dead letters, with a reason", "action",
              s.obj(["discarded"], {"discarded": {"type": "integer"}}),
              s.obj(["ids", "reason"], {
                  "ids": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 10**17},
                          "minItems": 1, "maxItems": 1000, "uniqueItems": True},
                  "reason": _REASON})),
    Operation("POST", f"{_T}/dead-letters/replay/dry-run", "dlq:read", preview_replay,
              "What a replay of the open dead letters a filter selects would send; sends nothing", "action",
              s.obj(["count", "sample"], {"count": {"type": "integer"}, "sample": {"type": "array", "items": LETTER}}),
              _SELECTION),
    Operation("POST", f"{_T}/dead-letters/replay", "dlq:replay", replay_dead_letters,
              "Replay the open dead letters a filter selects (in the background: follow its Location)", "action",
              REPLAY, _SELECTION, status=202),
    Operation("GET", f"{_T}/replays/{{replay_id}}", "dlq:read", get_replay, "How far a replay got", "single",
              REPLAY, parameters=[_REPLAY_ID]),
    Operation("POST", f"{_T}/replays/{{replay_id}}/resume", "dlq:replay", resume_replay,
              "Go on with an interrupted replay to its end, in the background; nothing is sent twice", "action",
              REPLAY, parameters=[_REPLAY_ID], status=202, errors=(409,)),
    Operation("GET", f"{_T}/deliveries", "deliveries:read", list_deliveries,
              "Search deliveries by event, destination, an attempt's status and time; each with its attempts",
              "list", DELIVERY, parameters=_DELIVERY_QUERY),
    Operation("POST", f"{_T}/deliveries/retry", "deliveries:retry", retry_deliveries,
              "Retry dead-lettered deliveries now (a replay of their open dead letters)", "action", REPLAY,
              s.obj(["delivery_ids"], {"delivery_ids": _DELIVERY_IDS}), errors=(409,)),
)  # fmt: skip
