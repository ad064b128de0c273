"""A producer's ``outbox`` table, as the outbox relay reads it: the DDL a producer runs in its
own database (``crmbus outbox schema``), the batch read in ``seq`` order, the delete after Kafka
committed, the relay lag, and the advisory lock that keeps one relay per table active.

The columns are Debezium's outbox event router's (``id``, ``aggregatetype``, ``aggregateid``,
``type``, ``payload``), plus ``seq`` (the insertion order the relay keeps per aggregate) and
``created_at`` (the relay lag's clock), so the same table can be read by Debezium instead.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from infra.db.engine import make_engine
from infra.db.errors import translated
from streams.outbox import OutboxRow

_TABLE = re.compile(r"[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?")

DDL = """\
-- The transactional outbox, read by `crmbus outbox relay` (or Debezium's outbox event router).
-- Write a row in the same transaction as the change it announces; never update or delete rows.
CREATE TABLE IF NOT EXISTS {table} (
    seq           bigserial    NOT NULL UNIQUE,        -- insertion order, kept per aggregate
    id            uuid         PRIMARY KEY,            -- the event's id: header "id" on Kafka
    aggregatetype varchar(255) NOT NULL,               -- routes the row: outbox.event.<aggregatetype>
    aggregateid   varchar(255) NOT NULL,               -- the record key: one aggregate, one partition
    type          varchar(255) NOT NULL,               -- the event type: header "type"
    payload       jsonb,                               -- the record value (NULL: a tombstone)
    created_at    timestamptz  NOT NULL DEFAULT now()  -- the relay lag is measured from it
);
"""


def checked_table(table: str) -> str:
    """``table`` (optionally ``schema.table``) when it is a plain lower-case identifier."""
    if not _TABLE.fullmatch(table):
        raise ValueError("the outbox table is a lower-case identifier, optionally schema-qualified")
    return table


def outbox_engine(url: str) -> Engine:
    """An engine on the producer's database at ``url`` (``postgresql://…`` is read with psycopg)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return make_engine(parsed, pool_size=2)


def ddl(table: str = "outbox") -> str:
    """The SQL that creates the outbox table ``table`` in a producer's database."""
    return DDL.format(table=checked_table(table))


class OutboxTable:
    """One producer's outbox table, read and emptied by the relay."""

    def __init__(self, engine: Engine, table: str = "outbox") -> None:
        self._engine = engine
        self._table = checked_table(table)

    @translated("reading the outbox")
    def batch(self, limit: int) -> list[OutboxRow]:
        """The first ``limit`` rows in ``seq`` order among the committed ones."""
        query = text(
            f"SELECT seq, id::text, aggregatetype, aggregateid, type, payload::text, created_at "  # noqa: S608
            f"FROM {self._table} ORDER BY seq LIMIT :limit"
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query, {"limit": limit}).all()
        return [
            OutboxRow(seq, id_, kind, aggregate, type_, None if payload is None else payload.encode(), created)
            for seq, id_, kind, aggregate, type_, payload, created in rows
        ]

    @translated("deleting relayed outbox rows")
    def delete(self, ids: Sequence[str]) -> int:
        """Remove relayed rows (those already gone are no error); how many went."""
        if not ids:
            return 0
        query = text(f"DELETE FROM {self._table} WHERE id = ANY(CAST(:ids AS uuid[]))")  # noqa: S608
        with self._engine.begin() as connection:
            return connection.execute(query, {"ids": list(ids)}).rowcount

    @translated("measuring the outbox's lag")
    def lag_s(self) -> float:
        """How old the oldest row waiting is, in seconds (0 when none waits)."""
        query = text(
            f"SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM {self._table}"  # noqa: S608
        )
        with self._engine.connect() as connection:
            return max(0.0, float(connection.execute(query).scalar_one()))

    @contextmanager
    def sole_relay(self, stop: threading.Event, every_s: float = 1.0) -> Iterator[bool]:
        """Hold, for the block, the session advisory lock that makes this the only active relay
        of the table; a second relay waits here (True once it holds the lock, False when ``stop``
        was set first). PostgreSQL frees the lock when the holder's session ends."""
        lock = text("SELECT pg_try_advisory_lock(hashtext(:name))")
        with self._engine.connect() as connection:
            while not connection.execute(lock, {"name": f"crmbus-outbox:{self._table}"}).scalar_one():
                connection.commit()
                if stop.wait(every_s):
                    yield False
                    return
            connection.commit()
            yield True
