"""Time-range replays: one tenant's events accepted in [from, to) sent through the router again.

Each lane partition is read from Kafka where Kafka still holds the whole range there (its
offsets-for-times give where the range starts and ends; ``connectors.kafka.lane_records.Span``),
else from the event archive in PostgreSQL (retention, or delete-records, took records of the range
out of the partition). Either way an event goes back to its lane with its key, so to the partition
it was accepted on, carrying a ``crmbus-replay`` header: the router routes it again past its
dedupe table. Its deliveries keep their deterministic ids, so a sink that delivered one
(``sink-finished``, for ``CRMBUS_SINK_FINISHED_TTL_S``) skips it and only what was not delivered
goes out. ``redeliver`` adds a ``crmbus-redeliver`` header naming the replay: the router then gives
the deliveries ids of their own, and the destinations get them again.

Other tenants' events in the same partitions are read and left alone. A replay is written to the
audit log once its records are acknowledged by Kafka (acks=all), with what it sent from where.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from connectors.kafka.lane_records import LaneRecord, Span, TimeRangeReader
from connectors.kafka.producer import Record
from infra.db.event_archive import ArchivedEventView, EventArchive, EventQuery
from schemas.codec import AvroCodec
from streams.dead_letter import REDELIVER, REPLAY
from streams.errors import PoisonMessageError, ProduceError

PAGE = 500


class PageProducer(Protocol):
    """What the engine needs of ``connectors.kafka.producer.AsyncProducer``."""

    def send_many(self, records: Sequence[Record]) -> Awaitable[list[ProduceError | None]]: ...


@dataclass(frozen=True, slots=True)
class EventRange:
    """What to replay: ``tenant_id``'s events accepted in [``start``, ``end``), of ``types`` (all
    when empty); ``redeliver`` delivers again what was delivered."""

    tenant_id: str
    start: datetime
    end: datetime
    types: frozenset[str] = frozenset()
    redeliver: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a replay's times need a time zone")
        if self.start >= self.end:
            raise ValueError("a replay's start comes before its end")


@dataclass(frozen=True, slots=True)
class EventReplayed:
    """A replay done: its id (the ``crmbus-replay`` header), and how many events went back from
    the lanes and from the archive (and which partitions the archive stood in for)."""

    id: uuid.UUID
    from_lanes: int
    from_archive: int
    archived_partitions: tuple[str, ...]


class EventReplayer:
    """Time-range replays acting for ``actor`` (the audit log says who)."""

    def __init__(
        self,
        archive: EventArchive,
        open_lanes: Callable[[], TimeRangeReader],
        producer: PageProducer,
        envelopes: dict[str, AvroCodec],
        *,
        page: int = PAGE,
    ) -> None:
        """``open_lanes`` makes a reader of the lanes (one per replay, closed at its end);
        ``envelopes``: the envelope codec of each lane topic, by topic."""
        self._archive, self._open_lanes, self._producer, self._envelopes = archive, open_lanes, producer, envelopes
        self._page = page

    async def replay(self, selection: EventRange) -> EventReplayed:
        """Replay ``selection``; returns once Kafka acknowledged every event sent and the audit log
        has the replay."""
        lanes = await asyncio.to_thread(self._open_lanes)
        try:
            return await self._replay(lanes, selection)
        finally:
            await asyncio.to_thread(lanes.close)

    async def _replay(self, lanes: TimeRangeReader, selection: EventRange) -> EventReplayed:
        replay_id = uuid.uuid4()
        headers = [(REPLAY, str(replay_id).encode())]
        if selection.redeliver:
            headers.append((REDELIVER, str(replay_id).encode()))
        start_ms, end_ms = _ms(selection.start), _ms(selection.end)
        spans = [
            span for topic in self._envelopes for span in await asyncio.to_thread(lanes.spans, topic, start_ms, end_ms)
        ]
        from_lanes = 0
        for span in (span for span in spans if span.whole):
            from_lanes += await self._from_lane(lanes, span, selection, headers, start_ms, end_ms)
        gone = frozenset((span.topic, span.partition) for span in spans if not span.whole)
        from_archive = await self._from_archive(gone, selection, headers) if gone else 0
        archived = tuple(f"{topic}[{partition}]" for topic, partition in sorted(gone))
        details = {
            "from": selection.start.isoformat(), "to": selection.end.isoformat(),
            "types": ",".join(sorted(selection.types)) or "*", "redeliver": str(selection.redeliver).lower(),
            "from_lanes": str(from_lanes), "from_archive": str(from_archive), "archived_partitions": " ".join(archived),
        }  # fmt: skip
        await asyncio.to_thread(self._archive.record_replay, selection.tenant_id, replay_id, details)
        return EventReplayed(replay_id, from_lanes, from_archive, archived)

    async def _from_lane(
        self,
        lanes: TimeRangeReader,
        span: Span,
        selection: EventRange,
        headers: list[tuple[str, bytes]],
        start_ms: int,
        end_ms: int,
    ) -> int:
        batches = lanes.read(span, self._page)
        sent = 0
        while (batch := await asyncio.to_thread(_next, batches)) is not None:
            chosen: list[Record] = [
                (record.topic, record.value, record.key, headers, None)
                for record in batch
                if start_ms <= record.timestamp_ms < end_ms and self._selected(record, selection)
            ]
            await self._send(chosen)
            sent += len(chosen)
        return sent

    def _selected(self, record: LaneRecord, selection: EventRange) -> bool:
        if record.key is None or record.key.decode("utf-8", "replace").partition(":")[0] != selection.tenant_id:
            return False
        if not selection.types:
            return True
        try:
            envelope = self._envelopes[record.topic].decode(record.value)
        except PoisonMessageError:
            return False
        return envelope["tenant_id"] == selection.tenant_id and envelope["type"] in selection.types

    async def _from_archive(
        self, places: frozenset[tuple[str, int]], selection: EventRange, headers: list[tuple[str, bytes]]
    ) -> int:
        query = EventQuery(selection.start, selection.end, types=selection.types, places=places)
        sent, after = 0, None
        while True:
            page = await asyncio.to_thread(
                self._archive.search, selection.tenant_id, query, after=after, limit=self._page
            )
            if not page:
                return sent
            await self._send([self._archived(view, headers) for view in page])
            sent += len(page)
            after = page[-1].position

    def _archived(self, view: ArchivedEventView, headers: list[tuple[str, bytes]]) -> Record:
        record: dict[str, Any] = dict(view.envelope)
        record["event_id"] = uuid.UUID(record["event_id"])
        for name in ("occurred_at", "received_at"):
            record[name] = datetime.fromisoformat(record[name])
        return (view.topic, self._envelopes[view.topic].encode(record), view.key, headers, None)

    async def _send(self, records: list[Record]) -> None:
        if not records:
            return
        failed = [error for error in await self._producer.send_many(records) if error is not None]
        if failed:
            raise ProduceError(
                f"Kafka did not acknowledge {len(failed)} replayed events ({failed[0].code}); replay the range again",
                retriable=True,
                code=failed[0].code,
            )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _next(batches: Iterator[list[LaneRecord]]) -> list[LaneRecord] | None:
    return next(batches, None)
