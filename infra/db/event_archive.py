"""The event archive (``event_archive``): every accepted event as the lanes held it, sealed, for
search, time-range replays past Kafka's retention, and data subjects' requests.

Rows are written in batches by the archive role's event archiver, idempotently (a record read
twice is the same row: its primary key is the event id and the lane record's timestamp). The
record (its key and the decoded envelope, payload included) is sealed with the secret box;
the clear columns name no person (``entity_id`` is a digest when the type marks its entity key
personal; ``subjects`` holds keyed digests). A caller acts for one tenant; another tenant's
events are never found.

The table is range-partitioned by day on ``accepted_at``; the retention job
(``infra.db.partitions``) makes the days ahead and drops expired ones, and rows of a day without
its partition land in ``event_archive_default`` until that day's partition is made.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, literal, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from infra.core.secret_box import SecretBox
from infra.db.audit import audit
from infra.db.errors import translated
from infra.db.models import ArchivedEvent


@dataclass(frozen=True, slots=True)
class EventToArchive:
    """One lane record to archive: where it was read, its key, its envelope decoded (the Avro
    record: ``event_id`` a UUID, times as datetimes, ``payload`` JSON text), and the clear columns
    computed from it."""

    topic: str
    partition: int
    offset: int
    accepted_at: datetime
    lane: str
    key: bytes | None
    envelope: dict[str, Any]
    entity_id: str | None
    subjects: Sequence[str]


@dataclass(frozen=True, slots=True)
class ArchivedEventView:
    """One archived event, opened: ``envelope`` in JSON form (payload still JSON text)."""

    event_id: uuid.UUID
    tenant_id: str
    event_type: str
    entity_id: str | None
    lane: str
    topic: str
    partition: int
    offset: int
    accepted_at: datetime
    key: bytes | None
    envelope: dict[str, Any]

    @property
    def position(self) -> str:
        """The cursor of the page that ends with this event."""
        return f"{self.accepted_at.isoformat()}|{self.event_id}"


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which events: a tenant's, accepted in [start, end), of some types, of one entity, and (for a
    replay of partitions past Kafka's retention) read from some lane partitions."""

    start: datetime
    end: datetime
    types: frozenset[str] = frozenset()
    entity_id: str | None = None
    places: frozenset[tuple[str, int]] | None = None


def _blob(key: bytes | None, envelope: dict[str, Any]) -> bytes:
    clear = {
        name: (
            str(value) if isinstance(value, uuid.UUID) else value.isoformat() if isinstance(value, datetime) else value
        )
        for name, value in envelope.items()
    }
    return json.dumps({"key": key.decode() if key is not None else None, "envelope": clear}).encode()


