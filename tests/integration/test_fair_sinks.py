"""Fair sinks, run as a real `crmbus worker` against sandbox destinations on loopback: a healed
destination gets its traffic back within 30 s."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.db.endpoints import Endpoints
from infra.devtools.sandbox import SandboxClient
from streams.deadlines import wait_until
from streams.envelope import Envelope
from tests.conftest import free_port
from tests.integration.worker_harness import Bus, Workers, event, example

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
