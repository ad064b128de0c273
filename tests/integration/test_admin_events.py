"""GET /v1/tenants/{tenant}/events on the real PostgreSQL: the event history by time, type and
entity, a tenant's own only, payloads masked unless the key may read personal data, bad
bounds refused with a problem naming them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.event_archive import EventToArchive
from infra.db.models import AuditLog
from streams.redact import MASK
from tests.integration.admin_harness import LEAD, running_admin

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(kafka_bootstrap, database_url):
    with running_admin(kafka_bootstrap, database_url) as running:
        yield running


def archived(world, tenant: str, type_: str, at: datetime, entity: str | None = None) -> str:
    event_id = uuid.uuid4()
    envelope = {
        "event_id": event_id, "tenant_id": tenant, "type": type_, "source": "site", "occurred_at": at,
        "received_at": at, "idempotency_key": None, "correlation_id": None, "ordering_key": None,
        "schema_version": 1, "payload": json.dumps(LEAD),
    }  # fmt: skip
    world.repositories["events"].store([
        EventToArchive(topic="x.crmbus.events", partition=0, offset=0, accepted_at=at, lane="default",
                       key=tenant.encode(), envelope=envelope, entity_id=entity, subjects=[])
    ])  # fmt: skip
    return str(event_id)


def _range(start: datetime, end: datetime) -> str:
    return f"from={start.isoformat().replace('+', '%2B')}&to={end.isoformat().replace('+', '%2B')}"


def test_events_are_listed_oldest_first_by_time_type_and_entity_in_pages(world):
    start = AT
    ids = [archived(world, "acme", "lead.created", start + timedelta(minutes=n), entity=f"L-{n}") for n in range(3)]
    archived(world, "acme", "client.registered", start + timedelta(minutes=1))
    archived(world, "acme", "lead.created", start + timedelta(hours=3))
    path = f"/v1/tenants/acme/events?{_range(start, start + timedelta(hours=1))}&type=lead.created"
    first = world.call("GET", path + "&limit=2", world.full["acme"]).json()
    rest = world.call("GET", f"{path}&limit=2&cursor={first['next_cursor']}", world.full["acme"]).json()
    assert [item["event_id"] for item in first["items"] + rest["items"]] == ids
    assert rest["next_cursor"] is None
    one = world.call("GET", f"/v1/tenants/acme/events?{_range(start, start + timedelta(hours=1))}&entity_id=L-1",
                     world.full["acme"]).json()  # fmt: skip
    assert [item["event_id"] for item in one["items"]] == [ids[1]]


def test_another_tenants_events_are_never_listed(world):
    start = AT + timedelta(days=1)
    archived(world, "globex", "lead.created", start)
    found = world.call("GET", f"/v1/tenants/acme/events?{_range(start, start + timedelta(hours=1))}",
                       world.full["acme"]).json()  # fmt: skip
    assert found["items"] == []
    assert world.call("GET", f"/v1/tenants/globex/events?{_range(start, start + timedelta(hours=1))}",
                      world.full["acme"]).status_code == 404  # fmt: skip


def test_a_payload_is_masked_unless_the_key_may_read_personal_data(world):
    start = AT + timedelta(days=2)
    archived(world, "acme", "lead.created", start)
    path = f"/v1/tenants/acme/events?{_range(start, start + timedelta(hours=1))}"
    (masked,) = world.call("GET", path, world.without("personal_data:read")).json()["items"]
    assert masked["masked"] is True
    assert masked["envelope"]["payload"] == {"name": MASK, "phone": MASK, "channel": "site"}
    assert "Maria" not in json.dumps(masked)
    (shown,) = world.call("GET", path, world.full["acme"]).json()["items"]
    assert (shown["masked"], shown["envelope"]["payload"]) == (False, LEAD)


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=yesterday", "from"), ("to=2026-12-01T10:00:00", "to")],
)  # fmt: skip
def test_bad_bounds_are_refused_naming_the_parameter(world, query, field):
    answer = world.call("GET", f"/v1/tenants/acme/events?{query}", world.full["acme"])
    assert answer.status_code == 422
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert field in answer.json()["detail"]


def test_a_range_that_ends_before_it_starts_is_empty(world):
    archived(world, "acme", "lead.created", AT)
    inverted = world.call("GET", f"/v1/tenants/acme/events?{_range(AT + timedelta(hours=1), AT)}", world.full["acme"])
    assert (inverted.status_code, inverted.json()["items"]) == (200, [])


def test_a_replay_is_answered_with_what_it_sent_and_audited_as_the_key_that_asked(world):
    answer = world.call("POST", "/v1/tenants/acme/events/replay", world.full["acme"],
                        json={"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T01:00:00Z", "redeliver": True})  # fmt: skip
    assert answer.status_code == 200, answer.text
    replay = answer.json()
    assert (replay["from_lanes"], replay["from_archive"]) == (0, 0)  # this world has no lanes, nor archived gaps
    with Session(world.engine) as session:
        (row,) = session.scalars(select(AuditLog).where(AuditLog.target_id == replay["id"])).all()
    assert (row.action, row.tenant_id, row.details["redeliver"]) == ("events.replay", "acme", "true")
    assert row.actor.startswith("key:")


def test_a_replay_needs_dlq_replay_and_a_range_that_starts_before_it_ends(world):
    body = {"from": "2026-12-01T01:00:00Z", "to": "2026-12-01T00:00:00Z"}
    refused = world.call("POST", "/v1/tenants/acme/events/replay", world.full["acme"], json=body)
    assert refused.status_code == 422
    assert "from" in refused.json()["detail"]
    body = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T01:00:00Z"}
    forbidden = world.call("POST", "/v1/tenants/acme/events/replay", world.without("dlq:replay"), json=body)
    assert forbidden.status_code == 403
