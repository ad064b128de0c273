"""Reading the lanes outside the workers' Faust app: as a consumer group of its own (the event
archiver), and by time (a replay of a time range, with Kafka's offsets-for-times).

Blocking (confluent-kafka): callers on an event loop run these in a thread. Kafka's exceptions
become ``ServiceUnreachableError``; nothing above this module sees one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from connectors.kafka.link_log import CLUSTER_LOST, log_change
from connectors.kafka.watermarks import LEADERSHIP_MOVING
from streams.errors import ServiceUnreachableError
from streams.link_state import LinkState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LaneRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def _record(message: Message) -> LaneRecord:
    return LaneRecord(
        topic=message.topic() or "", partition=message.partition() or 0, offset=message.offset() or 0,
        timestamp_ms=message.timestamp()[1], key=message.key(), value=message.value(),
        headers=_headers(message),
    )  # fmt: skip


def _headers(message: Message) -> list[tuple[str, bytes]]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(name, value.encode() if isinstance(value, str) else value or b"") for name, value in pairs]


def _messages(messages: Sequence[Message]) -> list[LaneRecord]:
    records = []
    for message in messages:
        error = message.error()
        if error is None:
            records.append(_record(message))
        elif error.code() != KafkaError._PARTITION_EOF and error.fatal():
            raise ServiceUnreachableError(f"Kafka consumer failed: {error.name()}")
    return records


class GroupReader:
    """A member of consumer group ``group`` on ``topics``: reads batches, and commits only the
    offsets of a batch its caller handled (at least once: a batch not committed is read again).

    Quiet while the cluster is away: librdkafka's own lines (one per failed connection, several a
    second) are off; its error callback logs the loss once and the return once, as the producer
    does (``connectors.kafka.link_log``)."""

    def __init__(self, client: Mapping[str, Any], group: str, topics: Sequence[str]) -> None:
        self._link = LinkState()
        self._consumer = Consumer(
            {
                **client,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "log_level": 2,
                "error_cb": self._on_error,
            }
        )
        self._consumer.subscribe(list(topics))

    def read(self, max_records: int, wait_s: float) -> list[LaneRecord]:
        """Up to ``max_records`` records, waiting at most ``wait_s`` for the first."""
        try:
            records = _messages(self._consumer.consume(max_records, timeout=wait_s))
        except KafkaException as exc:
            raise ServiceUnreachableError(f"Kafka consumer failed: {exc.args[0].name()}") from exc
        if records:
            log_change(log, self._link.succeeded(time.monotonic()))
        return records

    def _on_error(self, error: KafkaError) -> None:
        # Served by consume(), on the caller's thread.
        if error.code() in CLUSTER_LOST:
            log_change(log, self._link.failed(error.name(), time.monotonic()))

    def commit(self, records: Sequence[LaneRecord]) -> None:
        """Commit past every record of ``records``."""
        ends: dict[tuple[str, int], int] = {}
        for record in records:
            place = (record.topic, record.partition)
            ends[place] = max(ends.get(place, -1), record.offset + 1)
        if not ends:
            return
        try:
            self._consumer.commit(
                offsets=[TopicPartition(topic, partition, end) for (topic, partition), end in ends.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            # A rebalance took the partitions away: their next owner reads the batch again.
            raise ServiceUnreachableError(f"Kafka refused a commit: {exc.args[0].name()}") from exc

    def close(self) -> None:
        self._consumer.close()


@dataclass(frozen=True, slots=True)
class Span:
    """A time range's offsets in one partition, and whether Kafka still holds all of it."""

    topic: str
    partition: int
    start: int
    """The first offset whose timestamp is at or after the range's start."""
    stop: int
    """The first offset whose timestamp is at or after the range's end (the partition's end if none)."""
    whole: bool
    """False when records that may belong to the range were deleted (retention, delete-records)."""


class TimeRangeReader:
    """Reads partitions of topics by time, without joining any group."""

    def __init__(self, client: Mapping[str, Any], timeout_s: float = 10.0) -> None:
        self._consumer = Consumer({**client, "group.id": "crmbus-time-range", "enable.auto.commit": False})
        self._timeout_s = timeout_s

    def spans(self, topic: str, start_ms: int, end_ms: int) -> list[Span]:
        """Each partition of ``topic``'s span of [``start_ms``, ``end_ms``)."""
        try:
            metadata = self._consumer.list_topics(topic, timeout=self._timeout_s)
            partitions = sorted(metadata.topics[topic].partitions)
            if not partitions:  # no such topic: nothing of it to read
                return []
            starts = self._offsets(topic, partitions, start_ms)
            stops = self._offsets(topic, partitions, end_ms)
            spans = []
            for partition in partitions:
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=self._timeout_s
                )
                start = high if starts[partition] < 0 else starts[partition]
                stop = high if stops[partition] < 0 else stops[partition]
                # A start after the partition's earliest offset: the record before it is older than
                # the range, so nothing of the range was deleted. At the earliest, records of the
                # range may have gone before it, unless nothing was ever deleted (earliest 0).
                spans.append(Span(topic, partition, start, stop, whole=low == 0 or start > low))
            return spans
        except KafkaException as exc:
            raise ServiceUnreachableError(f"Kafka did not answer offsets for times: {exc.args[0].name()}") from exc

    def _offsets(self, topic: str, partitions: Sequence[int], at_ms: int) -> dict[int, int]:
        asked = [TopicPartition(topic, partition, at_ms) for partition in partitions]
        return {found.partition: found.offset for found in self._consumer.offsets_for_times(asked, self._timeout_s)}

    def read(self, span: Span, batch: int = 500) -> Iterator[list[LaneRecord]]:
        """The records of ``span``, in batches."""
        if span.start >= span.stop:
            return
        self._consumer.assign([TopicPartition(span.topic, span.partition, span.start)])
        try:
            position = span.start
            while position < span.stop:
                messages = self._consumer.consume(min(batch, span.stop - position), timeout=self._timeout_s)
                if not messages:
                    raise ServiceUnreachableError(f"Kafka sent nothing of {span.topic}[{span.partition}] in time")
                records = [record for record in _messages(messages) if record.offset < span.stop]
                if records:
                    position = records[-1].offset + 1
                    yield records
        except KafkaException as exc:
            code = exc.args[0].code()
            moving = " (leadership moving)" if code in LEADERSHIP_MOVING else ""
            raise ServiceUnreachableError(f"Kafka failed reading {span.topic}{moving}: {exc.args[0].name()}") from exc
        finally:
            self._consumer.unassign()

    def close(self) -> None:
        self._consumer.close()
