"""Where the test session's Kafka broker and PostgreSQL come from, in this order:

1. ``CRMBUS_KAFKA_BOOTSTRAP`` / ``CRMBUS_DATABASE_URL`` when set: an existing cluster;
2. testcontainers, when a Docker engine answers;
3. otherwise the local jars broker and crmbus's own PostgreSQL cluster (``infra/``).

Whatever the session started, it stops at the end; what it found running, it leaves.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from infra.core.settings import Settings
from infra.local.kafka_node import LocalKafka
from infra.local.postgres_node import LocalPostgres

KAFKA_IMAGE = "confluentinc/cp-kafka:7.7.1"
POSTGRES_IMAGE = "postgres:16-alpine"


def docker_answers() -> bool:
    """Whether a Docker engine answers ``GET /_ping`` on DOCKER_HOST or the default socket."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(3)
            address: str | tuple[str, int] = host.removeprefix("unix://")
        else:
            name, _, port = host.removeprefix("tcp://").rpartition(":")
            conn, address = socket.socket(socket.AF_INET, socket.SOCK_STREAM), (name, int(port))
            conn.settimeout(3)
        with conn:
            conn.connect(address)
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = conn.recv(64)
        return reply.startswith(b"HTTP/1.") and b" 200 " in reply
    except (OSError, ValueError):
        return False


@contextmanager
def kafka_bootstrap() -> Iterator[str]:
    if "CRMBUS_KAFKA_BOOTSTRAP" in os.environ:
        yield os.environ["CRMBUS_KAFKA_BOOTSTRAP"]
    elif docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield container.get_bootstrap_server()
    else:
        node = LocalKafka(Settings())
        started = node.up()
        try:
            yield node.settings.kafka_bootstrap
        finally:
            if started:
                node.down()


@contextmanager
def database_url() -> Iterator[str]:
    if "CRMBUS_DATABASE_URL" in os.environ:
        yield os.environ["CRMBUS_DATABASE_URL"]
    elif docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver="psycopg") as container:
            yield container.get_connection_url()
    else:
        settings = Settings()
        node = LocalPostgres(settings)
        started = node.up()
        try:
            yield settings.database_url.get_secret_value()
        finally:
            if started:
                node.down()
