"""The archived dead letters as operators list, read and discard them, each tenant seeing only
its own; and a replayed delivery's outcomes kept beside the attempts that dead-lettered it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.core.secret_box import SecretBox
from infra.db.dead_letters import DeadLetters
from infra.db.delivery_log import DeliveryLog
from infra.db.models import AuditLog
from streams.errors import ConfigurationError, NotFoundError
from streams.replay_filter import ReplayFilter

AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
BOX = SecretBox(Fernet.generate_key())


def letter(offset: int, tenant: str = "acme", destination: str = "crm", **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "tenant_id": tenant, "destination": destination, "delivery_id": f"d-{offset}", "event_id": uuid.uuid4(),
        "original_topic": f"crmbus.deliver.{destination}", "original_partition": 0, "original_offset": offset,
        "error_class": "PermanentDeliveryError", "error_message": "400 from the destination", "status_code": 400,
        "attempts": 1, "first_failure_at": AT, "last_failure_at": AT + timedelta(minutes=offset), "key": tenant.encode(),
        "value": b"bytes", "headers": {"crmbus-stage": "sink.permanent"},
    }  # fmt: skip
    row.update(changes)
    return row


@pytest.fixture
def archived(migrated):
    DeliveryLog(migrated, BOX).record(
        [], [letter(n) for n in range(5)] + [letter(10, tenant="beta"), letter(11, destination="zapi")]
    )
    return DeadLetters(migrated, actor="key:op-1", box=BOX)


def test_a_tenants_letters_are_listed_a_page_at_a_time_by_id_with_a_cursor(archived):
    first = archived.list("acme", ReplayFilter(destination="crm"), limit=3)
    rest = archived.list("acme", ReplayFilter(destination="crm"), after_id=first[-1].id, limit=3)
    assert [v.original_offset for v in first + rest] == [0, 1, 2, 3, 4]
    assert archived.list("acme", ReplayFilter(destination="crm"), after_id=rest[-1].id, limit=3) == []
    assert (first[0].key, first[0].value, first[0].delivery_id) == (b"acme", b"bytes", "d-0")


def test_a_platform_caller_sees_every_tenant_a_tenant_only_its_own(archived):
    assert archived.count(None, ReplayFilter()) == 7
    assert archived.count("acme", ReplayFilter()) == 6
    assert archived.count("acme", ReplayFilter(tenant="beta")) == 0
    assert archived.count(None, ReplayFilter(tenant="beta")) == 1


def test_another_tenants_letter_is_not_found_like_one_that_does_not_exist(archived):
    (beta,) = archived.list(None, ReplayFilter(tenant="beta"))
    assert archived.get("beta", beta.id).tenant_id == "beta"
    assert archived.get(None, beta.id).id == beta.id
    with pytest.raises(NotFoundError, match=f"no dead letter {beta.id}"):
        archived.get("acme", beta.id)
    with pytest.raises(NotFoundError):
        archived.get("acme", 10**9)


def test_the_selection_filters_by_failure_time_error_and_delivery(archived):
    window = ReplayFilter(since=AT + timedelta(minutes=1), until=AT + timedelta(minutes=3))
    assert [v.original_offset for v in archived.list("acme", window)] == [1, 2]
    assert archived.count("acme", ReplayFilter(error_class="MappingError")) == 0
    assert [v.delivery_id for v in archived.list("acme", ReplayFilter(delivery_ids=frozenset({"d-3"})))] == ["d-3"]


def test_a_discard_keeps_the_reason_is_audited_and_leaves_the_dlq_shallower(archived, migrated):
    ids = [v.id for v in archived.list("acme", ReplayFilter(), limit=2)]
    assert archived.open_count() == 7
    assert archived.discard("acme", ids, "test data, not a real client") == 2
    assert archived.open_count() == 5
    assert {(v.status, v.discard_reason) for v in archived.list("acme", ReplayFilter(ids=frozenset(ids)))} == {
        ("discarded", "test data, not a real client")
    }
    assert archived.discard("acme", ids, "again") == 0  # already discarded: nothing more to do
    with Session(migrated) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "dlq.discard")).all()
    first = rows[0]
    assert (first.actor, first.tenant_id, first.details["reason"]) == (
        "key:op-1",
        "acme",
        "test data, not a real client",
    )


def test_a_discard_naming_another_tenants_letter_discards_nothing(archived):
    (beta,) = archived.list(None, ReplayFilter(tenant="beta"))
    mine = archived.list("acme", ReplayFilter(), limit=1)[0]
    with pytest.raises(NotFoundError):
        archived.discard("acme", [mine.id, beta.id], "cleanup")
    assert archived.get("acme", mine.id).status == "open"
    with pytest.raises(ConfigurationError, match="reason"):
        archived.discard("acme", [mine.id], "  ")


def test_a_replayed_deliverys_success_shows_after_its_dead_lettered_attempt(migrated):
    event_id = uuid.uuid4()
    attempt = {
        "delivery_id": "d-1", "tenant_id": "acme", "endpoint_id": None, "destination": "crm", "event_id": event_id,
        "event_type": "lead.created", "latency_ms": 3.0, "error_class": None, "response_excerpt": None,
    }  # fmt: skip
    failed = {**attempt, "attempt": 1, "status": "dead_lettered", "status_code": 400, "created_at": AT}
    replayed = {
        **attempt,
        "attempt": 1,
        "status": "delivered",
        "status_code": 201,
        "created_at": AT + timedelta(hours=1),
    }
    log = DeliveryLog(migrated)
    log.record([failed], [])
    log.record([failed, replayed], [])  # the first batch archived again, then the replay's outcome
    history = log.history(event_id, "acme")
    assert [(a.attempt, a.status) for a in history.attempts] == [(1, "dead_lettered"), (1, "delivered")]
