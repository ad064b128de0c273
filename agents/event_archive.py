"""The event archiver: every accepted event into PostgreSQL's ``event_archive``, in batches.

It runs in the processes holding the ``archive`` role, but outside the Faust app: a consumer
group of its own on the lanes (``<prefix>crmbus-event-archive``, ``connectors.kafka.lane_records``).
The router reads the lanes in the workers' group; an agent of the same app on the same topics
would share the router's fetches and buffers, so a slow PostgreSQL would hold the routing back,
and with the roles in separate processes the lanes' partitions would be split between the
router's and the archive's processes of one group. With its own group the archive reads at its
own pace, commits its own offsets, and only lags when PostgreSQL is away.

Each batch is decoded, turned into rows (``EventToArchive``: the type's entity id, a digest when
its entity key is personal, and the keyed digests of the subjects in the payload), written in one
transaction, then committed to Kafka: at least once, and a row written twice is one row.
Records a replay sent back to the lanes (``crmbus-replay`` header) are not new acceptances and
are skipped; undecodable ones too (the router dead-letters them).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.kafka.lane_records import GroupReader, LaneRecord
from infra.core.live_catalogue import LiveCatalogue
from infra.core.subject_index import SubjectIndex
from infra.db.errors import error_name
from infra.db.event_archive import EventArchive, EventToArchive
from schemas.codec import AvroCodec
from streams.dead_letter import REPLAY, header
from streams.errors import PoisonMessageError, ServiceUnreachableError, StoreError, StoreRefusedError
from streams.subjects import subjects_in

log = logging.getLogger(__name__)

_BACKOFF_FIRST_S, _BACKOFF_MAX_S = 0.5, 30.0


class EventArchiver:
    def __init__(
        self,
        *,
        open_reader: Callable[[], GroupReader],
        archive: EventArchive,
        envelopes: AvroCodec,
        types: LiveCatalogue,
        subjects: SubjectIndex,
        lanes: Mapping[str, str],
        max_records: int,
        wait_s: float,
    ) -> None:
        """``lanes`` maps each lane's topic to its lane's name."""
        self._open_reader, self._archive, self._envelopes = open_reader, archive, envelopes
        self._types, self._subjects, self._lanes = types, subjects, lanes
        self._max_records, self._wait_s = max_records, wait_s

    async def run(self) -> None:
        """Archive until cancelled; the consumer leaves its group once a read under way ended."""
        reader = await asyncio.to_thread(self._open_reader)
        pending: asyncio.Future[list[LaneRecord]] | None = None
        try:
            while True:
                pending = asyncio.ensure_future(asyncio.to_thread(reader.read, self._max_records, self._wait_s))
                try:
                    records = await asyncio.shield(pending)
                except ServiceUnreachableError as exc:
                    log.warning("event archive read failed: %s", exc)
                    await asyncio.sleep(_BACKOFF_FIRST_S)
                    continue
                if records:
                    await self.handle(records)
                    try:
                        await asyncio.to_thread(reader.commit, records)
                    except ServiceUnreachableError as exc:  # read again by the partitions' next owner
                        log.warning("event archive offsets not committed: %s", exc)
        finally:
            if pending is not None and not pending.done():
                await asyncio.wait([pending])
            await asyncio.to_thread(reader.close)

    async def handle(self, records: Sequence[LaneRecord]) -> None:
        """Archive ``records``; returns once PostgreSQL has them (or refused them for good)."""
        decoded = [(record, envelope) for record in records if (envelope := self._decode(record)) is not None]
        catalogue = self._types.current
        if any(catalogue.get(e["tenant_id"], e["type"], e.get("schema_version") or 1) is None for _, e in decoded):
            await self._types.refresh_for_unknown()
        events = [self._event(record, envelope) for record, envelope in decoded]
        await self._write(events)

    def _decode(self, record: LaneRecord) -> dict[str, Any] | None:
        if header(record.headers, REPLAY) is not None:
            return None
        try:
            return self._envelopes.decode(record.value)
        except PoisonMessageError:
            return None

    def _event(self, record: LaneRecord, envelope: dict[str, Any]) -> EventToArchive:
        event_type = self._types.current.get(
            envelope["tenant_id"], envelope["type"], envelope.get("schema_version") or 1
        )
        try:
            payload = json.loads(envelope["payload"])
        except ValueError:
            payload = {}
        entity = event_type.entity_value(payload) if event_type is not None and isinstance(payload, dict) else None
        personal = event_type.personal_data if event_type is not None else ()
        return EventToArchive(
            topic=record.topic, partition=record.partition, offset=record.offset,
            accepted_at=datetime.fromtimestamp(record.timestamp_ms / 1000, UTC),
            lane=self._lanes.get(record.topic, "default"), key=record.key, envelope=envelope,
            entity_id=entity.partition(":")[2] if entity is not None else None,
            subjects=self._subjects.digests(subjects_in(payload, personal)),
        )  # fmt: skip

    async def _write(self, events: list[EventToArchive]) -> None:
        backoff = _BACKOFF_FIRST_S
        while True:
            try:
                await asyncio.to_thread(self._archive.store, events)
                return
            except StoreRefusedError as exc:
                # Rows PostgreSQL can never take: Kafka keeps the events for its retention.
                log.error("event archive batch refused by PostgreSQL, skipped: %s", error_name(exc))
                return
            except (ServiceUnreachableError, StoreError) as exc:
                log.warning("event archive batch not written, retrying in %.1f s: %s", backoff, error_name(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
