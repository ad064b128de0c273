"""Session-wide real servers, and per-test isolation by unique topic names and schemas."""

from __future__ import annotations

import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from infra.core.settings import Settings
from infra.db.engine import make_engine
from infra.db.migrate import upgrade
from infra.local.kafka_node import LocalKafka
from tests import services


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under tests/unit are ``unit``, under tests/integration ``integration``."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for kind in ("unit", "integration"):
            if kind in parts:
                item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with services.kafka_bootstrap() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with services.database_url() as url:
        yield url


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of this test's own (free ports, private state), for tests that stop brokers."""
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(), state_dir=tmp_path
    )
    node = LocalKafka(settings)
    yield node
    node.down()


@pytest.fixture
def own_postgres_dir() -> Iterator[Path]:
    """A private data directory for a PostgreSQL cluster of the test's own."""
    # Not pytest's tmp_path: as root, the server runs as 'postgres', which cannot enter /tmp/pytest-of-root.
    directory = Path(tempfile.mkdtemp(prefix="crmbus-pg-test-", dir="/var/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def unique() -> str:
    """A short name no other test (or earlier run) uses: prefix topics and schemas with it."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic_prefix(unique: str, kafka_admin: AdminClient) -> Iterator[str]:
    """A prefix for this test's topics; they are deleted afterwards."""
    prefix = f"{unique}."
    yield prefix
    mine = [name for name in kafka_admin.list_topics(timeout=10).topics if name.startswith(prefix)]
    if mine:
        for future in kafka_admin.delete_topics(mine, operation_timeout=30).values():
            future.result()


@pytest.fixture
def db_schema(database_url: str, unique: str) -> Iterator[Callable[[], Engine]]:
    """A fresh schema holding this test's tables, dropped afterwards. Yields an engine factory."""
    url = make_url(database_url)
    engines: list[Engine] = []

    def engine() -> Engine:
        engines.append(make_engine(url, schema=unique, pool_size=2))
        return engines[-1]

    yield engine
    for created in engines:
        created.dispose()
    admin = make_engine(url, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{unique}" CASCADE'))
    admin.dispose()


@pytest.fixture
def migrated(db_schema: Callable[[], Engine], unique: str) -> Engine:
    """An engine on a fresh schema migrated to head."""
    engine = db_schema()
    upgrade(engine, schema=unique)
    return engine
