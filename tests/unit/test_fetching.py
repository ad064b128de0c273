import asyncio

import pytest

from agents.app import build_app
from agents.fetching import FetchBatching
from infra.settings import Settings


def test_the_workers_kafka_consumer_asks_the_broker_to_gather_the_configured_fetch(tmp_path):
    settings = Settings(worker_fetch_min_bytes=1234, worker_fetch_max_wait_ms=77, state_dir=tmp_path)

    async def built() -> tuple[int, int]:
        thread = build_app(settings).consumer._thread  # Faust's consumer thread, not started
        consumer = thread._create_worker_consumer(thread.transport)  # what its start() would open
        try:
            return consumer._fetch_min_bytes, consumer._fetch_max_wait_ms
        finally:
            await consumer.stop()
            thread.thread_loop.close()

    assert asyncio.run(built()) == (1234, 77)


@pytest.mark.parametrize(("min_bytes", "max_wait_ms"), [(0, 50), (1, -1)])
def test_fetch_batching_refuses_values_kafka_would_not_take(min_bytes, max_wait_ms):
    with pytest.raises(ValueError, match="fetch batching"):
        FetchBatching(min_bytes, max_wait_ms)
