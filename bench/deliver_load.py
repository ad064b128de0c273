"""The deliver bench's input: the Delivery records the router makes for a consenting lead.

Templates come from the project's own routing code (``streams.routes.fan_out`` over the
tenant's enabled routes from PostgreSQL, encoded by the router's ``DeliveryEncoder``), so the
records the bench writes straight into ``crmbus.deliver.<destination>`` are byte for byte what
the router would have written. Each event only gets its own event id and delivery ids spliced
into the template (UUID strings have a fixed length), which keeps the generator at a few
microseconds per record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import KafkaError, Message, Producer

from agents.delivery_records import DeliveryEncoder
from bench.deliver_receipts import Due
from bench.fanout import EventIds
from bench.lane_load import LEAD
from connectors.kafka.producer import producer_config
from connectors.kafka.schema_registry import schema_ids
from schemas.avro_schemas import load_schema
from schemas.codec import AvroCodec
from schemas.event_types import built_in_catalogue
from streams.envelope import Envelope
from streams.routes import Route, delivery_id, fan_out

DELIVER = "crmbus.deliver."


@dataclass(frozen=True, slots=True)
class DeliveryTemplate:
    """One tenant's encoded Delivery for one route, with the ids to replace per event."""

    destination: str
    route_id: str
    key: bytes
    value: bytes
    event_id: bytes
    delivery_id: bytes

    def with_event(self, event_id: str) -> tuple[str, bytes]:
        """The delivery id and the record of this route for ``event_id``."""
        new_id = delivery_id(event_id, self.route_id)
        value = self.value.replace(self.delivery_id, new_id.encode()).replace(self.event_id, event_id.encode())
        return new_id, value


def templates(
    tenant: str, routes: Sequence[Route], registry_url: str | None, prefix: str, destinations: Sequence[str]
) -> list[DeliveryTemplate]:
    """The Delivery records of a ``lead.created`` of ``tenant`` to ``destinations`` (one each, or an error)."""
    ids = schema_ids(registry_url)
    encoder = DeliveryEncoder(lambda topic: AvroCodec(load_schema("delivery.v1.avsc"), f"{topic}-value", ids))
    at = datetime.now(UTC)
    placeholder = EventIds.fresh().make(0)
    envelope = Envelope(
        tenant,
        "lead.created",
        "site",
        built_in_catalogue().validate("bench", "lead.created", LEAD),
        placeholder,
        at,
        at,
    )
    planned = fan_out(envelope, routes)
    found = sorted(p.route.destination for p in planned.deliveries)
    if planned.failures or found != sorted(destinations):
        raise ValueError(
            f"tenant {tenant}: a consenting lead routes to {found} ({len(planned.failures)} mapping failures), "
            f"not {sorted(destinations)}"
        )
    made = []
    for plan in planned.deliveries:
        value = encoder.encode(prefix + DELIVER + plan.route.destination, envelope, plan)
        if value.count(plan.delivery_id.encode()) != 1:
            raise ValueError("the delivery id must appear exactly once in the encoded delivery")
        made.append(
            DeliveryTemplate(
                plan.route.destination, plan.route.id, tenant.encode(), value, str(placeholder).encode(),
                plan.delivery_id.encode(),
            )
        )  # fmt: skip
    return made


def expected(
    ids: EventIds,
    count: int,
    by_tenant: Sequence[Sequence[DeliveryTemplate]],
    accepted_ms: Callable[[int], float],
    skip: frozenset[int] = frozenset(),
) -> dict[str, Due]:
    """Every delivery events ``0 .. count-1`` of ``ids`` must cause (event ``i`` is of tenant ``i % n``)."""
    due: dict[str, Due] = {}
    for seq in range(count):
        if seq in skip:
            continue
        event_id = str(ids.make(seq))
        at = accepted_ms(seq)
        for template in by_tenant[seq % len(by_tenant)]:
            due[delivery_id(event_id, template.route_id)] = Due(template.destination, at)
    return due


@dataclass(slots=True)
class Written:
    sent: int = 0
    acked_at_ms: float = 0.0  # epoch ms of the last acknowledgement
    cpu_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


def write_deliveries(
    bootstrap: str, prefix: str, ids: EventIds, count: int, by_tenant: Sequence[Sequence[DeliveryTemplate]]
) -> Written:
    """``count`` events' Delivery records into the deliver topics, as fast as the producer takes them.

    Keyed by tenant like the router's, acks=all and idempotent like the router's producer.
    """
    cpu_before = time.process_time()
    result = Written()

    def on_error(error: KafkaError | None, _: Message) -> None:
        if error is not None:
            result.errors[error.name()] = result.errors.get(error.name(), 0) + 1

    config = producer_config({"bootstrap.servers": bootstrap}, 30.0, linger_ms=5.0)
    producer = Producer({**config, "delivery.report.only.error": True, "on_delivery": on_error})
    topics: Mapping[str, str] = {t.destination: prefix + DELIVER + t.destination for ts in by_tenant for t in ts}
    for seq in range(count):
        event_id = str(ids.make(seq))
        for template in by_tenant[seq % len(by_tenant)]:
            _, value = template.with_event(event_id)
            while True:
                try:
                    producer.produce(topics[template.destination], value, template.key)
                    break
                except BufferError:
                    producer.poll(0.01)
        if seq % 500 == 0:
            producer.poll(0)
    left = producer.flush(60.0)
    result.acked_at_ms = 1000 * time.time()
    result.sent = count
    if left:
        result.errors["unacknowledged"] = left
    result.cpu_s = time.process_time() - cpu_before
    return result
