"""``crmbus demo`` against the bus ``crmbus up`` runs: post the mix, make one destination fail
for a while, and show each delivery arriving, the failed attempts, and the circuit opening and
closing, until everything due has arrived or the time is up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from infra.core.settings import Settings
from infra.db.routes import Routes
from infra.devtools.demo.mix import DemoEvent
from infra.devtools.demo.tally import Expected, Tally
from infra.devtools.sandbox import Received, SandboxClient
from infra.devtools.sandbox.contracts import SYSTEMS, System
from streams.envelope import Envelope
from streams.routes import fan_out


@dataclass
class CircuitLog:
    """When each destination's circuit was seen opening and closing, in seconds since the start."""

    open_now: set[str] = field(default_factory=set)
    events: list[tuple[float, str, str]] = field(default_factory=list)

    def observe(self, elapsed_s: float, open_now: set[str]) -> None:
        for destination in sorted(open_now - self.open_now):
            self.events.append((elapsed_s, destination, "opened"))
        for destination in sorted(self.open_now - open_now):
            self.events.append((elapsed_s, destination, "closed"))
        self.open_now = open_now


def expected_deliveries(
    routes: Routes, tenant_id: str, posted: Sequence[tuple[DemoEvent, uuid.UUID]]
) -> list[Expected]:
    """What the tenant's routes make of each posted event, computed as the router does."""
    by_type = {t: routes.load_enabled(tenant_id, t) for t in {event.type for event, _ in posted}}
    now = datetime.now(UTC)
    expected = []
    for event, event_id in posted:
        envelope = Envelope(tenant_id, event.type, "api", event.payload, event_id=event_id, received_at=now)
        for planned in fan_out(envelope, by_type[event.type]).deliveries:
            expected.append(Expected(planned.delivery_id, planned.route.destination, event.kind, planned.not_before))
    return expected


def open_circuits(settings: Settings, client: httpx.Client) -> set[str]:
    """Destinations whose circuit some worker process reports open (from their /metrics)."""
    found: set[str] = set()
    for index in range(settings.worker_processes):
        try:
            text = client.get(f"http://127.0.0.1:{settings.worker_web_port + index}/metrics").text
        except httpx.HTTPError:
            continue
        for family in text_string_to_metric_families(text):
            if family.name == "crmbus_circuits_open":
                found |= {s.labels["destination"] for s in family.samples if s.value > 0}
    return found


def journal(sandbox: SandboxClient, systems: Sequence[System]) -> list[Received]:
    return [received for system in systems for received in sandbox.requests(system)]


def view(
    tally: Tally, received: Sequence[Received], circuits: CircuitLog, posted: int, total: int, elapsed: float
) -> Group:
    table = Table(title=f"crmbus demo — {posted}/{total} events accepted, {elapsed:.0f} s")
    for column in ("destination", "delivered", "failed attempts", "scheduled for later", "circuit"):
        table.add_column(column, justify="left" if column == "destination" else "right")
    for row in tally.destinations(received):
        done = "[green]" if row.delivered == row.expected else "[yellow]"
        table.add_row(
            row.destination,
            f"{done}{row.delivered}/{row.expected}[/]",
            str(row.failed_attempts) if row.failed_attempts else "",
            str(row.scheduled) if row.scheduled else "",
            "[red]open[/]" if row.destination in circuits.open_now else "closed",
        )
    lines = [f"  +{at:.0f} s  {destination} circuit {what}" for at, destination, what in circuits.events]
    return Group(table, *lines)


def summary(tally: Tally, received: Sequence[Received], console: Console) -> None:
    table = Table(title="every seed flow, at the sandbox")
    for column in ("event", "deliveries (delivered/expected)", "later"):
        table.add_column(column)
    for flow in tally.flows(received):
        parts = [f"{d} {got}/{want}" for d, got, want in flow.destinations]
        later = f"{flow.scheduled} due in 2 h (feedback request)" if flow.scheduled else ""
        table.add_row(flow.kind, ", ".join(parts), later)
    console.print(table)


def run_demo(
    settings: Settings,
    routes: Routes,
    api_key: str,
    events: Sequence[DemoEvent],
    *,
    failing: System,
    failures: int,
    timeout_s: float,
    console: Console,
) -> int:
    """Post, watch, summarise; 0 when every delivery due now arrived within ``timeout_s``."""
    ingress = f"http://{settings.ingress_host}:{settings.ingress_port}"
    headers = {"Authorization": f"Bearer {api_key}"}
    with SandboxClient(settings.sandbox_url) as sandbox, httpx.Client(timeout=5.0) as http:
        sandbox.fail(failing, status=503, count=failures)
        circuits = CircuitLog()
        posted: list[tuple[DemoEvent, uuid.UUID]] = []
        began = time.monotonic()
        tally = Tally([])
        received: list[Received] = []
        try:
            with Live(console=console, refresh_per_second=4) as live:
                for event in events:
                    answer = http.post(
                        f"{ingress}/v1/events",
                        json={"type": event.type, "payload": event.payload},
                        headers={**headers, "Idempotency-Key": event.idempotency_key},
                    )
                    if answer.status_code != 202:
                        console.print(f"[red]{event.kind}: {answer.status_code}[/] {answer.text}")
                        return 1
                    posted.append((event, uuid.UUID(answer.json()["event_id"])))
                    live.update(view(tally, received, circuits, len(posted), len(events), time.monotonic() - began))
                    time.sleep(0.05)
                tally = Tally(expected_deliveries(routes, "demo", posted))
                if not tally.expected:
                    console.print("[red]the demo tenant has no enabled routes[/]: 'crmbus tenants seed demo' adds them")
                    return 1
                systems = [s for s in SYSTEMS if any(e.destination == s for e in tally.expected)]
                while True:
                    elapsed = time.monotonic() - began
                    received = journal(sandbox, systems)
                    circuits.observe(elapsed, open_circuits(settings, http))
                    live.update(view(tally, received, circuits, len(posted), len(events), elapsed))
                    if not tally.missing(received) and not circuits.open_now:
                        break
                    if elapsed > timeout_s:
                        break
                    time.sleep(0.5)
        finally:
            sandbox.heal(failing)
        console.print()
        summary(tally, received, console)
        missing = tally.missing(received)
        if missing:
            console.print(f"[red]{len(missing)} deliveries did not arrive within {timeout_s:.0f} s[/]")
            return 1
        console.print(f"[green]every delivery due now arrived[/] in {time.monotonic() - began:.0f} s")
        return 0
