"""``crmbus dlq replay``: send selected DLQ records back where they failed, once in effect.

The DLQ is read from its beginning up to the end offsets seen when the replay starts (records
dead-lettered during the replay wait for the next one). Each selected record goes back, key and
bytes unchanged, to the topic it was read from when it failed (``crmbus-original-topic``: a lane,
a deliver topic, the scheduled topic), with a ``crmbus-replay`` header and, for a failed route,
its ``crmbus-route-id``. Replaying twice delivers once: a delivery record keeps its delivery id,
which the sinks remember once delivered, and a replayed event only re-runs its failed route,
whose delivery ids are deterministic.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from connectors.kafka.producer import producer_config
from connectors.kafka.watermarks import high_watermark
from streams.dead_letter import ORIGINAL_TOPIC, REPLAY, ROUTE_ID, header
from streams.errors import ProduceError
from streams.replay_filter import ReplayFilter

_POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class Selected:
    topic: str
    partition: int
    offset: int
    target: str
    headers: dict[str, str]


@dataclass(slots=True)
class ReplayReport:
    scanned: int = 0
    selected: list[Selected] = field(default_factory=list)
    sent: int = 0


def read_dlq(client: Mapping[str, Any], dlq: str, timeout_s: float = 30.0) -> Iterator[Message]:
    """Every record of ``dlq`` up to its end offsets as they are now."""
    consumer = Consumer({**client, "group.id": "crmbus-dlq-replay", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(dlq, timeout=timeout_s).topics[dlq].partitions
        ends = {p: high_watermark(consumer, dlq, p, timeout_s) for p in partitions}
        remaining = {p: end for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(dlq, p, OFFSET_BEGINNING) for p in remaining])
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=_POLL_S):
                if message.error() is not None:
                    continue
                partition, offset = message.partition() or 0, message.offset() or 0
                if partition in remaining and offset < remaining[partition]:
                    yield message
                    if offset + 1 >= remaining[partition]:
                        del remaining[partition]
    finally:
        consumer.close()


def replay(client: Mapping[str, Any], dlq: str, selection: ReplayFilter, *, dry_run: bool) -> ReplayReport:
    report = ReplayReport()
    producer = None if dry_run else Producer(producer_config(client, delivery_timeout_s=30, linger_ms=5))
    failures: list[str] = []

    def delivered(error: object, _: Message) -> None:
        if error is not None:
            failures.append(str(error))

    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z").encode()
    for message in read_dlq(client, dlq):
        report.scanned += 1
        headers = _headers(message)
        timestamp = datetime.fromtimestamp(message.timestamp()[1] / 1000, UTC)
        target = header(headers, ORIGINAL_TOPIC)
        if target is None or not selection.matches(message.key(), headers, timestamp):
            continue
        shown = {name: (value or b"").decode("utf-8", "replace") for name, value in headers}
        report.selected.append(Selected(dlq, message.partition() or 0, message.offset() or 0, target, shown))
        if producer is None:
            continue
        replay_headers: list[tuple[str, str | bytes | None]] = [(REPLAY, stamp)]
        route = header(headers, ROUTE_ID)
        if route is not None:
            replay_headers.append((ROUTE_ID, route.encode()))
        producer.produce(target, message.value(), message.key(), headers=replay_headers, on_delivery=delivered)
        producer.poll(0)
        report.sent += 1
    if producer is not None:
        left = producer.flush(60)
        if left or failures:
            raise ProduceError(
                f"{left + len(failures)} replayed records were not acknowledged by Kafka", retriable=True
            )
    return report


def _headers(message: Message) -> list[tuple[str, bytes]]:
    pairs: list[tuple[str, bytes]] = []
    for name, value in message.headers() or []:  # type: ignore[str-unpack] # stubs: Sequence; librdkafka: pairs
        pairs.append((str(name), value if isinstance(value, bytes) else str(value or "").encode()))
    return pairs
