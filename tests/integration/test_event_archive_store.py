"""The event archive's repository on a real PostgreSQL: sealed, idempotent, partitioned by day,
searchable by tenant, type, entity and time, and answering a data subject's export and erasure."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import inspect, text

from infra.core.secret_box import SecretBox
from infra.core.settings import Settings
from infra.db.event_archive import EventArchive, EventQuery, EventToArchive
from infra.db.partitions import Partitions, partitioned_tables

DAY = datetime(2026, 11, 2, tzinfo=UTC)  # long before the migration's partitions


def event(
    tenant: str, type_: str, at: datetime, payload: dict, *, entity: str | None = None, subjects: tuple = ()
) -> EventToArchive:
    event_id = uuid.uuid4()
    envelope = {
        "event_id": event_id, "tenant_id": tenant, "type": type_, "source": "api", "occurred_at": at,
        "received_at": at, "idempotency_key": None, "correlation_id": None, "ordering_key": None,
        "schema_version": 1, "payload": json.dumps(payload),
    }  # fmt: skip
    return EventToArchive(
        topic="p.crmbus.events", partition=1, offset=int(at.timestamp()), accepted_at=at, lane="default",
        key=tenant.encode(), envelope=envelope, entity_id=entity, subjects=list(subjects),
    )  # fmt: skip


@pytest.fixture
def archive(migrated):
    return EventArchive(migrated, SecretBox(Fernet.generate_key()))


def test_an_event_is_stored_once_however_often_it_is_archived(archive):
    lead = event("acme", "lead.created", DAY, {"lead_id": "L-1"})
    assert archive.store([lead]) == 1
    assert archive.store([lead]) == 0
    assert [view.event_id for view in archive.search("acme", EventQuery(DAY, DAY + timedelta(days=1)))] == [
        uuid.UUID(str(lead.envelope["event_id"]))
    ]


def test_a_batch_larger_than_one_statement_takes_is_stored_whole(archive):
    events = [event("acme", "lead.created", DAY + timedelta(seconds=n), {}) for n in range(6500)]
    assert archive.store(events) == 6500
    assert len(archive.search("acme", EventQuery(DAY, DAY + timedelta(days=1)), limit=10_000)) == 6500


def test_a_day_without_its_partition_waits_in_the_default_one_until_retention_makes_it(archive, migrated, unique):
    archive.store([event("acme", "lead.created", DAY + timedelta(hours=5), {})])
    with migrated.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event_archive_default")).scalar() == 1
    tables = [table for table in partitioned_tables(Settings()) if table.name == "event_archive"]
    Partitions(migrated, tables, ahead_days=0).run(DAY)
    assert "event_archive_p20261102" in set(inspect(migrated).get_table_names(schema=unique))
    with migrated.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event_archive_p20261102")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM event_archive_default")).scalar() == 0
    assert len(archive.search("acme", EventQuery(DAY, DAY + timedelta(days=1)))) == 1


def test_no_personal_data_is_readable_in_the_table_without_the_key(archive, migrated):
    archive.store([event("acme", "whatsapp.message.received", DAY, {"phone": "+5511988887777", "text": "Oi"})])
    with migrated.connect() as conn:
        row = conn.execute(text("SELECT * FROM event_archive")).mappings().one()
    clear = " ".join(str(value) for name, value in row.items() if name != "record")
    assert "5511988887777" not in clear and "Oi" not in clear
    assert b"5511988887777" not in bytes(row["record"])


def test_search_selects_by_tenant_type_entity_and_time_and_pages_with_a_cursor(archive):
    events = [event("acme", "lead.created", DAY + timedelta(minutes=n), {}, entity=f"L-{n % 2}") for n in range(6)]
    events.append(event("acme", "client.registered", DAY + timedelta(minutes=2), {}))
    events.append(event("other", "lead.created", DAY + timedelta(minutes=2), {}))
    events.append(event("acme", "lead.created", DAY + timedelta(hours=2), {}))
    archive.store(events)
    window = EventQuery(DAY, DAY + timedelta(hours=1), types=frozenset({"lead.created"}))
    first = archive.search("acme", window, limit=4)
    rest = archive.search("acme", window, after=first[-1].position, limit=4)
    assert [view.accepted_at for view in first + rest] == [DAY + timedelta(minutes=n) for n in range(6)]
    entity = archive.search("acme", EventQuery(DAY, DAY + timedelta(hours=1), entity_id="L-1"))
    assert [view.accepted_at.minute for view in entity] == [1, 3, 5]
    assert {view.tenant_id for view in archive.search("other", EventQuery(DAY, DAY + timedelta(days=1)))} == {"other"}


def test_an_entity_kept_as_a_digest_is_found_by_its_clear_value(archive):
    digest = hashlib.sha256(b"+5511988887777").hexdigest()[:32]
    archive.store([event("acme", "whatsapp.message.received", DAY, {}, entity=digest)])
    found = archive.search("acme", EventQuery(DAY, DAY + timedelta(days=1), entity_id="+5511988887777"))
    assert [view.entity_id for view in found] == [digest]


def test_a_subject_is_exported_opened_and_erased_in_their_tenant_only(archive):
    mine = event("acme", "lead.created", DAY, {"phone": "+5511988887777"}, subjects=("phone:aa",))
    other = event("acme", "lead.created", DAY, {"phone": "+5511911112222"}, subjects=("phone:bb",))
    elsewhere = event("beta", "lead.created", DAY, {"phone": "+5511988887777"}, subjects=("phone:aa",))
    archive.store([mine, other, elsewhere])
    exported = archive.export_subject("acme", ["phone:aa"])
    assert [item["envelope"]["payload"] for item in exported] == [{"phone": "+5511988887777"}]
    assert archive.erase_subject("acme", ["phone:aa"]) == 1
    assert archive.export_subject("acme", ["phone:aa"]) == []
    assert len(archive.export_subject("beta", ["phone:aa"])) == 1
    assert len(archive.export_subject("acme", ["phone:bb"])) == 1
