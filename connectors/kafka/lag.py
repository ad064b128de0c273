"""Consumer lag from Kafka itself: each group's committed offsets against the partitions' ends.

Blocking (confluent-kafka's AdminClient answers through futures): callers on an event loop run
``read`` in a thread. Any failure to get an answer becomes ``ServiceUnreachableError``; nothing
above this module sees a Kafka exception.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from streams.bus_health import GroupLag, PartitionOffsets
from streams.errors import ServiceUnreachableError


class ConsumerLag:
    """The lag of the consumer groups whose ids start with ``group_prefix``."""

    def __init__(self, bootstrap: str, group_prefix: str, timeout_s: float = 3.0) -> None:
        self.group_prefix, self.timeout_s = group_prefix, timeout_s
        self._admin = AdminClient(
            {
                "bootstrap.servers": bootstrap,
                "log_level": 2,  # a broker away is reported on the page; no line per reconnect
                "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
            }
        )

    def read(self) -> list[GroupLag]:
        """Every matching group, by id, with the lag of each partition it committed on; raises
        ServiceUnreachableError unless every broker answered."""
        try:
            return self._read()
        except (KafkaException, TimeoutError) as exc:
            raise ServiceUnreachableError(f"kafka: {type(exc).__name__}") from exc

    def _read(self) -> list[GroupLag]:
        listed = self._admin.list_consumer_groups(request_timeout=self.timeout_s).result(timeout=self.timeout_s + 1)
        if listed.errors:  # a broker that did not answer is reported here, not raised: the list would be partial
            raise ServiceUnreachableError(f"kafka: {listed.errors[0].name()}")
        states = {
            listing.group_id: listing.state.name.lower()
            for listing in listed.valid
            if listing.group_id.startswith(self.group_prefix)
        }
        committed = {group: self._committed(group) for group in sorted(states)}
        wanted = {TopicPartition(tp.topic, tp.partition) for tps in committed.values() for tp in tps}
        ends = self._ends(wanted)
        return [
            GroupLag(
                group,
                states[group],
                tuple(
                    PartitionOffsets(tp.topic, tp.partition, tp.offset, ends[(tp.topic, tp.partition)])
                    for tp in sorted(tps, key=lambda tp: (tp.topic, tp.partition))
                    if (tp.topic, tp.partition) in ends
                ),
            )
            for group, tps in committed.items()
        ]

    def _committed(self, group: str) -> list[TopicPartition]:
        request = [ConsumerGroupTopicPartitions(group)]
        futures = self._admin.list_consumer_group_offsets(request, request_timeout=self.timeout_s)
        answer = futures[group].result(timeout=self.timeout_s)
        # A partition without a commit comes back with a negative offset: no position to measure from.
        return [tp for tp in answer.topic_partitions or () if tp.error is None and tp.offset >= 0]

    def _ends(self, partitions: Iterable[TopicPartition]) -> dict[tuple[str, int], int]:
        request = {tp: OffsetSpec.latest() for tp in partitions}  # type: ignore[no-untyped-call]
        if not request:
            return {}
        ends = {}
        for tp, future in self._admin.list_offsets(request, request_timeout=self.timeout_s).items():
            try:
                ends[(tp.topic, tp.partition)] = future.result(timeout=self.timeout_s).offset
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
                continue  # the topic was deleted since the group committed on it
        return ends
