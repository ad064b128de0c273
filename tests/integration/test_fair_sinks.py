"""Fair sinks, run as a real `crmbus worker` against sandbox destinations on loopback: one tenant's
slow destination does not hold another tenant's deliveries of the same kind, a healed destination
gets its traffic back within 30 s, circuit states survive a restart, and an ordered destination
keeps its order across a retry."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.db.endpoints import Endpoints
from infra.db.tenants import Tenants
from infra.devtools.sandbox import SandboxClient
from streams.deadlines import wait_until
from streams.envelope import Envelope
from streams.routes import delivery_id
from tests.conftest import free_port
from tests.integration.worker_harness import SANDBOX, Bus, TopicReader, Workers, delivery_codec, event, example

SEEDED = ("crm", "financeiro", "zapi", "email", "marketing")


def _sandbox(log_dir: Path) -> Iterator[SandboxClient]:
    port = free_port()
    with (log_dir / "sandbox.log").open("wb") as log:
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


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Iterator[SandboxClient]:
    yield from _sandbox(tmp_path_factory.mktemp("sandbox"))


@pytest.fixture(scope="module")
def other_sandbox(tmp_path_factory) -> Iterator[SandboxClient]:
    """A second set of destinations, for a second tenant."""
    yield from _sandbox(tmp_path_factory.mktemp("other-sandbox"))


def point(bus: Bus, tenant: str, sandbox: SandboxClient) -> None:
    """``tenant``'s seeded destinations at ``sandbox``, healthy and with credentials."""
    for system in SEEDED:
        sandbox.heal(system)
        Endpoints(bus.engine, bus.box(), actor="test").update(
            tenant, system, url=sandbox.url_of(system), secret=f"sandbox-{system}-token"
        )


@pytest.fixture
def wired(bus: Bus, sandbox: SandboxClient) -> Bus:
    sandbox.clear()
    point(bus, bus.tenant, sandbox)
    return bus


def workers(bus: Bus, **env: str) -> Workers:
    return bus.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true", **env)


def until(condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every_s)


def lead(tenant: str, **changes: object) -> Envelope:
    return event(tenant, "lead.created", example("lead.created", marketing_consent=True, **changes))


def retry_reader(bus: Bus) -> TopicReader:
    """The retry tiers, their Delivery records decoded."""
    tiers = [bus.topic(f"crmbus.retry.{tier}") for tier in ("5s", "30s", "2m", "10m", "1h", "6h")]
    return TopicReader(bus.settings.kafka_bootstrap, tiers, delivery_codec_of)


def delivery_codec_of(topic: str, value: bytes) -> dict:
    return delivery_codec(topic).decode(value)


def test_a_tenants_slow_destination_does_not_hold_another_tenants_deliveries_of_the_same_kind(
    wired, sandbox, other_sandbox
):
    slow_tenant, fast_tenant = wired.tenant, f"{wired.tenant}-b"
    Tenants(wired.engine, actor="test").create(fast_tenant, "Outra Clínica", sandbox_url=SANDBOX)
    other_sandbox.clear()
    point(wired, fast_tenant, other_sandbox)
    # A CRM allowed to answer slowly (its own timeouts are a minute), that answers later still.
    Endpoints(wired.engine, wired.box(), actor="test").update(
        slow_tenant, "crm", config={"timeouts": {"read": 60, "total": 60}}
    )
    sandbox.slow("crm", delay_s=120)
    retries = retry_reader(wired)
    running = workers(wired, CRMBUS_SINK_ATTEMPT_DEADLINE_S="3").start()
    try:
        wired.lane.send([lead(slow_tenant) for _ in range(5)])
        until(lambda: len(sandbox.requests("crm")) >= 1, 60, "the slow CRM to be called")
        wired.lane.send([lead(fast_tenant) for _ in range(5)])
        # Before, the batch held by the slow calls kept these waiting for the destination's timeout.
        until(lambda: len(other_sandbox.applied("crm")) == 5, 10, "the other tenant's leads at its CRM within 10 s")
        retries.poll_until(
            lambda seen: any(r.record["tenant_id"] == slow_tenant and r.record["destination"] == "crm" for r in seen),
            30,
            "the slow tenant's CRM deliveries waiting in a retry tier",
        )
    finally:
        running.stop()
        retries.close()
    waiting = {r.record["tenant_id"] for r in retries.seen if r.record["destination"] == "crm"}
    assert waiting == {slow_tenant}


def test_a_healed_destination_gets_its_traffic_back_within_30_s(wired, sandbox):
    sandbox.fail("crm", status=503)
    running = workers(wired).start()
    try:
        wired.lane.send([lead(wired.tenant) for _ in range(10)])
        # 5 failures open the circuit for 10 s; each failed probe reopens it for longer: wait for two.
        until(lambda: len(sandbox.requests("crm")) >= 7, 120, "the circuit to open and two probes to fail")
        sandbox.heal("crm")
        # Before, failed probes backed off to 60 s, 120 s…: delivery resumed 46-67 s after a 45 s fault.
        until(lambda: len(sandbox.applied("crm")) >= 1, 30, "a CRM delivery within 30 s of the heal")
    finally:
        running.stop()


def test_an_open_circuit_is_restored_after_a_restart_and_keeps_the_dead_destination_uncalled(wired, sandbox):
    sandbox.fail("crm", status=503)
    retries = retry_reader(wired)
    running = workers(wired).start()
    try:
        wired.lane.send([lead(wired.tenant) for _ in range(5)])
        until(lambda: len(sandbox.requests("crm")) >= 5, 60, "the 5 failures that open the CRM's circuit")
        running.stop()
        before = len(sandbox.requests("crm"))
        running = workers(wired).start()
        later = [lead(wired.tenant) for _ in range(10)]
        wired.lane.send(later)
        wanted = {str(e.event_id) for e in later}
        retries.poll_until(
            lambda seen: wanted <= {str(r.record["event_id"]) for r in seen if r.record["destination"] == "crm"},
            60,
            "the 10 later CRM deliveries parked in a retry tier",
        )
        after = len(sandbox.requests("crm")) - before
    finally:
        running.stop()
        retries.close()
    # A forgotten circuit would start closed and call 5 more times before opening again; the
    # restored one lets one probe through at most while it is half-open (and it fails).
    assert after <= 2


def test_an_ordered_destination_keeps_its_order_across_a_retry(wired, sandbox):
    Endpoints(wired.engine, wired.box(), actor="test").update(wired.tenant, "crm", config={"ordered": True})
    sandbox.fail("crm", status=503, count=1)  # the first call fails: that lead waits in a retry tier
    first, second = lead(wired.tenant), lead(wired.tenant)
    running = workers(wired).start()
    try:
        wired.lane.send([first])
        until(lambda: len(sandbox.requests("crm")) == 1, 60, "the first lead's failed call")
        wired.lane.send([second])  # arrives while the first waits: it must not overtake it
        until(lambda: len(sandbox.applied("crm")) == 2, 90, "both leads at the CRM")
    finally:
        running.stop()
    crm = {r.destination: r.id for r in wired.routes_of("lead.created")}["crm"]
    assert [r.idempotency_key for r in sandbox.applied("crm")] == [
        delivery_id(first.event_id, crm),
        delivery_id(second.event_id, crm),
    ]
