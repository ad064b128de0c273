"""Retention drops whole daily partitions once expired, keeps the rest and any day holding an open
dead letter, runs once per tick across workers, and the migration puts existing rows in their days."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, text

from agents.jobs import Job, JobRunner
from infra.cli.wiring import partitions, retention_job
from infra.core.settings import Settings
from infra.db.job_runs import JobRuns
from infra.db.migrate import alembic_config, downgrade, upgrade
from infra.db.models import AuditLog, DeadLetter, EventStatus, WebhookDelivery
from streams.ticks import tick_of

pytestmark = pytest.mark.integration
NOW = tick_of(datetime.now(UTC), 3600)
TODAY = NOW.date()
TABLES = ("webhook_deliveries", "event_status", "dead_letter", "audit_log")


def _settings() -> Settings:
    return Settings(
        retention_deliveries_days=2, retention_audit_days=2, retention_dead_letters_days=2, retention_ahead_days=7
    )


def _day(days_ago: int) -> date:
    return TODAY - timedelta(days=days_ago)


def _at(days_ago: int) -> datetime:
    return datetime.combine(_day(days_ago), time(12), UTC)


def _write(engine: Engine, days_ago: int, *, letter_status: str = "replayed") -> None:
    """One row in each history table at noon ``days_ago`` days ago."""
    at = _at(days_ago)
    with engine.begin() as connection:
        connection.execute(
            insert(WebhookDelivery).values(
                delivery_id=f"d-{days_ago}", attempt=1, tenant_id="acme", destination="crm", event_id=uuid.uuid4(),
                event_type="lead.created", status="delivered", latency_ms=3.0, created_at=at,
            )
        )  # fmt: skip
        connection.execute(
            insert(EventStatus).values(
                event_id=uuid.uuid4(), tenant_id="acme", event_type="lead.created", decision="routed", planned=1,
                failed_routes=0, decided_at=at,
            )
        )  # fmt: skip
        connection.execute(
            insert(DeadLetter).values(
                original_topic="crmbus.deliveries.crm", original_partition=0, original_offset=days_ago,
                error_class="PermanentDeliveryError", error_message="422", status=letter_status, created_at=at,
            )
        )  # fmt: skip
        connection.execute(insert(AuditLog).values(actor="cli", action="routes.create", target_type="route", at=at))


def _rows_by_partition(engine: Engine, table: str) -> Counter[str]:
    with engine.connect() as connection:
        found = connection.execute(text(f"SELECT tableoid::regclass::text FROM {table}")).scalars()
        return Counter(name.rpartition(".")[2] for name in found)


def _partitions(engine: Engine, table: str) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.execute(
                text(
                    "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = inhrelid "
                    "JOIN pg_class parent ON parent.oid = inhparent "
                    "WHERE parent.relname = :table AND parent.relnamespace = current_schema()::regnamespace"
                ),
                {"table": table},
            ).scalars()
        )


def _p(table: str, days_ago: int) -> str:
    return f"{table}_p{_day(days_ago):%Y%m%d}"


@pytest.fixture
def history(migrated: Engine) -> Engine:
    """Rows 5, 4, 3 and 1 days old, in partitions of their days (made as a run five days ago
    would have made them, moving the rows out of the default partition); the dead letter of
    five days ago is still open."""
    _write(migrated, 5, letter_status="open")
    for days_ago in (4, 3, 1):
        _write(migrated, days_ago)
    assert _rows_by_partition(migrated, "audit_log") == {"audit_log_default": 4}
    partitions(_settings(), migrated).run(NOW - timedelta(days=5))
    return migrated


def test_the_job_drops_the_expired_days_and_keeps_the_rest(history):
    runner = JobRunner(JobRuns(history, "host-a:1", lease=timedelta(minutes=5)), [retention_job(_settings(), history)],
                       heartbeat_s=30)  # fmt: skip
    asyncio.run(runner.run_due(NOW))

    for table in ("webhook_deliveries", "event_status", "audit_log"):
        assert _rows_by_partition(history, table) == {_p(table, 1): 1}, table
        names = _partitions(history, table)
        assert {_p(table, n) for n in (5, 4, 3)}.isdisjoint(names)
        assert {_p(table, 2), _p(table, 1), _p(table, 0), _p(table, -7), f"{table}_default"} <= names
    # The day with an open letter stays, whole; the days whose letters were all resolved go.
    assert _rows_by_partition(history, "dead_letter") == {_p("dead_letter", 5): 1, _p("dead_letter", 1): 1}
    assert _p("dead_letter", 4) not in _partitions(history, "dead_letter")
    [run] = JobRuns(history, "reader", lease=timedelta(minutes=5)).recent("retention")
    assert run.outcome == "succeeded"
    assert run.details["dead_letter"] == {"created": 0, "dropped": 2, "held": 1, "busy": 0, "default_rows": 0}
    assert run.details["audit_log"]["dropped"] == 3


def test_a_day_is_dropped_once_its_last_open_letter_is_resolved(history):
    job = partitions(_settings(), history)
    assert [t.held for t in job.run(NOW) if t.table == "dead_letter"] == [[_day(5)]]
    with history.begin() as connection:
        connection.execute(text("UPDATE dead_letter SET status = 'discarded' WHERE status = 'open'"))
    assert [t.dropped for t in job.run(NOW) if t.table == "dead_letter"] == [[_day(5)]]
    assert _rows_by_partition(history, "dead_letter") == {_p("dead_letter", 1): 1}


def test_a_dry_run_says_what_it_would_drop_and_drops_nothing(history):
    before = {table: _partitions(history, table) for table in TABLES}
    found = {t.table: t for t in partitions(_settings(), history).run(NOW, dry_run=True)}
    assert found["audit_log"].dropped == [_day(5), _day(4), _day(3)]
    assert (found["dead_letter"].dropped, found["dead_letter"].held) == ([_day(4), _day(3)], [_day(5)])
    assert {table: _partitions(history, table) for table in TABLES} == before


def test_two_workers_looking_at_the_same_tick_run_the_job_once(history):
    ran: list[str] = []

    def runner(owner: str) -> JobRunner:
        job = retention_job(_settings(), history)

        async def counted(tick: datetime) -> dict[str, Any]:
            ran.append(owner)
            return await job.run(tick)

        runs = JobRuns(history, owner, lease=timedelta(minutes=5))
        return JobRunner(runs, [Job(job.name, job.schedule, counted)], heartbeat_s=30)

    async def both() -> None:
        await asyncio.gather(runner("host-a:1").run_due(NOW), runner("host-b:2").run_due(NOW))

    asyncio.run(both())
    assert len(ran) == 1
    assert [run.owner for run in JobRuns(history, "reader", lease=timedelta(minutes=5)).recent("retention")] == ran


def test_the_migration_puts_existing_rows_in_the_partitions_of_their_days(migrated, unique):
    before = ScriptDirectory.from_config(alembic_config(migrated, unique)).get_revision("0016_partitioned_history")
    downgrade(migrated, schema=unique, revision=before.down_revision)
    for days_ago in (40, 3):
        _write(migrated, days_ago)
    upgrade(migrated, schema=unique)
    for table in TABLES:
        assert _rows_by_partition(migrated, table) == {_p(table, 40): 1, _p(table, 3): 1}, table
        assert {_p(table, 0), _p(table, -7)} <= _partitions(migrated, table)
    with migrated.connect() as connection:  # the ids go on from where they were
        ids = connection.execute(text("SELECT max(id) FROM audit_log")).scalar_one()
    _write(migrated, 0)
    with migrated.connect() as connection:
        assert connection.execute(text("SELECT max(id) FROM audit_log")).scalar_one() == ids + 1
