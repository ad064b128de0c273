"""A transactional producer for the outbox relay: each batch of records is one Kafka transaction,
visible to ``read_committed`` consumers all at once or never, and a restarted relay with the same
transactional id fences the one it replaces (``init_transactions`` aborts what it left open).

Synchronous on purpose: the relay does one thing at a time (read a batch, publish it, delete it),
and ``commit_transaction`` already waits for every record's acknowledgement (acks=all,
idempotent: ``connectors.kafka.producer.producer_config``). Errors become ``ProduceError``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.kafka.producer import Record
from streams.errors import ProduceError

_COMMIT_ATTEMPTS = 3
_RECOVERY_WINDOW = 1000
"""Offsets read back from a progress topic's end: each transaction takes two (its record and its
commit or abort marker), so the last committed record is in them unless 500 batches in a row
were aborted."""


def _failure(exc: KafkaException) -> ProduceError:
    error: KafkaError = exc.args[0]
    return ProduceError(error.str(), retriable=error.retriable() or error.txn_requires_abort(), code=error.name())


class TransactionalProducer:
    """``start()``, then ``publish(records)`` per batch; ``close()`` at the end."""

    def __init__(self, config: Mapping[str, Any], transactional_id: str, timeout_s: float = 30.0) -> None:
        self._producer = Producer({**config, "transactional.id": transactional_id})
        self._timeout_s = timeout_s

    def start(self) -> None:
        """Register the transactional id, fencing an earlier producer of the same id."""
        try:
            self._producer.init_transactions(self._timeout_s)
        except KafkaException as exc:
            raise _failure(exc) from exc

    def publish(self, records: Sequence[Record]) -> None:
        """Write ``records`` in one transaction; returns once it committed (every record
        acknowledged). A failure worth retrying aborts the transaction first, so none of the
        records is visible; a commit that stays in doubt raises a non-retriable error (a new
        producer of this id, after a restart, settles it)."""
        try:
            self._producer.begin_transaction()
            for topic, value, key, headers, partition in records:
                extra: dict[str, Any] = {"headers": list(headers)} if headers else {}
                if partition is not None:
                    extra["partition"] = partition
                self._producer.produce(topic, value, key, **extra)
                self._producer.poll(0)
        except BufferError as exc:
            self._abort()
            raise ProduceError("the producer's local queue is full", retriable=True, code="QUEUE_FULL") from exc
        except KafkaException as exc:
            self._abort_unless_fatal(exc)
            raise _failure(exc) from exc
        self._commit()

    def _commit(self) -> None:
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                self._producer.commit_transaction(self._timeout_s)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.retriable() and not error.txn_requires_abort() and attempt < _COMMIT_ATTEMPTS:
                    continue  # librdkafka's rule: a retriable commit error is retried by committing again
                if error.txn_requires_abort():
                    self._abort()
                    raise _failure(exc) from exc
                raise ProduceError(error.str(), retriable=False, code=error.name()) from exc

    def close(self) -> None:
        """Flush what is left (nothing, between batches)."""
        self._producer.flush(self._timeout_s)

    def _abort_unless_fatal(self, exc: KafkaException) -> None:
        if not exc.args[0].fatal():
            self._abort()

    def _abort(self) -> None:
        try:
            self._producer.abort_transaction(self._timeout_s)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            raise ProduceError(error.str(), retriable=False, code=error.name()) from exc


def ensure_progress_topic(client: Mapping[str, Any], topic: str, timeout_s: float = 30.0) -> None:
    """Create ``topic`` (one partition, compacted: its last record is all that matters) unless it exists."""
    admin = AdminClient(dict(client))
    if topic not in admin.list_topics(timeout=timeout_s).topics:
        future = admin.create_topics([NewTopic(topic, 1, -1, config={"cleanup.policy": "compact"})])[topic]
        try:
            future.result(timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise _failure(exc) from exc
    # A topic just created has no leader for a moment, and its offsets cannot be asked yet.
    deadline = time.monotonic() + timeout_s
    while not _led(admin, topic):
        if time.monotonic() >= deadline:
            raise ProduceError(
                f"{topic} has no leader after {timeout_s:g} s", retriable=True, code="LEADER_NOT_AVAILABLE"
            )
        time.sleep(0.1)


def _led(admin: AdminClient, topic: str) -> bool:
    found = admin.list_topics(topic, timeout=5).topics.get(topic)
    return found is not None and found.error is None and 0 in found.partitions and found.partitions[0].leader >= 0


def last_committed(client: Mapping[str, Any], topic: str, timeout_s: float = 30.0) -> bytes | None:
    """The value of the last committed record of the one-partition ``topic`` (None: none yet).
    Read after ``start()``, so no transaction of this relay's id is left open."""
    consumer = Consumer(
        {
            **client,
            "group.id": f"crmbus-outbox-recovery-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout_s)
        if high <= low:
            return None
        consumer.assign([TopicPartition(topic, 0, max(low, high - _RECOVERY_WINDOW))])
        last: bytes | None = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return last
                raise ProduceError(error.str(), retriable=error.retriable(), code=error.name())
            last = message.value()
        raise ProduceError(f"{topic} was not read to its end in {timeout_s:g} s", retriable=True, code="TIMED_OUT")
    finally:
        consumer.close()
