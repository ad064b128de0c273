"""A tenant's accepted events, as the event archive holds them (``infra.db.event_archive``).

A listing is bounded in time (``from``, default a day before ``to``; ``to``, default now; a
``from`` at or after ``to`` is an empty range, as the dead letters' ``since`` and ``until`` are)
and may name a type and an entity. Each event's payload is shown only to a key that may read
personal data (``personal_data:read``); for the others it loses its type's ``personal_data``
paths, or every value when the type is unknown here, as a dead letter's does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.db.event_archive import ArchivedEventView, EventQuery
from ingress.admin import schemas as s
from ingress.admin.table import Answer, Call, Operation, Page
from ingress.http.problems import Problem
from streams.redact import mask_all, mask_paths

_DEFAULT_SPAN = timedelta(days=1)


def _instant(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise Problem(422, "invalid-request", "Invalid request", f"{name}: is not a date-time", field=name) from None
    if at.tzinfo is None:
        raise Problem(422, "invalid-request", "Invalid request", f"{name}: needs a time zone", field=name)
    return at


def _query(call: Call) -> EventQuery:
    end = _instant(call.query.get("to"), "to") or datetime.now(UTC)
    start = _instant(call.query.get("from"), "from") or end - _DEFAULT_SPAN
    kind = call.query.get("type")
    return EventQuery(start, end, types=frozenset({kind}) if kind else frozenset(),
                      entity_id=call.query.get("entity_id"))  # fmt: skip


def _event(call: Call, view: ArchivedEventView) -> dict[str, Any]:
    envelope: dict[str, Any] = dict(view.envelope)
    payload = json.loads(envelope["payload"])
    masked = not call.principal.may("personal_data:read")
    if masked:
        found = call.repos.event_types.catalogue().get(
            view.tenant_id, view.event_type, int(envelope.get("schema_version") or 1)
        )
        payload = mask_paths(payload, found.personal_data) if found is not None else mask_all(payload)
    return {
        "event_id": str(view.event_id), "type": view.event_type, "entity_id": view.entity_id, "lane": view.lane,
        "accepted_at": view.accepted_at.isoformat(), "topic": view.topic, "partition": view.partition,
        "offset": view.offset, "envelope": envelope | {"payload": payload}, "masked": masked,
    }  # fmt: skip


async def list_events(call: Call) -> Answer:
    query = _query(call)
    start = call.cursor or 0

    def page() -> tuple[list[dict[str, Any]], bool]:
        found = call.repos.events.search(call.tenant_id, query, offset=start, limit=call.limit + 1)
        return [_event(call, view) for view in found[: call.limit]], len(found) > call.limit

    items, more = await call.run(page)
    return Answer(200, Page(items, start + call.limit if more else None))


EVENT = s.obj(
    ["event_id", "type", "entity_id", "lane", "accepted_at", "envelope", "masked"],
    {"event_id": s.UUID, "type": {"type": "string"}, "entity_id": {"type": ["string", "null"]},
     "lane": {"type": "string"}, "accepted_at": s.WHEN, "envelope": s.ANY_OBJECT,
     "masked": {"type": "boolean", "description": "Personal data masked: the key lacks personal_data:read"}},
    closed=False,
)  # fmt: skip
_QUERY = [
    {"name": name, "in": "query", "required": False, "schema": schema}
    for name, schema in {
        "from": s.WHEN | {"description": "Accepted at or after (with a time zone); default a day before `to`"},
        "to": s.WHEN | {"description": "Accepted before (with a time zone); default now"},
        "type": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,199}$"},
        "entity_id": {"type": "string", "minLength": 1, "maxLength": 200},
    }.items()
]  # fmt: skip

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/tenants/{tenant_id}/events", "events:read", list_events,
              "Search the event history by time, type and entity, oldest first; personal data masked without "
              "personal_data:read", "list", EVENT, parameters=_QUERY),
)  # fmt: skip
