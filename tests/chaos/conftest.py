"""The chaos suite's stage: a ledger destination, this test's topics and schema, six tenants
(one per lane partition) delivering to the ledger. Every test here is marked ``chaos``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.chaos_harness import LANE_PARTITIONS, Stage, ledger_server, stage
from bench.chaos_ledger import LedgerClient
from infra.core.settings import Settings
from tests.integration.ingress_harness import isolated_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.chaos)


@pytest.fixture
def ledger(tmp_path) -> Iterator[LedgerClient]:
    with ledger_server(tmp_path) as client:
        yield client


def tenants_of(unique: str) -> list[str]:
    return [f"t-{unique[-8:]}-{index}" for index in range(LANE_PARTITIONS)]


@pytest.fixture
def settings(kafka_bootstrap, database_url, unique, topic_prefix) -> Settings:
    return isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix)


@pytest.fixture
def shared_stage(settings, migrated, ledger, unique, tmp_path) -> Stage:
    """On the session's Kafka and PostgreSQL."""
    return stage(settings, migrated, ledger, tmp_path, tenants_of(unique))
