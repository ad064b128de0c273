"""Fixtures of the integration tests that run whole workers."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from connectors.kafka.admin import apply_catalogue
from infra.db.tenants import Tenants
from schemas.catalogue import load_catalogue
from tests.conftest import free_port
from tests.integration.ingress_harness import isolated_settings
from tests.integration.worker_harness import SANDBOX, Bus, LaneWriter


@pytest.fixture
def bus(kafka_bootstrap, kafka_admin, database_url, migrated, unique, topic_prefix, tmp_path) -> Bus:
    """This test's topics, schema and tenant (with the seed flows), ready for `crmbus worker`."""
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)
    tenant = f"t-{unique[-8:]}"
    Tenants(migrated, actor="test").create(tenant, "Clínica Teste", sandbox_url=SANDBOX)
    settings = isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix)
    lane = LaneWriter(kafka_bootstrap, topic_prefix + "crmbus.events")
    return Bus(settings, migrated, tenant, lane, tmp_path, free_port(), Fernet.generate_key().decode())
