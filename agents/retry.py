"""The retry agent: deliveries wait in their tier topic until due, then go back to their destination.

Each tier topic has one fixed delay (``crmbus.retry.5s`` … ``crmbus.retry.6h``), so records arrive
in roughly the order they fall due: the agent takes a batch, releases each record once its
``not_before`` has passed (to ``crmbus.deliver.<destination>``, the record unchanged: its attempt
count and first failure travel with it), and sleeps until the next is due. While it sleeps, the
tier's partitions are paused (``hold``), so Faust does not fill the agent's buffer meanwhile — a
full buffer would stall every agent of the process. Nothing waits in memory beyond one batch,
and a batch is acknowledged only after all of it was released and acknowledged by Kafka, so a
crash releases again (absorbed by delivery ids), never loses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from agents.outputs import FatalOutputError, Output, OutputWriter, dead_letter
from agents.records import Consumed
from infra.core.metrics import DEAD_LETTERS, RETRIES_RELEASED
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams.dead_letter import dead_letter_headers
from streams.errors import PoisonMessageError

_HOLD_AFTER_S = 0.5  # shorter waits are not worth pausing for


class RetryReleaser:
    def __init__(
        self,
        *,
        tier: str,
        deliveries: Callable[[str], AvroCodec],
        topics: TopicNames,
        writer: OutputWriter,
        hold: Callable[[], None] = lambda: None,
        resume: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tier, self._codec_for, self._topics, self._writer, self._clock = tier, deliveries, topics, writer, clock
        self._hold, self._resume = hold, resume

    async def handle(self, batch: Sequence[Consumed]) -> None:
        waiting: list[tuple[float, int, Output]] = []
        letters: list[Output] = []
        for index, record in enumerate(batch):
            try:
                delivery = self._codec_for(record.origin.topic).decode(record.value)
                due = delivery["not_before"].timestamp() if delivery["not_before"] is not None else 0.0
                topic = self._topics.deliver(delivery["destination"])
            except (PoisonMessageError, KeyError, AttributeError) as error:
                DEAD_LETTERS.labels(stage="retry.decode", error_class=type(error).__name__).inc()
                failed_at = datetime.fromtimestamp(self._clock(), UTC)
                headers = dead_letter_headers(record.origin, error, failed_at, stage="retry.decode")
                letters.append(dead_letter(self._topics.dlq, record, headers))
                continue
            waiting.append((due, index, Output(topic, record.key, record.value)))
        await self._write(letters)
        waiting.sort(key=lambda item: (item[0], item[1]))
        held = False
        try:
            while waiting:
                wait = waiting[0][0] - self._clock()
                if wait > _HOLD_AFTER_S and not held:
                    self._hold()
                    held = True
                if wait > 0:
                    await asyncio.sleep(wait)
                now = self._clock()
                due = [output for when, _, output in waiting if when <= now]
                waiting = waiting[len(due) :]
                await self._write(due)
                RETRIES_RELEASED.labels(tier=self._tier).inc(len(due))
        finally:
            if held:
                self._resume()

    async def _write(self, outputs: list[Output]) -> None:
        if outputs and await self._writer.write(outputs):
            raise FatalOutputError("Kafka refused a released retry")
