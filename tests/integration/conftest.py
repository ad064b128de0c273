"""Fixtures of the integration tests that run whole workers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from connectors.kafka.admin import apply_catalogue
from infra.core.secret_box import SecretBox
from infra.db.tenants import Tenants
from infra.devtools.sandbox import SandboxClient
from schemas.catalogue import load_catalogue
from streams.deadlines import wait_until
from tests.conftest import free_port
from tests.integration.ingress_harness import isolated_settings
from tests.integration.worker_harness import SANDBOX, Bus, LaneWriter


@pytest.fixture
def bus(kafka_bootstrap, kafka_admin, database_url, migrated, unique, topic_prefix, tmp_path) -> Bus:
    """This test's topics, schema and tenant (with the seed flows and the sandbox's stand-in
    credentials, as in development), ready for `crmbus worker`."""
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)
    tenant = f"t-{unique[-8:]}"
    key = Fernet.generate_key()
    Tenants(migrated, actor="test").create(tenant, "Clínica Teste", sandbox_url=SANDBOX, stand_ins=SecretBox(key))
    settings = isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix)
    lane = LaneWriter(kafka_bootstrap, topic_prefix + "crmbus.events")
    return Bus(settings, migrated, tenant, lane, tmp_path, free_port(), key.decode())


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Iterator[SandboxClient]:
    """`crmbus sandbox` on a free loopback port, for one test module."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra", "sandbox", "--port", str(port)], stdout=log, stderr=log
        )
    with SandboxClient(f"http://127.0.0.1:{port}") as client:
        try:
            wait_until(client.healthy, 60, "crmbus sandbox /_control/health")
            yield client
        finally:
            process.terminate()
            process.wait(30)
