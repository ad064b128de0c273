"""partitioned history: the delivery log, routing decisions, dead letters and audit log by day

Each table becomes partitioned by RANGE on its time column, one partition per UTC day
(``<table>_p<YYYYMMDD>``, [day, day + 1)) and ``<table>_default``; its rows are copied into
the partitions of their days, and today's and the next days' partitions are made ahead. The
primary keys and unique constraints take the time column in, as partitioning requires. The
id sequences are kept, so ids go on from where they were.

Revision ID: 0016_partitioned_history
Revises: 0015_sealed_personal_data
Create Date: 2026-12-05 11:10:00.000000
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from alembic import op
from sqlalchemy import text

revision = "0016_partitioned_history"
down_revision = "0015_sealed_personal_data"
branch_labels = None
depends_on = None

_AHEAD_DAYS = 7

# table, time column, has an id sequence, the primary key before and after
_TABLES = (
    ("webhook_deliveries", "created_at", True, "id"),
    ("event_status", "decided_at", False, "event_id"),
    ("dead_letter", "created_at", True, "id"),
    ("audit_log", "at", True, "id"),
)
_DEAD_LETTER_UQ = "uq_dead_letter_original_topic_original_partition_origin_{}"
_UNIQUES_AFTER = {
    "webhook_deliveries": [
        ("uq_webhook_deliveries_delivery_id_attempt_created_at", "delivery_id, attempt, created_at")
    ],
    "dead_letter": [
        (_DEAD_LETTER_UQ.format("2dcb"), "original_topic, original_partition, original_offset, created_at")
    ],
}
_UNIQUES_BEFORE = {
    "webhook_deliveries": _UNIQUES_AFTER["webhook_deliveries"],
    "dead_letter": [(_DEAD_LETTER_UQ.format("f712"), "original_topic, original_partition, original_offset")],
}
_INDEXES = {
    "webhook_deliveries": [
        ("ix_webhook_deliveries_endpoint_status", "endpoint_id, status"),
        ("ix_webhook_deliveries_status_created", "status, created_at"),
        ("ix_webhook_deliveries_tenant_created", "tenant_id, created_at"),
    ],
    "event_status": [],
    "dead_letter": [
        ("ix_dead_letter_status_created", "status, created_at"),
        ("ix_dead_letter_tenant_destination", "tenant_id, destination"),
        ("ix_dead_letter_status_id", "status, id"),
        ("ix_dead_letter_delivery_id", "delivery_id"),
        ("ix_dead_letter_event_id", "event_id"),
        ("ix_dead_letter_subjects", "USING gin (subjects)"),
    ],
    "audit_log": [("ix_audit_log_tenant_at", "tenant_id, at")],
}
_FOREIGN_KEYS = {
    "webhook_deliveries": [
        ("fk_webhook_deliveries_endpoint_id_webhook_endpoints", "endpoint_id", "webhook_endpoints (id)")
    ],
    "dead_letter": [("fk_dead_letter_replay_id_replays", "replay_id", "replays (id)")],
}
# Rows a plain table's keys would refuse after the downgrade (a replayed event's earlier
# decisions; a letter archived twice under two failure times): the latest of each stays.
_DISTINCT_BEFORE = {
    "event_status": "DISTINCT ON (event_id) * FROM event_status ORDER BY event_id, decided_at DESC",
    "dead_letter": "DISTINCT ON (original_topic, original_partition, original_offset) * FROM dead_letter "
    "ORDER BY original_topic, original_partition, original_offset, id DESC",
}


def _partition(table: str, parent: str, day: date) -> None:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    op.execute(
        f'CREATE TABLE "{table}_p{day:%Y%m%d}" PARTITION OF "{parent}" '
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')"
    )


def _constraints(table: str, key: str, uniques: list[tuple[str, str]]) -> None:
    op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "pk_{table}" PRIMARY KEY ({key})')
    for name, columns in uniques:
        op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE ({columns})')
    for name, columns in _INDEXES[table]:
        op.execute(f'CREATE INDEX "{name}" ON "{table}" {columns if columns.startswith("USING") else f"({columns})"}')
    for name, column, target in _FOREIGN_KEYS.get(table, []):
        op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ({column}) REFERENCES {target} '
                   "ON DELETE SET NULL")  # fmt: skip


def _swap(table: str, built: str, sequence: bool) -> None:
    """Replace ``table`` by ``built`` (its rows copied already), keeping the id sequence."""
    if sequence:
        op.execute(f'ALTER SEQUENCE "{table}_id_seq" OWNED BY NONE')
    op.execute(f'DROP TABLE "{table}"')
    op.execute(f'ALTER TABLE "{built}" RENAME TO "{table}"')
    if sequence:
        op.execute(f'ALTER SEQUENCE "{table}_id_seq" OWNED BY "{table}".id')


def upgrade() -> None:
    today = datetime.now(UTC).date()
    for table, key, sequence, pk in _TABLES:
        built = f"{table}__partitioned"
        op.execute(f'CREATE TABLE "{built}" (LIKE "{table}" INCLUDING DEFAULTS) PARTITION BY RANGE ("{key}")')
        op.execute(f'CREATE TABLE "{table}_default" PARTITION OF "{built}" DEFAULT')
        found = (
            op.get_bind()
            .execute(text(f'SELECT DISTINCT ("{key}" AT TIME ZONE \'UTC\')::date FROM "{table}"'))
            .scalars()
        )
        for day in sorted(set(found) | {today + timedelta(days=n) for n in range(_AHEAD_DAYS + 1)}):
            _partition(table, built, day)
        op.execute(f'INSERT INTO "{built}" SELECT * FROM "{table}"')
        _swap(table, built, sequence)
        _constraints(table, f"{pk}, {key}", _UNIQUES_AFTER.get(table, []))


def downgrade() -> None:
    for table, _key, sequence, pk in _TABLES:
        plain = f"{table}__plain"
        op.execute(f'CREATE TABLE "{plain}" (LIKE "{table}" INCLUDING DEFAULTS)')
        op.execute(f'INSERT INTO "{plain}" SELECT {_DISTINCT_BEFORE.get(table, f"* FROM {table}")}')
        _swap(table, plain, sequence)
        _constraints(table, pk, _UNIQUES_BEFORE.get(table, []))
