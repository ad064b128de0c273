"""Write accepted envelopes to their type's lane, keyed as their tenant's partitioning says
(``streams.partitioning``), and wait for Kafka's acknowledgement."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

from connectors.kafka.producer import AsyncProducer, Delivered
from infra.core.live_catalogue import LiveCatalogue
from infra.core.metrics import INGRESS_ACCEPTED, PRODUCE_LATENCY
from schemas.codec import AvroCodec
from streams.envelope import Envelope
from streams.errors import ProduceError
from streams.lanes import Lanes
from streams.partitioning import Partitioning, record_key


class EventPublisher:
    def __init__(self, producer: AsyncProducer, codec: AvroCodec, lanes: Lanes, types: LiveCatalogue) -> None:
        self.producer, self.codec, self.lanes, self.types = producer, codec, lanes, types

    async def publish(self, events: Sequence[Envelope], partitioning: Partitioning) -> list[Delivered | ProduceError]:
        """One result per event, in order: where it was stored, or why it was not. ``partitioning``
        is that of the events' tenant (the caller's credential carries it).

        Every record gets exactly one delivery report from librdkafka, at the latest after
        ``message.timeout.ms`` (CRMBUS_KAFKA_DELIVERY_TIMEOUT_S): awaiting each is bounded.
        """
        started = time.monotonic()
        pending: list[asyncio.Future[Delivered] | ProduceError] = []
        catalogue = self.types.current
        for event in events:
            try:
                lane = catalogue.lane(event.tenant_id, event.type, event.schema_version)
                topic = self.lanes.topic_for(event.type, lane)
                key = record_key(event.tenant_id, event.ordering_key, partitioning)
                pending.append(self.producer.send(topic, self.codec.encode(event.to_record()), key))
            except ProduceError as exc:
                pending.append(exc)
        results: list[Delivered | ProduceError] = []
        accepted: Counter[tuple[str, str]] = Counter()
        for event, item in zip(events, pending, strict=True):
            if isinstance(item, ProduceError):
                results.append(item)
                continue
            try:
                delivered = await item
            except ProduceError as exc:
                results.append(exc)
                continue
            results.append(delivered)
            accepted[(delivered.topic, event.source)] += 1
        for (lane, source), count in accepted.items():  # one metric update per lane, not per event
            INGRESS_ACCEPTED.child(lane, source).inc(count)
        PRODUCE_LATENCY.observe(time.monotonic() - started)
        return results
