"""The router bench's topics: a fresh prefixed catalogue per measured system, read back afterwards.

The fan-out topics are set to ``LogAppendTime``, so each output record carries the moment
the broker appended it — with one replica, the moment a consumer can see it — whoever
produced it. Outputs are read after the load, between two snapshots of the end offsets, so
the reading takes no CPU from the system while it is measured.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from types import TracebackType

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from bench.fanout import Output, delivery_ids
from bench.stack import BenchError
from connectors.kafka.admin import apply_catalogue
from connectors.kafka.watermarks import high_watermark
from schemas.catalogue import TYPED_VALUE, load_catalogue

DELIVER = "crmbus.deliver."
_TIMEOUT_S = 30.0

Offsets = dict[tuple[str, int], int]


def create_topics(admin: AdminClient, prefix: str, replication_factor: int) -> None:
    """The whole catalogue under ``prefix``, its deliver and public topics timestamped by the broker."""
    catalogue = load_catalogue().with_prefix(prefix)
    apply_catalogue(admin, catalogue, replication_factor)
    stamped = [
        ConfigResource(
            ResourceType.TOPIC,
            spec.name,
            incremental_configs=[
                ConfigEntry("message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET)
            ],
        )
        for spec in catalogue
        if spec.value_schema in ("delivery.v2.avsc", "envelope.v1.avsc", TYPED_VALUE)
        and not spec.name.startswith(prefix + "crmbus.events")
    ]
    for future in admin.incremental_alter_configs(stamped).values():
        future.result(timeout=_TIMEOUT_S)


def delete_topics(admin: AdminClient, prefix: str) -> None:
    """Every topic under ``prefix`` (the catalogue and whatever the worker made there); best effort."""
    names = [name for name in admin.list_topics(timeout=_TIMEOUT_S).topics if name.startswith(prefix)]
    if not names:
        return
    for future in admin.delete_topics(names, operation_timeout=_TIMEOUT_S).values():
        with contextlib.suppress(KafkaException):  # gone already, or the broker is going down with the bench
            future.result(timeout=_TIMEOUT_S)


class DeliverTopics:
    """End offsets and contents of a set of topics, through one consumer that never commits."""

    def __init__(self, bootstrap: str, topics: Iterable[str]) -> None:
        self.topics = list(topics)
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-router-reader",
                "enable.auto.commit": False,
                "log_level": 3,
            }
        )
        metadata = self._consumer.list_topics(timeout=_TIMEOUT_S)
        missing = [topic for topic in self.topics if topic not in metadata.topics]
        if missing:
            raise BenchError(f"topics missing: {missing}")
        self.partitions = [(t, p) for t in self.topics for p in sorted(metadata.topics[t].partitions)]

    def end_offsets(self) -> Offsets:
        return {(t, p): self._high(t, p) for t, p in self.partitions}

    def _high(self, topic: str, partition: int) -> int:
        return high_watermark(self._consumer, topic, partition, _TIMEOUT_S)

    def settle(self, since: Offsets, expected: int, idle_s: float, limit_s: float, quiet_s: float = 1.0) -> Offsets:
        """End offsets once ``expected`` records landed and nothing moved for ``quiet_s``, or nothing
        moved for ``idle_s``, or after ``limit_s``: whichever comes first."""
        deadline = time.monotonic() + limit_s
        last, moved_at = self.end_offsets(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.end_offsets()
            if now != last:
                last, moved_at = now, time.monotonic()
                continue
            still = time.monotonic() - moved_at
            if still >= idle_s or (still >= quiet_s and landed(since, now) >= expected):
                break
        return last

    def read(self, start: Offsets, end: Offsets, limit_s: float = 120.0) -> Iterator[tuple[Output, bool]]:
        """The records between ``start`` and ``end``, with whether the broker stamped their time."""
        todo = {tp: end[tp] for tp in end if end[tp] > start.get(tp, 0)}
        if not todo:
            return
        self._consumer.assign([TopicPartition(t, p, start.get((t, p), 0)) for t, p in todo])
        deadline = time.monotonic() + limit_s
        try:
            while todo and time.monotonic() < deadline:
                for message in self._consumer.consume(10_000, 1.0):
                    if message.error() is not None:
                        continue
                    tp = (message.topic() or "", message.partition() or 0)
                    offset = message.offset() or 0
                    if tp not in todo or offset >= todo[tp]:
                        continue
                    if offset + 1 >= todo[tp]:
                        del todo[tp]
                    kind, stamp = message.timestamp()
                    delivery_id, event_id = delivery_ids(message.value() or b"")
                    yield (
                        Output(event_id, delivery_id, tp[0].rsplit(".", 1)[1], float(stamp)),
                        (kind == TIMESTAMP_LOG_APPEND_TIME),
                    )
        finally:
            self._consumer.unassign()
        if todo:
            raise BenchError(f"could not read the outputs within {limit_s:.0f} s: {len(todo)} partitions short")

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> DeliverTopics:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def landed(since: Offsets, now: Offsets) -> int:
    """Records added between two snapshots."""
    return sum(max(0, offset - since.get(tp, 0)) for tp, offset in now.items())
