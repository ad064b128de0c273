"""An asyncio face for confluent-kafka's producer: ``await send(...)`` returns once the
broker has acknowledged the record (acks=all, idempotent producer).

Many concurrent sends share librdkafka's batches: ``send`` only enqueues. Delivery reports
are served by ``poll(0)`` on the event loop itself, every millisecond while records are
outstanding, and resolve their futures directly. No Python thread polls: a polling thread
must take the GIL once per delivery report, and while the loop thread is busy each of
those hand-offs can wait for the interpreter's switch interval (5 ms) — that convoy cost
the ingress three quarters of its throughput.

A broker that goes away is logged once when it is lost and once when it is back
(``streams.link_state``): librdkafka's error callback says it is lost (a once-a-second poll serves
it when no record is outstanding), and an acknowledged record, or a metadata probe made every few
seconds while it is lost, says it is back. librdkafka's own per-connection lines are off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connectors.kafka.link_log import CLUSTER_LOST, log_change
from streams.errors import ProduceError
from streams.link_state import LinkState

Headers = Sequence[tuple[str, bytes]]
Record = tuple[str, bytes | None, bytes | None, Headers | None, int | None]
"""topic, value (None: a tombstone), key, headers, partition (None: by key)"""
_POLL_INTERVAL_S = 0.001
_IDLE_POLL_S = 1.0  # serves the error callback when no record is outstanding
_PROBE_TIMEOUT_S = 2.0
# Errors that say the cluster cannot be reached at all (one broker closing an idle connection is not one).
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivered:
    """Where the broker stored a record."""

    topic: str
    partition: int
    offset: int


def producer_config(client: Mapping[str, Any], delivery_timeout_s: float, linger_ms: float) -> dict[str, Any]:
    """librdkafka settings for a producer that never reports an unacknowledged record as sent;
    ``client`` says how to reach the cluster (``connectors.kafka.security.librdkafka_client``)."""
    return {
        **client,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": linger_ms,
        "compression.type": "lz4",
        # The Java client's partitioner (murmur2), not librdkafka's CRC32 default: a tenant's key
        # lands on the same partition whether Faust, a Java consumer's producer or we write it.
        "partitioner": "murmur2_random",
        # A record not acknowledged by then fails: callers answer 503, never hang.
        "message.timeout.ms": max(1, int(delivery_timeout_s * 1000)),
        "queue.buffering.max.messages": 500_000,
        # Only critical lines of librdkafka's own: it prints one per failed connection attempt, every
        # second or so while a broker is away; the error callback says it once (see AsyncProducer).
        "log_level": 2,
    }


def _failure(error: KafkaError) -> ProduceError:
    return ProduceError(error.str(), retriable=error.retriable(), code=error.name())


class AsyncProducer:
    """Use as ``async with AsyncProducer(config) as producer: await producer.send(...)``."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = {**config, "error_cb": self._on_error}
        self._link = LinkState()
        self._producer: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._polling: asyncio.TimerHandle | asyncio.Handle | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._probe: asyncio.Future[Any] | None = None

    async def __aenter__(self) -> AsyncProducer:
        self._loop = asyncio.get_running_loop()
        self._producer = Producer(self._config)
        self._idle = self._loop.call_later(_IDLE_POLL_S, self._idle_poll)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def queued(self) -> int:
        """Records enqueued and not yet acknowledged (or failed)."""
        return len(self._producer) if self._producer is not None else 0

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Delivered]:
        """Enqueue a record (``value`` None: a tombstone; ``partition`` None: by key); the future
        resolves with its offset once the broker acknowledged it."""
        if self._producer is None or self._loop is None:
            raise RuntimeError("AsyncProducer used outside 'async with'")
        future: asyncio.Future[Delivered] = self._loop.create_future()
        try:
            callback = partial(self._on_delivery, future)
            extra: dict[str, Any] = {}
            if headers:
                extra["headers"] = list(headers)
            if partition is not None:
                extra["partition"] = partition
            self._producer.produce(topic, value, key, on_delivery=callback, **extra)
        except BufferError as exc:
            raise ProduceError("the producer's local queue is full", retriable=True, code="QUEUE_FULL") from exc
        except KafkaException as exc:
            raise _failure(exc.args[0]) from exc
        if self._polling is None:
            self._polling = self._loop.call_soon(self._poll)
        return future

    def send_many(self, records: Sequence[Record]) -> asyncio.Future[list[ProduceError | None]]:
        """Enqueue every record; the future resolves once each was acknowledged or failed, with
        one entry per record: None when stored, else its ProduceError.

        One future for the whole batch, resolved by a countdown in the delivery reports: a batch
        of thousands costs no task or future per record (``asyncio.gather`` over ``send`` spent
        an eighth of the router's CPU on them)."""
        if self._producer is None or self._loop is None:
            raise RuntimeError("AsyncProducer used outside 'async with'")
        done: asyncio.Future[list[ProduceError | None]] = self._loop.create_future()
        results: list[ProduceError | None] = [None] * len(records)
        remaining = [len(records)]

        def settle(index: int, error: ProduceError | None) -> None:
            results[index] = error
            remaining[0] -= 1
            if remaining[0] == 0 and not done.done():
                done.set_result(results)

        produce = self._producer.produce
        for index, (topic, value, key, headers, partition) in enumerate(records):
            report = partial(self._report, settle, index)
            try:
                if partition is None:
                    produce(topic, value, key, on_delivery=report, headers=list(headers) if headers else None)
                else:
                    produce(
                        topic, value, key, partition, on_delivery=report, headers=list(headers) if headers else None
                    )
            except BufferError:
                settle(index, ProduceError("the producer's local queue is full", retriable=True, code="QUEUE_FULL"))
            except KafkaException as exc:
                settle(index, _failure(exc.args[0]))
        if not records:
            done.set_result(results)
        if self._polling is None:
            self._polling = self._loop.call_soon(self._poll)
        return done

    async def ping(self, timeout_s: float = 2.0) -> None:
        """A metadata round trip to the cluster; ProduceError when it does not answer in time."""
        if self._producer is None:
            raise RuntimeError("AsyncProducer used outside 'async with'")
        try:
            await asyncio.to_thread(self._producer.list_topics, None, timeout_s)
        except KafkaException as exc:
            raise ProduceError(exc.args[0].str(), retriable=True, code=exc.args[0].name()) from exc
        self._reached()

    async def close(self, timeout_s: float = 10.0) -> None:
        """Wait for outstanding records (up to ``timeout_s``), then stop; what is left fails."""
        if self._producer is None:
            return
        deadline = time.monotonic() + timeout_s
        while len(self._producer) > 0 and time.monotonic() < deadline:
            self._producer.poll(0)
            await asyncio.sleep(0.005)
        self._producer.purge()  # fails what never got an answer, so no caller waits forever
        self._producer.poll(0)
        if self._polling is not None:
            self._polling.cancel()
        if self._idle is not None:
            self._idle.cancel()
        if self._probe is not None:
            self._probe.cancel()
        self._producer = None

    def _poll(self) -> None:
        """Serve ready delivery reports; keep polling while records are outstanding."""
        self._polling = None
        if self._producer is None or self._loop is None:
            return
        self._producer.poll(0)
        if len(self._producer) > 0:
            self._polling = self._loop.call_later(_POLL_INTERVAL_S, self._poll)

    def _idle_poll(self) -> None:
        """Once a second: serve the error callback; while the cluster is lost, probe for it."""
        if self._producer is None or self._loop is None:
            return
        self._producer.poll(0)
        if not self._link.up and self._probe is None:
            self._probe = asyncio.ensure_future(
                asyncio.to_thread(self._producer.list_topics, None, _PROBE_TIMEOUT_S), loop=self._loop
            )
            self._probe.add_done_callback(self._probed)
        self._idle = self._loop.call_later(_IDLE_POLL_S, self._idle_poll)

    def _probed(self, probe: asyncio.Future[Any]) -> None:
        self._probe = None
        if not probe.cancelled() and probe.exception() is None:
            self._reached()

    def _on_error(self, error: KafkaError) -> None:
        # librdkafka's error callback, served by poll() on the loop's own thread.
        if error.code() in CLUSTER_LOST:
            log_change(log, self._link.failed(error.name(), time.monotonic()))

    def _reached(self) -> None:
        if not self._link.up:
            log_change(log, self._link.succeeded(time.monotonic()))

    def _on_delivery(self, future: asyncio.Future[Delivered], error: KafkaError | None, message: Message) -> None:
        # Runs inside poll() on the loop's own thread: futures can be resolved directly.
        if error is None:
            self._reached()
        if future.done():  # the caller gave up waiting (cancelled)
            return
        if error is not None:
            future.set_exception(_failure(error))
        else:
            future.set_result(Delivered(message.topic() or "", message.partition() or 0, message.offset() or 0))

    def _report(
        self, settle: Callable[[int, ProduceError | None], None], index: int, error: KafkaError | None, _: Message
    ) -> None:
        # Runs inside poll() on the loop's own thread.
        if error is None:
            self._reached()
        settle(index, None if error is None else _failure(error))
