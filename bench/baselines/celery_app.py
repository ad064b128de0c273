"""The Celery + Redis baseline: one task per event that makes its three deliveries.

As a Celery user would write it: the front end calls ``fan_out.delay(...)``; the worker runs
the prefork pool (``--concurrency`` = cores), each child with one keep-alive ``httpx.Client``
made after the fork; acks late (a worker killed mid-task leaves the event queued, as crmbus
keeps it in Kafka), no result backend, and ``autoretry_for`` with exponential backoff and
jitter. One task per event rather than three: the three deliveries share a connection pool
and a message, and a retry repeats the deliveries that already succeeded under the same
``Idempotency-Key``, which the destinations recognise.

Started as ``celery -A bench.baselines.celery_app worker``; reads ``BENCH_REDIS_URL`` and
``BENCH_DESTINATION_URL``.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from celery import Celery, Task  # type: ignore[import-untyped]
from celery.signals import worker_process_init  # type: ignore[import-untyped]

from bench.baselines.deliveries import RETRIES, DeliveryFailed, post_all

app = Celery("bench_e2e", broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
_clients: list[httpx.Client] = []


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _open_client(**_: Any) -> None:
    """Each prefork child its own keep-alive pool (a client made before the fork would be shared)."""
    _clients[:] = [httpx.Client(base_url=os.environ["BENCH_DESTINATION_URL"], timeout=10.0)]


@app.task(
    bind=True, autoretry_for=(httpx.HTTPError, DeliveryFailed), retry_backoff=True, retry_backoff_max=60,
    retry_jitter=True, max_retries=RETRIES,
)  # type: ignore[untyped-decorator]  # fmt: skip
def fan_out(self: Task, event_id: str, payload: dict[str, Any]) -> None:
    post_all(_clients[0], event_id, payload)
