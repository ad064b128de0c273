"""Run the real ingress app on loopback against the session's Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy.engine import make_url
from yarl import URL

from connectors.kafka.watermarks import high_watermark
from infra.cli.wiring import ingress_app
from infra.core.settings import Settings

LEAD = {"name": "Ana Souza", "phone": "+55 11 99999-0000", "channel": "site"}


def isolated_settings(kafka_bootstrap: str, database_url: str, schema: str, prefix: str, **overrides: Any) -> Settings:
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=url.render_as_string(hide_password=False),
        topic_prefix=prefix,
        ingress_workers=1,
        **overrides,
    )


@asynccontextmanager
async def running_ingress(settings: Settings) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    server = TestServer(ingress_app(settings), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession(base_url=str(server.make_url(""))) as client:
            yield str(server.make_url("")), client
    finally:
        await server.close()


async def raw_post(base: str, path: str, headers: bytes, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST with header bytes as given (a client library would refuse what is not UTF-8): the
    answer's status and JSON body."""
    url = URL(base)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {url.host}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n".encode()
            + headers
            + b"\r\n"
            + body
        )
        answer = await reader.read()
    finally:
        writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(payload)


def end_offsets(bootstrap: str, topics: list[str], partitions: int = 6) -> dict[str, int]:
    """Records per topic. A partition still becoming leader right after creation is asked again."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ingress-test-probe"})

    try:
        return {topic: sum(high_watermark(consumer, topic, p) for p in range(partitions)) for topic in topics}
    finally:
        consumer.close()


def read_record(bootstrap: str, topic: str, partition: int, offset: int) -> tuple[bytes, bytes]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "ingress-test-reader", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        message = consumer.poll(15)
        assert message is not None and message.error() is None
        return message.key(), message.value()
    finally:
        consumer.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
