"""How many records the ingress topics hold: the sum of their partitions' end offsets.

Accepted (202) minus what landed between two counts is what the ingress lost; a surplus
means records the bench did not see accepted (timed-out requests that did get written,
or another writer on the same topics during the run).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer

from connectors.kafka.watermarks import high_watermark

_TIMEOUT_S = 10.0


def end_offsets(bootstrap: str, topics: Iterable[str]) -> int:
    """Sum of the high watermarks of every partition of ``topics``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets", "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(timeout=_TIMEOUT_S)
        total = 0
        for topic in topics:
            for partition in metadata.topics[topic].partitions:
                total += high_watermark(consumer, topic, partition, _TIMEOUT_S)
        return total
    finally:
        consumer.close()


def settled_end_offsets(bootstrap: str, topics: list[str], quiet_s: float = 1.0, limit_s: float = 10.0) -> int:
    """End offsets once they stop moving for ``quiet_s`` (late writes of timed-out requests), at most ``limit_s``."""
    deadline = time.monotonic() + limit_s
    last = end_offsets(bootstrap, topics)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = end_offsets(bootstrap, topics)
        if now == last:
            break
        last = now
    return last


@dataclass(frozen=True, slots=True)
class Landing:
    accepted: int
    landed: int

    @property
    def lost(self) -> int:
        return max(0, self.accepted - self.landed)

    @property
    def extra(self) -> int:
        return max(0, self.landed - self.accepted)
