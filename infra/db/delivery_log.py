"""The delivery history in PostgreSQL: the router's decision for each event (``event_status``),
every attempt (``webhook_deliveries``) and the DLQ archive (``dead_letter``), written in batches
by the archive agent.

Writes are idempotent — a decision is unique by event id and time (a replayed event is decided
again, later: the latest decision is the event's), an attempt by (delivery id, attempt, time: a
replayed delivery counts its attempts from 1 again, at other times), a DLQ record by its original
topic, partition, offset and failure time — so a batch archived twice (a crash between the
insert and the offset commit) leaves one row each. Each key holds its table's time column, by
which the table is partitioned (``infra.db.partitions``).

A dead letter's value (the failed record, with its payload's personal data) is sealed by the
secret box before it is written; the archive agent gives each letter the digests of the people it
is about (``subjects``). The log is also a store of LGPD subject rights (``infra.db.subject_stores``):
its rows hold no identifier, so it exports and erases a person's rows by their events' ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects.postgresql import insert

from infra.core.secret_box import SecretBox
from infra.db.errors import translated
from infra.db.models import DeadLetter, EventStatus, WebhookDelivery
from streams.errors import ConfigurationError
from streams.event_status import RoutingDecision

_ATTEMPTS = insert(WebhookDelivery).on_conflict_do_nothing(index_elements=["delivery_id", "attempt", "created_at"])
_DECISIONS = insert(EventStatus).on_conflict_do_nothing(index_elements=["event_id", "decided_at"])
_DEAD_LETTERS = insert(DeadLetter).on_conflict_do_nothing(
    index_elements=["original_topic", "original_partition", "original_offset", "created_at"]
)


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One attempt at delivering an event, as its producer may see it."""

    delivery_id: str
    destination: str
    attempt: int
    status: str
    status_code: int | None
    event_type: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliverySearch:
    """Which deliveries of a tenant an operator looks for; ``None`` matches anything. A delivery
    matches when one of its attempts does (``status`` is an attempt's: a delivery retried and then
    delivered matches both ``retrying`` and ``delivered``); ``since`` included, ``until`` not."""

    event_id: uuid.UUID | None = None
    destination: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One delivery and each of its attempts, the oldest first; ``position`` orders the listing."""

    delivery_id: str
    event_id: uuid.UUID
    event_type: str
    destination: str
    attempts: list[DeliveryAttempt]
    position: int


@dataclass(frozen=True, slots=True)
class EventHistory:
    """What became of one event so far: the router's decision (None before it is archived) and
    the delivery attempts, the oldest first."""

    event_type: str | None
    decision: RoutingDecision | None
    attempts: list[DeliveryAttempt]


class DeliveryLog:
    name = "delivery_log"

    def __init__(self, engine: Engine, box: SecretBox | None = None) -> None:
        """``box`` seals the dead letters' values; a log without one reads and writes only attempts
        and decisions."""
        self.engine, self._box = engine, box

    @translated("archiving deliveries")
    def record(
        self,
        attempts: Sequence[Mapping[str, Any]],
        dead_letters: Sequence[Mapping[str, Any]],
        decisions: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Insert rows of ``webhook_deliveries``, ``dead_letter`` and ``event_status``, skipping
        those already there."""
        # Parameters apart from the statement (executemany): SQLAlchemy compiles it once and caches
        # it, and still sends multi-row VALUES ("insertmanyvalues"). A statement carrying the rows
        # in .values([...]) was compiled afresh for every batch: most of the archive's CPU.
        with self.engine.begin() as connection:
            if attempts:
                connection.execute(_ATTEMPTS, list(attempts))
            if dead_letters:
                connection.execute(_DEAD_LETTERS, [self._sealed(row) for row in dead_letters])
            if decisions:
                connection.execute(_DECISIONS, list(decisions))

    def _sealed(self, row: Mapping[str, Any]) -> dict[str, Any]:
        if self._box is None:
            raise ConfigurationError("a delivery log without the secret box cannot archive dead letters")
        value = row.get("value")
        return {**row, "value": self._box.seal(value) if value is not None else None, "value_sealed": True}

    @translated("exporting an event's deliveries")
    def export_events(self, tenant_id: str, event_ids: Collection[uuid.UUID]) -> list[dict[str, Any]]:
        """The decisions on and the attempts at delivering ``tenant_id``'s events ``event_ids``, as JSON."""
        if not event_ids:
            return []
        ids = sorted(event_ids)
        with self.engine.connect() as connection:
            decided = connection.execute(
                select(EventStatus.__table__).where(EventStatus.tenant_id == tenant_id, EventStatus.event_id.in_(ids))
            ).mappings()
            found = [{"table": "event_status", **json_values(dict(row))} for row in decided]
            attempts = connection.execute(
                select(WebhookDelivery.__table__)
                .where(WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.event_id.in_(ids))
                .order_by(WebhookDelivery.id)
            ).mappings()
            return found + [{"table": "webhook_deliveries", **json_values(dict(row))} for row in attempts]

    @translated("erasing an event's deliveries")
    def erase_events(self, tenant_id: str, event_ids: Collection[uuid.UUID]) -> int:
        """Delete the decisions on and the attempts at delivering ``tenant_id``'s events ``event_ids``."""
        if not event_ids:
            return 0
        ids = sorted(event_ids)
        with self.engine.begin() as connection:
            gone = connection.execute(
                delete(EventStatus).where(EventStatus.tenant_id == tenant_id, EventStatus.event_id.in_(ids))
            ).rowcount
            gone += connection.execute(
                delete(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.event_id.in_(ids))
            ).rowcount
            return int(gone)

    @translated("reading an event's history")
    def history(self, event_id: uuid.UUID, tenant_id: str) -> EventHistory:
        """The decision on and every attempt at delivering ``tenant_id``'s event ``event_id``;
        nothing for another tenant's event."""
        decided = select(
            EventStatus.event_type, EventStatus.decision, EventStatus.planned, EventStatus.failed_routes,
            EventStatus.decided_at,
        ).where(EventStatus.event_id == event_id, EventStatus.tenant_id == tenant_id).order_by(
            EventStatus.decided_at.desc()
        ).limit(1)  # fmt: skip
        attempts = WebhookDelivery
        query = (
            select(
                attempts.delivery_id, attempts.destination, attempts.attempt, attempts.status,
                attempts.status_code, attempts.event_type, attempts.created_at,
            )
            .where(attempts.event_id == event_id, attempts.tenant_id == tenant_id)
            .order_by(attempts.created_at)
        )  # fmt: skip
        with self.engine.connect() as connection:
            decision = connection.execute(decided).one_or_none()
            found = [DeliveryAttempt(*row) for row in connection.execute(query)]
        if decision is None:
            return EventHistory(found[0].event_type if found else None, None, found)
        event_type, *facts = decision
        return EventHistory(event_type, RoutingDecision(*facts), found)

    @translated("counting open DLQ records")
    def open_dead_letters(self) -> int:
        """DLQ records archived and neither replayed nor discarded: the DLQ's depth."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).where(DeadLetter.status == "open")).scalar_one())

    @translated("searching deliveries")
    def search(
        self, tenant_id: str, search: DeliverySearch, *, after: int | None = None, limit: int = 50
    ) -> list[DeliveryView]:
        """Up to ``limit`` of ``tenant_id``'s deliveries that ``search`` selects, in the order of
        their first matching attempt, after the one at ``after`` (a ``position``: the cursor)."""
        rows = WebhookDelivery
        where = [rows.tenant_id == tenant_id]
        if search.event_id is not None:
            where.append(rows.event_id == search.event_id)
        if search.destination is not None:
            where.append(rows.destination == search.destination)
        if search.status is not None:
            where.append(rows.status == search.status)
        if search.since is not None:
            where.append(rows.created_at >= search.since)
        if search.until is not None:
            where.append(rows.created_at < search.until)
        first = func.min(rows.id)
        page = select(rows.delivery_id, first).where(*where).group_by(rows.delivery_id).order_by(first).limit(limit)
        if after is not None:
            page = page.having(first > after)
        with self.engine.connect() as connection:
            positions = dict(connection.execute(page).tuples().all())
            attempts = connection.execute(
                select(rows.delivery_id, rows.destination, rows.attempt, rows.status, rows.status_code,
                       rows.event_type, rows.created_at, rows.event_id)
                .where(rows.tenant_id == tenant_id, rows.delivery_id.in_(list(positions)))
                .order_by(rows.id)
            ).all()  # fmt: skip
        grouped: dict[str, list[Any]] = {delivery_id: [] for delivery_id in positions}
        for row in attempts:
            grouped[row.delivery_id].append(row)
        return [
            DeliveryView(
                delivery_id,
                found[0].event_id,
                found[0].event_type,
                found[0].destination,
                [DeliveryAttempt(*row[:7]) for row in found],
                positions[delivery_id],
            )
            for delivery_id, found in sorted(grouped.items(), key=lambda item: positions[item[0]])
            if found
        ]


def json_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON values: times in ISO-8601, ids as text."""
    return {name: _json_value(value) for name, value in row.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, uuid.UUID) else value
