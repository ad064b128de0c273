"""The retry releaser: each delivery back to its destination once due, the tier paused meanwhile."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from agents.outputs import Output
from agents.records import Consumed
from agents.retry import RetryReleaser
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams.dead_letter import Origin

CODEC = AvroCodec(load_schema("delivery.v1.avsc"), "crmbus.retry.5s-value", CatalogueSchemaIds())


def waiting(n: int, due: float, destination: str = "crm") -> Consumed:
    value = CODEC.encode(
        {
            "delivery_id": f"d-{n}", "event_id": uuid.uuid4(), "tenant_id": "acme", "event_type": "lead.created",
            "destination": destination, "route_id": "r", "action": "crm.upsert_lead", "payload": "{}",
            "attempt": 1, "first_failure_at": None, "not_before": datetime.fromtimestamp(due, UTC),
            "correlation_id": None, "ordering_key": None,
        }
    )  # fmt: skip
    return Consumed(Origin("crmbus.retry.5s", 0, n), b"acme", value)


class Writer:
    def __init__(self, log: list[str]):
        self.log = log

    async def write(self, outputs: list[Output]):
        self.log.extend(f"write {o.topic} {CODEC.decode(o.value)['delivery_id']}" for o in outputs)
        return []


def test_due_deliveries_go_back_at_once_later_ones_when_due_with_the_tier_paused_in_between():
    log: list[str] = []
    now = time.time()
    releaser = RetryReleaser(
        tier="5s", deliveries=lambda _: CODEC, topics=TopicNames(), writer=Writer(log),
        hold=lambda: log.append("hold"), resume=lambda: log.append("resume"),
    )  # fmt: skip
    batch = [waiting(2, now + 0.8, "zapi"), waiting(1, now - 1)]
    started = time.time()
    asyncio.run(releaser.handle(batch))
    assert log == [
        "write crmbus.deliver.crm d-1",
        "hold",
        "write crmbus.deliver.zapi d-2",
        "resume",
    ]
    assert time.time() - started >= 0.7  # d-2 was not released early
