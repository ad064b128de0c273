"""Daily partitions of the history tables, and the retention that drops them whole.

Each table in the registry (``partitioned_tables``) is partitioned by RANGE on its time column:
one partition per UTC day, ``<table>_p<YYYYMMDD>`` over [day, day + 1), and ``<table>_default``
for rows no day's partition takes (``streams.retention``). ``Partitions.run`` creates the next
days' partitions ahead of their rows and drops those whose day is older than the table's
retention: a ``DROP TABLE`` of the partition, never a row-by-row ``DELETE`` (no dead tuples, no
vacuum, no long transaction).

A table may name rows that hold an expired partition back (``held_by``): a day of dead letters
with one still open is kept, and counted, until every letter in it is replayed or discarded.
The check and the drop happen in one transaction with the partition detached, so a letter
written into that day meanwhile keeps it too. Rows that land in the default partition (a day
whose partition was already dropped, or past the days made ahead) are counted, never deleted.

Why not pg_partman: it drops by age alone (no "keep while a letter is open"), needs an
extension (and a superuser to create it) in every database the bus uses, and its maintenance
runs from a background worker or cron outside the bus's jobs and metrics; what we need is about
a hundred lines of DDL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from infra.core.settings import Settings
from infra.db.errors import translated
from infra.db.models import Base
from streams.retention import bounds, day_of, days_ahead, default_name, expired, partition_name

_LOCK_TIMEOUT = "5s"
"""How long a partition's DDL waits for the table's lock before giving up until the next run:
waiting longer would stall every writer queued behind it."""
_LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True, slots=True)
class PartitionedTable:
    name: str
    key: str
    """The time column partitions are ranged on."""
    keep: timedelta
    held_by: str | None = None
    """A condition on rows (SQL) any of which keeps an expired partition, e.g. an open dead letter."""


def partitioned_tables(settings: Settings) -> tuple[PartitionedTable, ...]:
    """Every partitioned table with its retention (the one registry the job and the CLI read)."""
    deliveries = timedelta(days=settings.retention_deliveries_days)
    return (
        PartitionedTable("webhook_deliveries", "created_at", deliveries),
        PartitionedTable("event_status", "decided_at", deliveries),
        PartitionedTable("audit_log", "at", timedelta(days=settings.retention_audit_days)),
        PartitionedTable("event_archive", "accepted_at", timedelta(days=settings.retention_events_days)),
        PartitionedTable(
            "dead_letter", "created_at", timedelta(days=settings.retention_dead_letters_days), "status = 'open'"
        ),
    )


@dataclass(slots=True)
class TableRetention:
    """One table's partitions and what retention does (or would do) to them."""

    table: str
    days: list[date] = field(default_factory=list)
    created: list[date] = field(default_factory=list)
    dropped: list[date] = field(default_factory=list)
    held: list[date] = field(default_factory=list)
    """Expired days kept because a row holds them (an open dead letter)."""
    busy: list[date] = field(default_factory=list)
    """Expired days not dropped this time: the table's lock was not had within the timeout."""
    default_rows: int = 0

    def details(self) -> dict[str, int]:
        return {
            "created": len(self.created), "dropped": len(self.dropped), "held": len(self.held),
            "busy": len(self.busy), "default_rows": self.default_rows,
        }  # fmt: skip


class Partitions:
    def __init__(self, engine: Engine, tables: Sequence[PartitionedTable], *, ahead_days: int) -> None:
        self._engine, self._tables, self._ahead = engine, tables, ahead_days

    @translated("enforcing retention")
    def run(self, now: datetime, *, dry_run: bool = False) -> list[TableRetention]:
        """Create the partitions of today and the days ahead, and drop the expired ones not held;
        with ``dry_run``, only say what would be created and dropped."""
        return [self._table(table, now, dry_run) for table in self._tables]

    def _table(self, table: PartitionedTable, now: datetime, dry_run: bool) -> TableRetention:
        found = TableRetention(table.name, days=self._days(table.name))
        for day in days_ahead(now, self._ahead):
            if day not in found.days:
                found.created.append(day)
                if not dry_run:
                    self._create(table, day)
        for day in found.days:
            if expired(day, now, table.keep):
                outcome = self._peek(table, day) if dry_run else self._drop(table, day)
                {"dropped": found.dropped, "held": found.held, "busy": found.busy}[outcome].append(day)
        found.days = sorted((set(found.days) | set(found.created)) - set(found.dropped))
        with self._engine.connect() as connection:
            found.default_rows = int(
                connection.execute(text(f'SELECT count(*) FROM "{default_name(table.name)}"')).scalar_one()
            )
        return found

    def _days(self, table: str) -> list[date]:
        query = text(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_namespace ns ON ns.oid = parent.relnamespace "
            "WHERE parent.relname = :table AND ns.nspname = current_schema()"
        )
        with self._engine.connect() as connection:
            names = connection.execute(query, {"table": table}).scalars()
            return sorted(day for day in (day_of(table, name) for name in names) if day is not None)

    def _create(self, table: PartitionedTable, day: date) -> None:
        """Make ``day``'s partition, moving into it the rows of that day the default partition
        took meanwhile (a partition's range may not overlap rows the default holds)."""
        start, end = bounds(day)
        name, parent = partition_name(table.name, day), table.name
        with self._engine.begin() as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
            connection.execute(
                text(f'CREATE TABLE "{name}" (LIKE "{parent}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
            )
            connection.execute(
                text(
                    f'WITH moved AS (DELETE FROM "{default_name(parent)}" WHERE "{table.key}" >= :start '
                    f'AND "{table.key}" < :end RETURNING *) INSERT INTO "{name}" SELECT * FROM moved'
                ),
                {"start": start, "end": end},
            )
            connection.execute(
                text(f"ALTER TABLE \"{parent}\" ATTACH PARTITION \"{name}\" FOR VALUES FROM ('{start.isoformat()}') "
                     f"TO ('{end.isoformat()}')")
            )  # fmt: skip

    def _held(self, connection: Connection, table: PartitionedTable, day: date) -> bool:
        if table.held_by is None:
            return False
        query = text(f'SELECT EXISTS (SELECT 1 FROM "{partition_name(table.name, day)}" WHERE {table.held_by})')
        return bool(connection.execute(query).scalar_one())

    def _peek(self, table: PartitionedTable, day: date) -> str:
        with self._engine.connect() as connection:
            return "held" if self._held(connection, table, day) else "dropped"

    def _drop(self, table: PartitionedTable, day: date) -> str:
        """Detach ``day``'s partition, and drop it unless a row holds it (then nothing changed)."""
        name = partition_name(table.name, day)
        with self._engine.connect() as connection, connection.begin() as transaction:
            connection.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
            try:
                connection.execute(text(f'ALTER TABLE "{table.name}" DETACH PARTITION "{name}"'))
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                    transaction.rollback()
                    return "busy"
                raise
            if self._held(connection, table, day):
                transaction.rollback()
                return "held"
            connection.execute(text(f'DROP TABLE "{name}"'))
        return "dropped"


def compared(name: str | None, kind: str, _parents: object) -> bool:
    """Whether Alembic compares schema object ``name`` with the models (its ``include_name``):
    not its own bookkeeping table, nor a partitioned table's partitions (a day's or the default:
    the models describe the parent)."""
    if kind != "table" or name is None:
        return True
    parents = [
        table.name for table in Base.metadata.tables.values() if table.dialect_options["postgresql"]["partition_by"]
    ]
    partition = any(day_of(parent, name) is not None or name == default_name(parent) for parent in parents)
    return not (partition or name == "alembic_version")
