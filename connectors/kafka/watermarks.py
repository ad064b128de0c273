"""A partition's end offset, asked again while its leadership moves.

Right after a topic is created, or after a broker restarts, a partition can answer "not leader"
for a moment while its leader is (re-)elected. Whoever reads end offsets — the DLQ replay, the
benches, the tests — waits that moment out within a deadline instead of failing on it.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

LEADERSHIP_MOVING = frozenset(
    {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError._TRANSPORT}
)
_PAUSE_S = 0.1


def high_watermark(consumer: Consumer, topic: str, partition: int, timeout_s: float = 10.0) -> int:
    """The offset the next record of ``topic``/``partition`` will get.

    Raises the last ``KafkaException`` when the partition is still without a leader after
    ``timeout_s``, and any other error at once.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            left = max(deadline - time.monotonic(), _PAUSE_S)
            return int(consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=left)[1])
        except KafkaException as exc:
            if exc.args[0].code() not in LEADERSHIP_MOVING or time.monotonic() + _PAUSE_S > deadline:
                raise
            time.sleep(_PAUSE_S)
