"""Delivery records as the router writes them, from an event and a planned delivery: one
encoder for every writer of ``crmbus.deliver.<kind>`` (the router, the sync jobs), so a delivery
looks the same to the sinks whoever made it. Free of Faust: the CLI's commands load it."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from schemas.codec import AvroCodec
from streams.envelope import Envelope
from streams.routes import PlannedDelivery


class DeliveryEncoder:
    """Delivery records in Avro, one codec (and so one subject) per topic."""

    def __init__(self, make_codec: Callable[[str], AvroCodec]) -> None:
        self._make_codec = make_codec
        self._codecs: dict[str, AvroCodec] = {}

    def encode(self, topic: str, envelope: Envelope, planned: PlannedDelivery) -> bytes:
        codec = self._codecs.get(topic)
        if codec is None:
            codec = self._codecs[topic] = self._make_codec(topic)
        route = planned.route
        return codec.encode(
            {
                "delivery_id": planned.delivery_id,
                "event_id": envelope.event_id,
                "tenant_id": envelope.tenant_id,
                "event_type": envelope.type,
                "destination": route.destination,
                "route_id": route.id,
                "action": route.action,
                "payload": orjson.dumps(planned.payload).decode(),
                "attempt": 0,
                "first_failure_at": None,
                "not_before": planned.not_before,
                "correlation_id": envelope.correlation_id,
                "ordering_key": envelope.ordering_key,
                # A delayed action's clock starts when it falls due, not when its event came in.
                "ready_at": max(envelope.received_at, planned.not_before or envelope.received_at),
            }
        )
