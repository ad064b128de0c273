"""Write a batch's output records and return only once Kafka acknowledged every one.

An agent acknowledges its input only after ``write`` returns, so an input's offset is never
committed before everything it produced is stored (at-least-once, no loss). A broker outage is
waited out: records that failed for a retriable reason are sent again, with backoff, for as long
as it takes. A record Kafka refuses for good (too large, unknown topic) is handed back to the
caller, who turns its input into a DLQ record; if even that fails, the worker must stop without
acknowledging (``FatalOutputError``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from agents.records import Consumed
from connectors.kafka.producer import AsyncProducer, Headers
from streams.errors import CrmbusError, ProduceError

log = logging.getLogger(__name__)

# librdkafka reports these as not retriable, yet they only say the cluster was away for a while.
_TRANSIENT_CODES = frozenset(
    {"_MSG_TIMED_OUT", "_TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "QUEUE_FULL", "_QUEUE_FULL"}
)
_BACKOFF_FIRST_S, _BACKOFF_MAX_S = 0.1, 5.0


class FatalOutputError(CrmbusError):
    """Outputs could not be written and cannot be dead-lettered: stop without acknowledging."""


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone (a deleted table key)
    headers: Headers | None = None
    partition: int | None = None  # None: by key


def dead_letter(topic: str, record: Consumed, headers: Headers) -> Output:
    """``record``, key and bytes unchanged, into the DLQ ``topic`` with ``headers`` saying why.

    A keyed record goes where its key hashes, beside its tenant's other letters. A keyless one
    keeps its partition number (the DLQ has as many partitions as every topic a worker reads), so
    it lands beside the records it was read with, not wherever the null-key rule would put it."""
    partition = None if record.key is not None else record.origin.partition
    return Output(topic, record.key, record.value, headers, partition)


@dataclass(frozen=True, slots=True)
class Refused:
    output: Output
    error: ProduceError


def is_transient(error: ProduceError) -> bool:
    return error.retriable or error.code in _TRANSIENT_CODES


class OutputWriter:
    def __init__(self, producer: AsyncProducer) -> None:
        self._producer = producer

    async def write(self, outputs: Sequence[Output]) -> list[Refused]:
        """Write ``outputs``; returns those Kafka refused for good (usually none)."""
        pending = list(outputs)
        refused: list[Refused] = []
        backoff = _BACKOFF_FIRST_S
        while pending:
            errors = await self._producer.send_many(
                [(o.topic, o.value, o.key, o.headers, o.partition) for o in pending]
            )
            again: list[Output] = []
            for output, error in zip(pending, errors, strict=True):
                if error is None:
                    continue
                if is_transient(error):
                    again.append(output)
                else:
                    refused.append(Refused(output, error))
            if again:
                log.warning(
                    "kafka refused %d of %d output records for now; retrying in %.1f s",
                    len(again),
                    len(pending),
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
            pending = again
        return refused
