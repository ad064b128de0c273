"""Consumer lag from Kafka itself: each group's committed offsets against the partitions' ends.

Blocking (confluent-kafka answers through futures and timeouts): callers on an event loop run
``read`` in a thread. Any failure to get an answer becomes ``ServiceUnreachableError``; nothing
above this module sees a Kafka exception.

Two things keep the reader alive across broker restarts:
- A client that failed is dropped and the next read builds a new one. A long-lived librdkafka admin
  client was seen reporting the broker unreachable for minutes after a restart while a fresh one
  answered at once.
- Committed offsets are read by a consumer of the group (OffsetFetch through its coordinator), not
  by the admin client's ``list_consumer_group_offsets``: librdkafka's admin requests to a group
  coordinator abort the whole process when the connection drops mid-request
  (``rd_kafka_enq_once_del_source_return: Assertion 'eonce->refcnt > 0'``, confluentinc/librdkafka#4605).
  The consumer never subscribes, so it never joins the group it reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from streams.bus_health import GroupLag, PartitionOffsets
from streams.errors import ServiceUnreachableError


class ConsumerLag:
    """The lag of the consumer groups whose ids start with ``group_prefix``, on the topics whose names
    start with ``topic_prefix``; ``client`` says how to reach the cluster
    (``connectors.kafka.security.librdkafka_client``)."""

    def __init__(self, client: Mapping[str, Any], group_prefix: str, topic_prefix: str, timeout_s: float = 3.0) -> None:
        self.group_prefix, self.topic_prefix, self.timeout_s = group_prefix, topic_prefix, timeout_s
        self._config = {
            **client,
            "log_level": 2,  # a broker away is reported on the page; no line per reconnect
            "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
        }
        self._admin: AdminClient | None = None
        self._lock = threading.Lock()  # a read abandoned by its caller may still run when the next starts

    def read(self) -> list[GroupLag]:
        """Every matching group, by id, with the lag of each partition it committed on; raises
        ServiceUnreachableError unless every broker answered."""
        with self._lock:
            try:
                return self._read(self._client())
            except (KafkaException, TimeoutError, ServiceUnreachableError) as exc:
                self._admin = None  # rebuilt by the next read
                if isinstance(exc, ServiceUnreachableError):
                    raise
                raise ServiceUnreachableError(f"kafka: {type(exc).__name__}") from exc

    def _client(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self._config)
        return self._admin

    def _read(self, admin: AdminClient) -> list[GroupLag]:
        listed = admin.list_consumer_groups(request_timeout=self.timeout_s).result(timeout=self.timeout_s + 1)
        if listed.errors:  # a broker that did not answer is reported here, not raised: the list would be partial
            raise ServiceUnreachableError(f"kafka: {listed.errors[0].name()}")
        states = {
            listing.group_id: listing.state.name.lower()
            for listing in listed.valid
            if listing.group_id.startswith(self.group_prefix)
        }
        if not states:
            return []
        topics = admin.list_topics(timeout=self.timeout_s).topics
        partitions = [
            TopicPartition(name, partition)
            for name, topic in sorted(topics.items())
            if name.startswith(self.topic_prefix) and not name.startswith("__")
            for partition in topic.partitions
        ]
        committed = {group: self._committed(group, partitions) for group in sorted(states)}
        wanted = {TopicPartition(tp.topic, tp.partition) for tps in committed.values() for tp in tps}
        ends = self._ends(admin, wanted)
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

    def _committed(self, group: str, partitions: list[TopicPartition]) -> list[TopicPartition]:
        if not partitions:
            return []
        consumer = Consumer({**self._config, "group.id": group, "enable.auto.commit": False})
        try:
            answer = consumer.committed(partitions, timeout=self.timeout_s)
        finally:
            consumer.close()
        # A partition without a commit comes back with a negative offset: no position to measure from.
        return [tp for tp in answer if tp.error is None and tp.offset >= 0]

    def _ends(self, admin: AdminClient, partitions: Iterable[TopicPartition]) -> dict[tuple[str, int], int]:
        request = {tp: OffsetSpec.latest() for tp in partitions}  # type: ignore[no-untyped-call]
        if not request:
            return {}
        ends = {}
        for tp, future in admin.list_offsets(request, request_timeout=self.timeout_s).items():
            try:
                ends[(tp.topic, tp.partition)] = future.result(timeout=self.timeout_s).offset
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
                continue  # the topic was deleted since the group committed on it
        return ends
