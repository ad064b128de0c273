"""Fetch batching for the workers' Kafka consumer: let the broker gather records before it answers.

faust-streaming creates aiokafka's consumer with ``fetch_min_bytes=1`` (fixed in its driver), so
the broker answers a fetch as soon as one record waits. Below saturation each hop then fetches a
handful of records at a time, and every fetch is a request over every assigned partition (a sink
process holds 42), encoded and decoded in pure Python by aiokafka and served by the broker: at
100 events/s that cost more CPU than the routing itself. Asking for at least
``CRMBUS_WORKER_FETCH_MIN_BYTES``, waited for at most ``CRMBUS_WORKER_FETCH_MAX_WAIT_MS``, trades
up to that wait of latency per hop at low rates for far fewer fetches; under load the bytes are
there at once and nothing waits. Measured with ``python -m bench run e2e`` (see the README).

The values are set on the consumer Faust builds, before it starts, through subclasses of the
driver's classes: Faust offers no setting for them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TransportT


@dataclass(frozen=True, slots=True)
class FetchBatching:
    """What a fetch asks the broker for: at least ``min_bytes``, waiting at most ``max_wait_ms``."""

    min_bytes: int
    max_wait_ms: int

    def __post_init__(self) -> None:
        if self.min_bytes < 1 or self.max_wait_ms < 0:
            raise ValueError("fetch batching needs min_bytes >= 1 and max_wait_ms >= 0")


# Loggers under faust.*, which the workers quiet: mode would name them after this module.
_LOGGER = logging.getLogger("faust.transport.batched_fetch")


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    logger = _LOGGER

    def _create_worker_consumer(self, transport: driver.Transport) -> Any:  # aiokafka.AIOKafkaConsumer
        consumer = super()._create_worker_consumer(transport)
        batching = getattr(self.app, "fetch_batching", None)
        if isinstance(batching, FetchBatching):
            # Read by aiokafka when start() builds its Fetcher; there is no public setter.
            consumer._fetch_min_bytes = batching.min_bytes
            consumer._fetch_max_wait_ms = batching.max_wait_ms
        return consumer


class _Consumer(driver.Consumer):
    logger = _LOGGER

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(driver.Transport):
    Consumer = _Consumer


class BatchedFetchApp(faust.App):
    """A Faust app whose consumer fetches as ``fetch_batching`` says."""

    logger = _LOGGER

    def __init__(self, *args: Any, fetch_batching: FetchBatching, **kwargs: Any) -> None:
        self.fetch_batching = fetch_batching
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)