def _clear(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    return value.isoformat() if isinstance(value, datetime) else value


def _unblob(blob: bytes) -> tuple[bytes | None, dict[str, Any]]:
    opened = json.loads(blob)
    key = opened["key"]
    return (key.encode() if key is not None else None), opened["envelope"]


def parse_position(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (accepted at, event id) a ``position`` names; ValueError when it names none."""
    at, _, event_id = cursor.partition("|")
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        raise ValueError("a cursor's time has a zone")
    return moment, uuid.UUID(event_id)


class EventArchive:
    name = "event_archive"

    def __init__(self, engine: Engine, box: SecretBox, actor: str = "archive") -> None:
        self._engine, self._box, self._actor = engine, box, actor

    @translated("archiving events")
    def store(self, events: Sequence[EventToArchive]) -> int:
        """Archive ``events``; returns how many were new (those archived before are left as they are)."""
        if not events:
            return 0
        rows = [
            {
                "event_id": uuid.UUID(str(event.envelope["event_id"])),
                "accepted_at": event.accepted_at,
                "tenant_id": event.envelope["tenant_id"],
                "event_type": event.envelope["type"],
                "entity_id": event.entity_id,
                "lane": event.lane,
                "topic": event.topic,
                "partition": event.partition,
                "offset": event.offset,
                "record": self._box.seal(_blob(event.key, event.envelope)),
                "subjects": list(event.subjects),
            }
            for event in events
        ]
        # One statement compiled once, sent as multi-row inserts (SQLAlchemy's "insertmanyvalues",
        # 1,000 rows a statement, within PostgreSQL's 65,535 parameters): compiling one VALUES
        # clause per batch cost more CPU than the rest of archiving an event.
        statement = (
            insert(ArchivedEvent)
            .on_conflict_do_nothing(index_elements=["event_id", "accepted_at"])
            .returning(ArchivedEvent.event_id)
        )
        with self._engine.begin() as connection:
            inserted = len(connection.execute(statement, rows).all())
        return inserted

    @translated("searching the event archive")
    def search(
        self, tenant_id: str, query: EventQuery, *, after: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[ArchivedEventView]:
        """``tenant_id``'s events that ``query`` selects, oldest first, after the cursor ``after``
        (a ``position``; ValueError when it is not one), skipping ``offset`` of them."""
        conditions = self._conditions(tenant_id, query)
        if after is not None:
            at, event_id = parse_position(after)
            conditions.append(
                tuple_(ArchivedEvent.accepted_at, ArchivedEvent.event_id) > tuple_(literal(at), literal(event_id))
            )
        statement = (
            select(ArchivedEvent)
            .where(*conditions)
            .order_by(ArchivedEvent.accepted_at, ArchivedEvent.event_id)
            .offset(offset)
            .limit(limit)
        )
        with Session(self._engine) as session:
            return [self._view(row) for row in session.scalars(statement)]

    def _conditions(self, tenant_id: str, query: EventQuery) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [
            ArchivedEvent.tenant_id == tenant_id,
            ArchivedEvent.accepted_at >= query.start,
            ArchivedEvent.accepted_at < query.end,
        ]
        if query.types:
            conditions.append(ArchivedEvent.event_type.in_(sorted(query.types)))
        if query.entity_id is not None:
            # Stored as the type's ordering key keeps it: a digest when personal or long.
            digest = hashlib.sha256(query.entity_id.encode()).hexdigest()[:32]
            conditions.append(ArchivedEvent.entity_id.in_([query.entity_id, digest]))
        if query.places is not None:
            places = [
                and_(ArchivedEvent.topic == topic, ArchivedEvent.partition == partition)
                for topic, partition in sorted(query.places)
            ]
            conditions.append(or_(*places) if places else ArchivedEvent.tenant_id != tenant_id)
        return conditions

    def _view(self, row: ArchivedEvent) -> ArchivedEventView:
        key, envelope = _unblob(self._box.open(row.record))
        return ArchivedEventView(
            event_id=row.event_id, tenant_id=row.tenant_id, event_type=row.event_type, entity_id=row.entity_id,
            lane=row.lane, topic=row.topic, partition=row.partition, offset=row.offset,
            accepted_at=row.accepted_at, key=key, envelope=envelope,
        )  # fmt: skip

    @translated("recording an event replay")
    def record_replay(self, tenant_id: str, replay_id: uuid.UUID, details: dict[str, str]) -> None:
        """Write a time-range replay of ``tenant_id``'s events to the audit log."""
        with Session(self._engine) as session, session.begin():
            audit(
                session, actor=self._actor, tenant_id=tenant_id, action="events.replay", target_type="replay",
                target_id=str(replay_id), details=details,
            )  # fmt: skip

    @translated("exporting a data subject's archived events")
    def export_subject(self, tenant_id: str, digests: Sequence[str]) -> list[dict[str, Any]]:
        """Every archived event of ``tenant_id`` about any of the subjects ``digests`` name, opened."""
        statement = (
            select(ArchivedEvent)
            .where(ArchivedEvent.tenant_id == tenant_id, ArchivedEvent.subjects.overlap(list(digests)))
            .order_by(ArchivedEvent.accepted_at, ArchivedEvent.event_id)
        )
        with Session(self._engine) as session:
            views = [self._view(row) for row in session.scalars(statement)]
        return [
            {
                "table": "event_archive",
                "event_id": str(view.event_id),
                "type": view.event_type,
                "accepted_at": view.accepted_at.isoformat(),
                "envelope": view.envelope | {"payload": json.loads(view.envelope["payload"])},
            }
            for view in views
        ]

    @translated("erasing a data subject's archived events")
    def erase_subject(self, tenant_id: str, digests: Sequence[str]) -> int:
        """Delete ``tenant_id``'s archived events about any of the subjects ``digests`` name."""
        with Session(self._engine) as session, session.begin():
            erased = session.execute(
                delete(ArchivedEvent)
                .where(ArchivedEvent.tenant_id == tenant_id, ArchivedEvent.subjects.overlap(list(digests)))
                .returning(ArchivedEvent.event_id)
            ).all()
        return len(erased)
