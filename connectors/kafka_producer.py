"""An asyncio face for confluent-kafka's producer: ``await send(...)`` returns once the
broker has acknowledged the record (acks=all, idempotent producer).

Many concurrent sends share librdkafka's batches: ``send`` only enqueues, a polling thread
serves delivery reports, and their futures are resolved on the event loop in one
``call_soon_threadsafe`` per poll rather than one per record.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from streams.errors import ProduceError

Headers = Sequence[tuple[str, bytes]]
_POLL_INTERVAL_S = 0.05


@dataclass(frozen=True, slots=True)
class Delivered:
    """Where the broker stored a record."""

    topic: str
    partition: int
    offset: int


def producer_config(bootstrap: str, delivery_timeout_s: float, linger_ms: float) -> dict[str, Any]:
    """librdkafka settings for a producer that never reports an unacknowledged record as sent."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": linger_ms,
        "compression.type": "lz4",
        # A record not acknowledged by then fails: callers answer 503, never hang.
        "message.timeout.ms": max(1, int(delivery_timeout_s * 1000)),
        "queue.buffering.max.messages": 500_000,
        "log_level": 3,  # errors only: librdkafka's own lines carry no payloads, but are noisy
    }


class AsyncProducer:
    """Use as ``async with AsyncProducer(config) as producer: await producer.send(...)``."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = dict(config)
        self._producer: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reports: list[tuple[asyncio.Future[Delivered], KafkaError | None, Message]] = []
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    async def __aenter__(self) -> AsyncProducer:
        self._loop = asyncio.get_running_loop()
        self._producer = Producer(self._config)
        self._poller = threading.Thread(
            target=self._poll_forever, args=(self._producer, self._loop), name="kafka-producer-poll", daemon=True
        )
        self._poller.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def queued(self) -> int:
        """Records enqueued and not yet acknowledged (or failed)."""
        return len(self._producer) if self._producer is not None else 0

    def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> asyncio.Future[Delivered]:
        """Enqueue a record; the future resolves with its offset once the broker acknowledged it."""
        if self._producer is None or self._loop is None:
            raise RuntimeError("AsyncProducer used outside 'async with'")
        future: asyncio.Future[Delivered] = self._loop.create_future()
        try:
            self._producer.produce(
                topic, value, key, headers=list(headers or ()), on_delivery=partial(self._on_delivery, future)
            )
        except BufferError as exc:
            raise ProduceError("the producer's local queue is full", retriable=True, code="QUEUE_FULL") from exc
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            raise ProduceError(error.str(), retriable=error.retriable(), code=error.name()) from exc
        return future

    async def ping(self, timeout_s: float = 2.0) -> None:
        """A metadata round trip to the cluster; ProduceError when it does not answer in time."""
        if self._producer is None:
            raise RuntimeError("AsyncProducer used outside 'async with'")
        try:
            await asyncio.to_thread(self._producer.list_topics, None, timeout_s)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            raise ProduceError(error.str(), retriable=True, code=error.name()) from exc

    async def close(self, timeout_s: float = 10.0) -> None:
        """Wait for outstanding records (up to ``timeout_s``), then stop."""
        if self._producer is None or self._poller is None or self._loop is None:
            return
        self._stop.set()
        await asyncio.to_thread(self._poller.join)
        await asyncio.to_thread(self._producer.flush, timeout_s)
        self._resolve(self._take_reports())
        self._producer = None

    # -- the polling thread ---------------------------------------------------------------
    def _on_delivery(self, future: asyncio.Future[Delivered], error: KafkaError | None, message: Message) -> None:
        # Runs inside poll()/flush(), on whichever thread called it: only collect here.
        self._reports.append((future, error, message))

    def _take_reports(self) -> list[tuple[asyncio.Future[Delivered], KafkaError | None, Message]]:
        reports, self._reports = self._reports, []
        return reports

    def _poll_forever(self, producer: Producer, loop: asyncio.AbstractEventLoop) -> None:
        while not self._stop.is_set():
            producer.poll(_POLL_INTERVAL_S)
            if self._reports:
                loop.call_soon_threadsafe(self._resolve, self._take_reports())

    @staticmethod
    def _resolve(reports: list[tuple[asyncio.Future[Delivered], KafkaError | None, Message]]) -> None:
        for future, error, message in reports:
            if future.done():  # the caller gave up waiting (cancelled)
                continue
            if error is not None:
                future.set_exception(ProduceError(error.str(), retriable=error.retriable(), code=error.name()))
            else:
                future.set_result(Delivered(message.topic() or "", message.partition() or 0, message.offset() or 0))
