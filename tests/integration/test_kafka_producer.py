"""``await send()`` returns only once the broker holds the record, and fails in bounded time when it cannot."""

import asyncio

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from connectors.kafka.admin import apply_catalogue
from connectors.kafka.producer import AsyncProducer, producer_config
from connectors.kafka.watermarks import high_watermark
from schemas.catalogue import Catalogue, load_catalogue
from streams.errors import ProduceError
from tests.integration.ingress_harness import end_offsets


def lane(prefix):
    spec = load_catalogue().with_prefix(prefix)[f"{prefix}crmbus.events"]
    return Catalogue({spec.name: spec}), spec.name


async def send_all(config, topic, count):
    async with AsyncProducer(config) as producer:
        futures = [producer.send(topic, f"event-{i}".encode(), key=f"tenant-{i % 7}".encode()) for i in range(count)]
        return await asyncio.gather(*futures)


def test_every_acknowledged_record_is_in_the_topic_and_a_tenant_keeps_one_partition(
    kafka_bootstrap, kafka_admin, topic_prefix
):
    catalogue, topic = lane(topic_prefix)
    apply_catalogue(kafka_admin, catalogue, replication_factor=1)
    delivered = asyncio.run(send_all(producer_config({"bootstrap.servers": kafka_bootstrap}, 10, 5), topic, 2_000))

    assert len({(d.partition, d.offset) for d in delivered}) == 2_000
    assert end_offsets(kafka_bootstrap, [topic], catalogue[topic].partitions)[topic] == 2_000
    by_tenant = {}
    for i, d in enumerate(delivered):
        by_tenant.setdefault(i % 7, set()).add(d.partition)
    assert all(len(partitions) == 1 for partitions in by_tenant.values())


def test_a_batch_sent_at_once_reports_each_record_and_an_explicit_partition_is_kept(
    kafka_bootstrap, kafka_admin, topic_prefix
):
    catalogue, topic = lane(topic_prefix)
    apply_catalogue(kafka_admin, catalogue, replication_factor=1)
    missing = f"{topic_prefix}no-such-topic"
    records = [(topic, f"event-{i}".encode(), b"tenant", None, i % 6) for i in range(1_000)]

    async def send() -> list:
        async with AsyncProducer(producer_config({"bootstrap.servers": kafka_bootstrap}, 1.5, 5)) as producer:
            return await producer.send_many([*records, (missing, b"x", None, None, None)])

    *stored, refused = asyncio.run(send())
    assert stored == [None] * 1_000
    assert isinstance(refused, ProduceError)
    probe = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "producer-test-probe"})
    try:
        per_partition = [high_watermark(probe, topic, p) for p in range(6)]
    finally:
        probe.close()
    assert per_partition == [167, 167, 167, 167, 166, 166]  # i % 6 over 1,000 records, whatever the key says


def test_a_topic_that_does_not_exist_fails_the_send_instead_of_creating_it(kafka_bootstrap, topic_prefix):
    async def attempt():
        async with AsyncProducer(producer_config({"bootstrap.servers": kafka_bootstrap}, 1.5, 5)) as producer:
            await asyncio.wait_for(producer.send(f"{topic_prefix}no.such.topic", b"x"), timeout=30)

    with pytest.raises(ProduceError):
        asyncio.run(attempt())


def test_with_the_broker_down_sends_fail_in_bounded_time_and_succeed_after_restart(own_kafka):
    own_kafka.up()
    bootstrap = own_kafka.settings.kafka_bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    catalogue, topic = lane("")
    apply_catalogue(admin, catalogue, replication_factor=1)
    config = producer_config({"bootstrap.servers": bootstrap}, delivery_timeout_s=2, linger_ms=5)

    async def scenario():
        async with AsyncProducer(config) as producer:
            before = await asyncio.gather(*[producer.send(topic, b"before") for _ in range(100)])
            await asyncio.to_thread(own_kafka.down)
            with pytest.raises(ProduceError) as failed:
                await asyncio.wait_for(producer.send(topic, b"while-down"), timeout=20)
            await asyncio.to_thread(own_kafka.up)
            after = await asyncio.wait_for(producer.send(topic, b"after"), timeout=30)
            return before, failed.value, after

    before, failure, after = asyncio.run(scenario())
    assert len(before) == 100
    assert failure.retriable or failure.code == "_MSG_TIMED_OUT"
    assert after.offset >= 0
    # Records acknowledged before the stop survived it; the failed one may or may not be there.
    assert end_offsets(bootstrap, [topic], catalogue[topic].partitions)[topic] >= 101


def test_an_idle_producer_logs_the_broker_lost_once_and_back_once(own_kafka, caplog):
    own_kafka.up()
    config = producer_config({"bootstrap.servers": own_kafka.settings.kafka_bootstrap}, 2, 5)

    def changes() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "connectors.kafka.producer"]

    async def until(condition, timeout_s: float, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not condition():
            assert asyncio.get_running_loop().time() < deadline, f"not within {timeout_s} s: {what}; saw {changes()}"
            await asyncio.sleep(0.2)

    async def scenario():
        async with AsyncProducer(config) as producer:
            await producer.ping()
            await asyncio.to_thread(own_kafka.down)
            await until(lambda: "kafka_unreachable" in changes(), 30, "the loss logged")
            await asyncio.to_thread(own_kafka.up)
            await until(lambda: "kafka_reachable_again" in changes(), 30, "the return logged")

    with caplog.at_level("WARNING", logger="connectors.kafka.producer"):
        asyncio.run(scenario())
    assert changes() == ["kafka_unreachable", "kafka_reachable_again"]
