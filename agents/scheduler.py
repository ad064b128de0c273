"""Delayed actions (the feedback request two hours after a service): held in Kafka, released when due.

The router writes a delayed delivery to ``crmbus.scheduled``. The scheduler agent stores each
one in a changelog-backed table keyed by delivery id, on the changelog partition of the record it
came from, then acknowledges the record; from then on the table is the truth, restored on
whichever worker owns the partition after a kill or a rebalance. Every ``scheduler_tick_s`` the
worker releases what is due to its ``crmbus.deliver.<destination>`` topic and, once Kafka
acknowledged it, deletes the entry. Nothing fires early: due times are compared with the wall
clock. A crash between release and delete releases again under the same delivery id, which the
sink's idempotency absorbs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime

from agents.outputs import FatalOutputError, Output, OutputWriter, dead_letter
from agents.records import Consumed
from agents.runtime.partitioned_table import PartitionedTable
from infra.core.metrics import DEAD_LETTERS, SCHEDULED_LATENESS, SCHEDULED_PENDING, SCHEDULED_RELEASED
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams.dead_letter import dead_letter_headers
from streams.due_index import DueEntry, DueIndex, Pending
from streams.errors import PoisonMessageError

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        *,
        table: PartitionedTable,
        deliveries: AvroCodec,
        topics: TopicNames,
        writer: OutputWriter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table, self._deliveries, self._topics, self._writer = table, deliveries, topics, writer
        self._clock = clock
        self._index = DueIndex()

    async def handle(self, batch: Sequence[Consumed]) -> None:
        """Hold each delayed action of ``batch`` (release at once what is already due)."""
        now = self._clock()
        due_now: list[Output] = []
        letters: list[Output] = []
        held: list[Output] = []
        for record in batch:
            try:
                delivery = self._deliveries.decode(record.value)
                due = delivery["not_before"].timestamp() if delivery["not_before"] is not None else now
                topic = self._topics.deliver(delivery["destination"])
            except (PoisonMessageError, KeyError, AttributeError) as error:
                DEAD_LETTERS.labels(stage="scheduler.decode", error_class=type(error).__name__).inc()
                headers = dead_letter_headers(
                    record.origin, error, datetime.fromtimestamp(now, UTC), stage="scheduler.decode"
                )
                letters.append(dead_letter(self._topics.dlq, record, headers))
                continue
            if due <= now:
                due_now.append(Output(topic, record.key, record.value))
                continue
            key = delivery["delivery_id"].encode()
            assert record.value is not None  # it decoded: not a tombstone
            pending = Pending(due, record.origin.partition, topic, record.key or b"", record.value)
            held.append(self._table.put(pending.partition, key, pending.pack()))
            self._index.add(DueEntry(due, key, pending.partition))
        if await self._writer.write(due_now + letters + held):
            raise FatalOutputError("Kafka refused a released delayed action or its DLQ copy")
        SCHEDULED_PENDING.set(len(self._table))

    def rebuild(self) -> None:
        """Index every held action anew (after a rebalance restored the table)."""
        entries = []
        for key, packed in self._table.items():
            pending = Pending.unpack(packed)
            entries.append(DueEntry(pending.due, key, pending.partition))
        self._index = DueIndex(entries)
        SCHEDULED_PENDING.set(len(entries))
        log.info("scheduler index rebuilt", extra={"pending": len(entries)})

    async def release_due(self, partitions: Collection[int]) -> int:
        """Release the actions due now on ``partitions``; returns how many."""
        now = self._clock()
        released: list[tuple[DueEntry, Pending]] = []
        for entry in self._index.pop_due(now, partitions):
            packed = self._table.get(entry.key)
            if packed is not None:
                released.append((entry, Pending.unpack(packed)))
        if not released:
            return 0
        outputs: list[Output] = [Output(pending.topic, pending.key or None, pending.value) for _, pending in released]
        if await self._writer.write(outputs):
            raise FatalOutputError("Kafka refused a released delayed action")
        deletions = [self._table.delete(entry.partition, entry.key) for entry, _ in released]
        if await self._writer.write(deletions):
            raise FatalOutputError("Kafka refused a scheduler changelog record")
        for _, pending in released:
            SCHEDULED_LATENESS.observe(max(0.0, now - pending.due))
        SCHEDULED_RELEASED.inc(len(released))
        SCHEDULED_PENDING.set(len(self._table))
        return len(released)
