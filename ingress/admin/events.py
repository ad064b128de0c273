"""A tenant's accepted events, as the event archive holds them (``infra.db.event_archive``).

A replay (``POST .../events/replay``, ``infra.control.event_replay``) needs ``dlq:replay``: it is
the same act as a dead letters' replay (records sent back through the bus, the sinks' delivery
ids keeping what was delivered from going again), by the same people (operators); a scope of
its own would be one more to grant for no difference in who may do it. ``redeliver`` does deliver
again, and is audited as such.

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

from infra.control.event_replay import EventRange
from infra.db.event_archive import ArchivedEventView, EventQuery
from ingress.admin import schemas as s
from ingress.admin.table import Answer, Call, Operation, Page, instant_of
from ingress.http.problems import Problem
from streams.redact import mask_all, mask_paths

_DEFAULT_SPAN = timedelta(days=1)


def _query(call: Call) -> EventQuery:
    given = call.query
    end = instant_of(given["to"], "to") if "to" in given else datetime.now(UTC)
    start = instant_of(given["from"], "from") if "from" in given else end - _DEFAULT_SPAN
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


async def replay_events(call: Call) -> Answer:
    body = call.body
    start, end = instant_of(body["from"], "from"), instant_of(body["to"], "to")
    if start >= end:
        raise Problem(422, "invalid-request", "Invalid request", "from: must come before to", field="from")
    selection = EventRange(call.tenant_id, start, end, frozenset(body.get("types", ())), body.get("redeliver", False))
    done = await call.state.event_replayer(call.principal.actor).replay(selection)
    return Answer(200, {"id": str(done.id), "from_lanes": done.from_lanes, "from_archive": done.from_archive,
                        "archived_partitions": list(done.archived_partitions)})  # fmt: skip


EVENT = s.obj(
    ["event_id", "type", "entity_id", "lane", "accepted_at", "envelope", "masked"],
    {"event_id": s.UUID, "type": {"type": "string"}, "entity_id": {"type": ["string", "null"]},
     "lane": {"type": "string"}, "accepted_at": s.WHEN, "envelope": s.ANY_OBJECT,
     "masked": {"type": "boolean", "description": "Personal data masked: the key lacks personal_data:read"}},
    closed=False,
)  # fmt: skip
_TYPE_PARAMETER = {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,199}$"}
_QUERY = [
    {"name": name, "in": "query", "required": False, "schema": schema}
    for name, schema in {
        "from": s.WHEN | {"description": "Accepted at or after (with a time zone); default a day before `to`"},
        "to": s.WHEN | {"description": "Accepted before (with a time zone); default now"},
        "type": _TYPE_PARAMETER,
        "entity_id": {"type": "string", "minLength": 1, "maxLength": 200},
    }.items()
]  # fmt: skip

REPLAYED = s.obj(
    ["id", "from_lanes", "from_archive", "archived_partitions"],
    {"id": s.UUID, "from_lanes": {"type": "integer"}, "from_archive": {"type": "integer"},
     "archived_partitions": {"type": "array", "items": {"type": "string"},
                             "description": "Lane partitions missing part of the range: read from the archive"}},
)  # fmt: skip
_RANGE = s.obj(
    ["from", "to"],
    {"from": s.WHEN | {"description": "Accepted at or after (with a time zone)"},
     "to": s.WHEN | {"description": "Accepted before (with a time zone)"},
     "types": {"type": "array", "items": _TYPE_PARAMETER, "maxItems": 50, "uniqueItems": True},
     "redeliver": {"type": "boolean", "description": "Deliver again what was delivered (new delivery ids)"}},
)  # fmt: skip

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/tenants/{tenant_id}/events", "events:read", list_events,
              "Search the event history by time, type and entity, oldest first; personal data masked without "
              "personal_data:read", "list", EVENT, parameters=_QUERY),
    Operation("POST", "/tenants/{tenant_id}/events/replay", "dlq:replay", replay_events,
              "Send the events accepted in a time range through the router again, from the lanes or, past "
              "Kafka's retention, the archive; what was delivered is not delivered again unless redeliver",
              "action", REPLAYED, _RANGE),
)  # fmt: skip
