"""The input side of the router bench: lead.created envelopes written to the lane topic.

One generator process (spawned, never forked: the bench holds Kafka client threads) writes
either an open loop (event ``i`` due at ``start + i / rate``, its record timestamp set to that
instant, so latency counts from the schedule whatever the producer or the machine did) or a
backlog as fast as it can. The producer is the ingress's own configuration: acks=all,
idempotent. Each tenant's events go to a partition of their own, as keying by tenant would
put them, so several worker processes each get work.

Envelopes are encoded once per tenant; each event only gets its own event id spliced into
the template (a UUID string has a fixed length in Avro), which keeps the generator's CPU —
taken from the two cores the system under test needs — at a few microseconds per event.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from bench.fanout import EventIds
from connectors.kafka.producer import producer_config
from connectors.kafka.schema_registry import schema_ids
from schemas.avro_schemas import load_schema
from schemas.codec import AvroCodec
from schemas.event_types import built_in_catalogue
from streams.envelope import Envelope

LATE_SEND_S = 0.005
_TICK_S = 0.001

# A real-shaped lead from the site form, with consent: the seed routes give crm, zapi and marketing.
LEAD = {
    "name": "Maria Aparecida Souza",
    "phone": "+5511987654321",
    "email": "maria.souza@example.com.br",
    "channel": "site",
    "origin": "lp-cuidador-idosos",
    "campaign": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "cuidador-sp-2026"},
    "service_interest": "caregiver",
    "notes": "Cuidadora noturna para mãe de 82 anos.",
    "marketing_consent": True,
}


@dataclass(frozen=True, slots=True)
class Template:
    """One tenant's encoded envelope with the byte range its event id occupies."""

    value: bytes
    id_at: int

    @classmethod
    def of(cls, envelope: Envelope, codec: AvroCodec) -> Template:
        value = codec.encode(envelope.to_record())
        placeholder = str(envelope.event_id).encode()
        if value.count(placeholder) != 1:
            raise ValueError("the event id must appear exactly once in the encoded envelope")
        return cls(value, value.index(placeholder))

    def with_id(self, event_id: str) -> bytes:
        return self.value[: self.id_at] + event_id.encode() + self.value[self.id_at + 36 :]


@dataclass(frozen=True, slots=True)
class LaneLoad:
    bootstrap: str
    topic: str
    partitions: int
    tenants: tuple[str, ...]
    ids: EventIds
    count: int
    rate: float | None  # events/s; None writes a backlog as fast as the producer takes it
    registry_url: str | None = None

    def tenant_of(self, seq: int) -> int:
        return seq % len(self.tenants)


@dataclass(slots=True)
class LaneResult:
    start_ms: float  # epoch ms at which event 0 was due
    rate: float | None
    sent: int = 0
    failed: list[int] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    acked_at_ms: float = 0.0  # when the last record was acknowledged
    late_sends: int = 0
    cpu_s: float = 0.0

    def scheduled_ms(self, seq: int) -> float:
        return self.start_ms + (1000 * seq / self.rate if self.rate else 0.0)


def templates(load: LaneLoad, at: datetime) -> list[Template]:
    codec = AvroCodec(load_schema("envelope.v1.avsc"), f"{load.topic}-value", schema_ids(load.registry_url))
    payload = built_in_catalogue().validate("bench", "lead.created", LEAD)
    return [
        Template.of(Envelope(tenant, "lead.created", "site", payload, load.ids.make(0), at, at), codec)
        for tenant in load.tenants
    ]


def write(load: LaneLoad) -> LaneResult:
    """Write ``load`` and wait for every acknowledgement (or failure)."""
    cpu_before = time.process_time()
    forms = templates(load, datetime.now(UTC))
    keys = [tenant.encode() for tenant in load.tenants]
    result = LaneResult(start_ms=1000 * (time.time() + 0.05), rate=load.rate)

    def on_error(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            value, key = message.value() or b"", message.key() or b""
            at = forms[keys.index(key)].id_at if key in keys else 0
            seq = load.ids.seq_of(value[at : at + 36].decode(errors="replace"))
            result.failed.append(-1 if seq is None else seq)
            result.errors[error.name()] = result.errors.get(error.name(), 0) + 1

    config = producer_config({"bootstrap.servers": load.bootstrap}, 30.0, linger_ms=5.0)
    producer = Producer({**config, "delivery.report.only.error": True, "on_delivery": on_error})
    start_s = result.start_ms / 1000
    seq = 0
    while seq < load.count:
        now = time.time()
        due = load.count if load.rate is None else min(load.count, int((now - start_s) * load.rate) + 1)
        while seq < due:
            tenant = load.tenant_of(seq)
            value = forms[tenant].with_id(str(load.ids.make(seq)))
            extra: dict[str, Any] = {}
            if load.rate is not None:
                scheduled = start_s + seq / load.rate
                extra["timestamp"] = int(1000 * scheduled)
                result.late_sends += now - scheduled > LATE_SEND_S
            try:
                producer.produce(load.topic, value, keys[tenant], partition=tenant % load.partitions, **extra)
            except BufferError:
                producer.poll(0.01)
                continue
            seq += 1
        producer.poll(0)
        if load.rate is not None and seq < load.count:
            time.sleep(_TICK_S)
    left = producer.flush(60.0)
    result.acked_at_ms = 1000 * time.time()
    result.sent = seq
    if left:
        result.errors["unacknowledged"] = left
    result.cpu_s = time.process_time() - cpu_before
    return result


def _serve(channel: Connection) -> None:
    while (load := channel.recv()) is not None:
        channel.send(write(load))


class LaneWriter:
    """The generator process: ``run`` hands it one load and waits for its result."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.channel, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), name="bench-lane-writer", daemon=True)
        self.process.start()
        child.close()

    @property
    def pids(self) -> Sequence[int]:
        return [self.process.pid] if self.process.pid is not None else []

    def run(self, load: LaneLoad) -> LaneResult:
        self.channel.send(load)
        result: LaneResult = self.channel.recv()
        return result

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.channel.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)

    def __enter__(self) -> LaneWriter:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
