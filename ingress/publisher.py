"""Write accepted envelopes to their lane, keyed by tenant, and wait for Kafka's acknowledgement."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

from connectors.kafka_producer import AsyncProducer, Delivered
from infra.metrics import INGRESS_ACCEPTED, PRODUCE_LATENCY
from schemas.codec import AvroCodec
from streams.envelope import Envelope
from streams.errors import ProduceError
from streams.lanes import Lanes


class EventPublisher:
    def __init__(self, producer: AsyncProducer, codec: AvroCodec, lanes: Lanes, timeout_s: float) -> None:
        self.producer, self.codec, self.lanes = producer, codec, lanes
        # The producer fails a record itself after message.timeout.ms; this guard only
        # covers a producer that stopped answering altogether.
        self._guard_s = timeout_s + 2.0

    async def publish(self, events: Sequence[Envelope]) -> list[Delivered | ProduceError]:
        """One result per event, in order: where it was stored, or why it was not."""
        started = time.monotonic()
        pending: list[asyncio.Future[Delivered] | ProduceError] = []
        for event in events:
            try:
                pending.append(
                    self.producer.send(
                        self.lanes.topic_for(event.type),
                        self.codec.encode(event.to_record()),
                        key=event.tenant_id.encode(),
                    )
                )
            except ProduceError as exc:
                pending.append(exc)
        futures = [p for p in pending if isinstance(p, asyncio.Future)]
        if futures:
            await asyncio.wait(futures, timeout=self._guard_s)
        results: list[Delivered | ProduceError] = []
        accepted: Counter[tuple[str, str]] = Counter()
        for event, item in zip(events, pending, strict=True):
            if isinstance(item, ProduceError):
                results.append(item)
            elif not item.done():
                item.cancel()
                results.append(ProduceError("no acknowledgement from Kafka in time", retriable=True, code="TIMEOUT"))
            elif item.exception() is not None:
                error = item.exception()
                results.append(error if isinstance(error, ProduceError) else ProduceError(str(error), retriable=True))
            else:
                results.append(item.result())
                accepted[(item.result().topic, event.source)] += 1
        for (lane, source), count in accepted.items():  # one metric update per lane, not per event
            INGRESS_ACCEPTED.labels(lane=lane, source=source).inc(count)
        PRODUCE_LATENCY.observe(time.monotonic() - started)
        return results
