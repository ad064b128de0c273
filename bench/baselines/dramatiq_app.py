"""The Dramatiq + Redis baseline: one actor message per event that makes its three deliveries.

Run as ``dramatiq bench.baselines.dramatiq_app --processes 2 --threads 8`` (one process per
core, threads for the I/O wait), each thread with its own keep-alive ``httpx.Client``.
Dramatiq acks a message after the actor returns and retries a failed one with exponential
backoff (its ``Retries`` middleware); as with Celery, a retry repeats the event's deliveries
under the same ``Idempotency-Key``. Reads ``BENCH_REDIS_URL`` and ``BENCH_DESTINATION_URL``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import dramatiq
import httpx
from dramatiq.brokers.redis import RedisBroker

from bench.baselines.deliveries import RETRIES, post_all

_redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
dramatiq.set_broker(RedisBroker(url=_redis_url))  # type: ignore[no-untyped-call]
_local = threading.local()


def _client() -> httpx.Client:
    client: httpx.Client | None = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(base_url=os.environ["BENCH_DESTINATION_URL"], timeout=10.0)
    return client


@dramatiq.actor(max_retries=RETRIES, min_backoff=100, max_backoff=60_000)
def fan_out(event_id: str, payload: dict[str, Any]) -> None:
    post_all(_client(), event_id, payload)
