"""A tenant created from the command line works at once: in development its seed destinations get
the sandbox's stand-in credentials and deliver; elsewhere its seed routes wait, paused, with the
command that configures each destination, and no event is dead-lettered meanwhile. The demo
tenant `crmbus up` makes starts complete."""

from __future__ import annotations

import re

import httpx
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from infra.cli import app
from infra.core.secret_box import SecretBox
from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys
from infra.db.endpoints import Endpoints
from infra.db.routes import Routes
from infra.db.tenants import Tenants
from infra.devtools.demo_tenant import ensure_demo_tenant
from infra.devtools.sandbox import SandboxClient
from streams.errors import ConfigurationError
from streams.routes import delivery_id
from streams.seed_flows import SEED_DESTINATIONS, SEED_ROUTES
from tests.conftest import free_port
from tests.integration.ingress_harness import end_offsets
from tests.integration.test_delivery import until, workers
from tests.integration.worker_harness import Bus, event, example


@pytest.fixture
def crmbus(bus: Bus, tmp_path, monkeypatch):
    """`crmbus ...` in this process, on the bus's database and secret key; ``sandbox_url`` chooses
    where the seed destinations point (a sandbox that answers, or none)."""
    monkeypatch.setenv("CRMBUS_DATABASE_URL", bus.settings.database_url.get_secret_value())
    monkeypatch.setenv("CRMBUS_SECRET_KEY", bus.secret_key)
    monkeypatch.setenv("CRMBUS_STATE_DIR", str(tmp_path / "cli"))

    def invoke(*args: str, sandbox_url: str, stdin: str | None = None) -> str:
        monkeypatch.setenv("CRMBUS_SANDBOX_URL", sandbox_url)
        result = CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def lead_of(tenant: str):
    return event(tenant, "lead.created", example("lead.created", marketing_consent=False))


def routes_loaded(port: int) -> int:
    """How many routes the worker answering on ``port`` applies (its /health)."""
    return int(httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["routes"])


def route_to(bus: Bus, tenant: str, destination: str) -> str:
    [route] = [r for r in Routes(bus.engine).load_enabled(tenant, "lead.created") if r.destination == destination]
    return route.id


def test_a_tenant_created_for_its_first_key_where_the_sandbox_answers_delivers_there(bus, sandbox, crmbus):
    sandbox.clear()
    output = crmbus("apikeys", "create", "--tenant", "acme", sandbox_url=sandbox.url)
    assert "no credential yet" not in output
    lead = lead_of("acme")
    running = workers(bus).start()
    try:
        bus.lane.send([lead])
        until(
            lambda: len(sandbox.applied("crm")) == 1 and len(sandbox.applied("zapi")) == 1, 60, "the lead's deliveries"
        )
    finally:
        running.stop()
    assert [r.idempotency_key for r in sandbox.applied("crm")] == [
        delivery_id(lead.event_id, route_to(bus, "acme", "crm"))
    ]
    assert end_offsets(bus.settings.kafka_bootstrap, [bus.topic("crmbus.dlq")]) == {bus.topic("crmbus.dlq"): 0}


def test_a_tenant_created_where_no_sandbox_answers_waits_paused_and_dead_letters_nothing(
    bus: Bus, sandbox: SandboxClient, crmbus
):
    sandbox.clear()
    nowhere = f"http://127.0.0.1:{free_port()}"
    output = crmbus("apikeys", "create", "--tenant", "acme", sandbox_url=nowhere)
    assert f"{len(SEED_DESTINATIONS)} destinations have no credential yet; their routes are paused" in output
    assert 'printf %s "$SECRET" | crmbus destinations set --tenant acme --name crm --url URL --secret-stdin' in output

    listing = crmbus("routes", "list", "--tenant", "acme", "--all", sandbox_url=nowhere)
    states = re.findall(r"due (?:now|in \w+)  (\w+) v\d", listing)
    assert len(states) == len(SEED_ROUTES) and set(states) == {"paused"}
    assert "destination crm: a crm destination needs a secret; set it with: printf" in listing
    paused = listing.split()[0]
    with pytest.raises(ConfigurationError, match="stays paused: destination"):
        crmbus("routes", "enable", paused, sandbox_url=nowhere)

    # Z-API configured: the lead's reply is sent, which shows the router took the lead; the CRM
    # route stays paused, so the lead makes no CRM delivery and nothing reaches the DLQ.
    base = sandbox.url
    crmbus("destinations", "set", "--tenant", "acme", "--name", "zapi", "--url", f"{base}/zapi", "--secret-stdin",
           sandbox_url=nowhere, stdin="zapi-token\n")  # fmt: skip
    first, second = lead_of("acme"), lead_of("acme")
    running = workers(bus).start()
    try:
        bus.lane.send([first])
        until(lambda: len(sandbox.applied("zapi")) == 1, 60, "the first lead's WhatsApp reply")
        resumed = crmbus(
            "destinations", "set", "--tenant", "acme", "--name", "crm", "--url", f"{base}/crm", "--secret-stdin",
            sandbox_url=nowhere, stdin="crm-token\n",
        )  # fmt: skip
        assert "3 routes to it were paused for lack of its credential: resumed" in resumed
        enabled = len(Routes(bus.engine).load_enabled())
        until(lambda: routes_loaded(bus.port) == enabled, 30, "the workers load the resumed routes")
        bus.lane.send([second])
        until(lambda: len(sandbox.applied("crm")) == 1, 60, "the second lead at the CRM")
    finally:
        running.stop()
    assert [r.idempotency_key for r in sandbox.applied("crm")] == [
        delivery_id(second.event_id, route_to(bus, "acme", "crm"))
    ]
    assert end_offsets(bus.settings.kafka_bootstrap, [bus.topic("crmbus.dlq")]) == {bus.topic("crmbus.dlq"): 0}


def test_the_demo_tenant_starts_with_stand_in_credentials_and_every_seed_route_enabled(migrated, tmp_path):
    endpoints = Endpoints(migrated, SecretBox(Fernet.generate_key()), actor="test")
    settings = Settings(state_dir=tmp_path)
    demo = ensure_demo_tenant(Tenants(migrated, actor="test"), endpoints, ApiKeys(migrated), settings)
    assert demo.created
    destinations = endpoints.list(demo.tenant_id)
    assert len(destinations) == len(SEED_DESTINATIONS)
    assert all(view.has_secret and view.missing == () for view in destinations)
    listed = Routes(migrated).list(demo.tenant_id, include_disabled=True)
    assert len(listed) == len(SEED_ROUTES) and all(r.enabled and r.paused is None for r in listed)


def test_the_demo_tenant_has_a_producers_key_and_an_operators_key_kept_across_ups(migrated, tmp_path):
    endpoints = Endpoints(migrated, SecretBox(Fernet.generate_key()), actor="test")
    settings, keys = Settings(state_dir=tmp_path), ApiKeys(migrated)
    first = ensure_demo_tenant(Tenants(migrated, actor="test"), endpoints, keys, settings)
    producer, operator = keys.principal(first.api_key), keys.principal(first.operator_key)
    assert producer.may("events:write") and not producer.may("dlq:replay")
    assert operator.may("dlq:replay") and operator.tenant_id == "demo" and not operator.may("admin")
    assert (tmp_path / "bus" / "operator.key").read_text().strip() == first.operator_key
    again = ensure_demo_tenant(Tenants(migrated, actor="test"), endpoints, keys, settings)
    assert (again.api_key, again.operator_key) == (first.api_key, first.operator_key)
