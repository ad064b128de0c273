"""Event history and time-range replay on the real stack: real `crmbus worker` processes archive
every accepted event in PostgreSQL, and `crmbus events replay` sends one tenant's range through
the router again, from the lanes while Kafka holds it and from the archive once it does not.
What the CRM (the sandbox) took already is not sent again unless `--redeliver`; what it refused
is; another tenant's events are never touched."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.endpoints import Endpoints
from infra.db.event_archive import EventArchive, EventQuery
from infra.db.models import WebhookDelivery
from infra.db.routes import Routes
from infra.db.tenants import Tenants
from infra.devtools.sandbox import SandboxClient
from streams.envelope import Envelope
from streams.routes import delivery_id
from tests.integration.worker_harness import CRMBUS, PARTITIONS, SANDBOX, Bus, Workers, event, example, worker_env

SEEDED = ("crm", "financeiro", "zapi", "email", "marketing")
_REPLAYED = re.compile(r"replay ([0-9a-f-]{36}): (\d+) from the lanes, (\d+) from the archive")


def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@dataclass
class Replayed:
    id: str
    from_lanes: int
    from_archive: int


@dataclass
class History:
    """Two tenants at the sandbox, their leads accepted and handled once: the CRM took
    ``delivered`` and ``other`` (the other tenant's), and refused ``refused`` for good."""

    bus: Bus
    sandbox: SandboxClient
    workers: Workers
    other_tenant: str
    delivered: Envelope
    refused: Envelope
    other: Envelope
    start: datetime
    end: datetime

    def crm_key(self, lead: Envelope, replay: str | None = None) -> str:
        routes = Routes(self.bus.engine, actor="test").load_enabled(lead.tenant_id, "lead.created")
        (route,) = [r for r in routes if r.destination == "crm"]
        return delivery_id(lead.event_id, route.id if replay is None else f"{route.id}/{replay}")

    def crm_requests(self, lead: Envelope, replay: str | None = None) -> list:
        key = self.crm_key(lead, replay)
        return [r for r in self.sandbox.requests("crm") if r.idempotency_key == key]

    def duplicates_skipped(self, lead: Envelope) -> int:
        with Session(self.bus.engine) as session:
            rows = session.scalars(
                select(WebhookDelivery).where(
                    WebhookDelivery.delivery_id == self.crm_key(lead), WebhookDelivery.status == "duplicate"
                )
            ).all()
        return len(rows)

    def replay(self, *extra: str) -> Replayed:
        env = worker_env(
            self.bus.settings, self.bus.tmp / "cli-state", self.bus.port, CRMBUS_SECRET_KEY=self.bus.secret_key
        )
        args = [CRMBUS, "events", "replay", "--tenant", self.bus.tenant,
                "--from", self.start.isoformat(), "--to", self.end.isoformat(), *extra]  # fmt: skip
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        found = _REPLAYED.search(done.stdout.replace("\n", " "))
        assert found is not None, done.stdout
        return Replayed(found.group(1), int(found.group(2)), int(found.group(3)))


@pytest.fixture
def history(bus: Bus, sandbox: SandboxClient):
    sandbox.clear()
    other_tenant = f"o-{bus.tenant[2:]}"
    Tenants(bus.engine, actor="test").create(other_tenant, "Outra Clínica", sandbox_url=SANDBOX, stand_ins=bus.box())
    for tenant in (bus.tenant, other_tenant):
        for system in SEEDED:
            sandbox.heal(system)
            Endpoints(bus.engine, bus.box(), actor="test").update(
                tenant, system, url=sandbox.url_of(system), secret=f"sandbox-{system}-token"
            )
    workers = bus.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true").start()
    try:
        start = datetime.now(UTC) - timedelta(seconds=1)
        delivered = event(bus.tenant, "lead.created", example("lead.created", marketing_consent=True))
        refused = event(bus.tenant, "lead.created", example("lead.created", marketing_consent=True))
        other = event(other_tenant, "lead.created", example("lead.created", marketing_consent=True))
        made = History(bus, sandbox, workers, other_tenant, delivered, refused, other, start, start)
        bus.lane.send([delivered])
        until(lambda: len(made.crm_requests(delivered)) == 1, 60, "the CRM to take the first lead")
        sandbox.fail("crm", status=400, count=1)  # a permanent error: dead-lettered, never retried
        bus.lane.send([refused])
        until(lambda: len(made.crm_requests(refused)) == 1, 30, "the CRM to refuse the second lead")
        bus.lane.send([other])
        until(lambda: len(made.crm_requests(other)) == 1, 30, "the CRM to take the other tenant's lead")
        made.end = datetime.now(UTC) + timedelta(seconds=1)
        archive = EventArchive(bus.engine, bus.box())
        window = EventQuery(made.start, made.end)
        until(
            lambda: len(archive.search(bus.tenant, window)) == 2 and len(archive.search(other_tenant, window)) == 1,
            30,
            "the archive to hold the three events",
        )
        yield made
    finally:
        workers.stop()


def _assert_replays(history: History, source: str) -> None:
    """The replay without, then with ``--redeliver``: which CRM deliveries go out again."""
    delivered, refused, other = history.delivered, history.refused, history.other
    first = history.replay()
    assert (first.from_lanes, first.from_archive) == ((2, 0) if source == "lanes" else (0, 2))
    # The refused lead was never delivered: the replay delivers it, under its own delivery id.
    until(lambda: [r.status for r in history.crm_requests(refused)] == [400, 201], 60, "the refused lead delivered")
    # The delivered one was skipped by the sink (its finished table), recorded as a duplicate.
    until(lambda: history.duplicates_skipped(delivered) == 1, 30, "the delivered lead skipped")
    assert len(history.crm_requests(delivered)) == 1

    again = history.replay("--redeliver")
    assert (again.from_lanes, again.from_archive) == ((2, 0) if source == "lanes" else (0, 2))
    until(
        lambda: (
            len(history.crm_requests(delivered, again.id)) == 1 and len(history.crm_requests(refused, again.id)) == 1
        ),
        60,
        "both leads delivered again under new delivery ids",
    )
    assert [r.applied for r in history.crm_requests(delivered, again.id)] == [True]
    assert len(history.crm_requests(delivered)) == 1 and len(history.crm_requests(refused)) == 2
    # The other tenant's lead, in the same range and lane, went to the CRM once, at the start.
    assert len(history.crm_requests(other)) == 1
    assert len(history.sandbox.requests("crm")) == 6


def test_a_range_still_in_the_lanes_is_replayed_from_them_and_delivered_only_where_it_was_not(history):
    _assert_replays(history, "lanes")


def test_a_range_deleted_from_the_lanes_is_replayed_from_the_archive(history, kafka_admin: AdminClient):
    bus = history.bus
    lane = bus.topic("crmbus.events")
    probe = Consumer({"bootstrap.servers": bus.settings.kafka_bootstrap, "group.id": f"probe-{bus.tenant}"})
    try:
        ends = [
            TopicPartition(lane, partition, probe.get_watermark_offsets(TopicPartition(lane, partition), 10)[1])
            for partition in range(PARTITIONS)
        ]
    finally:
        probe.close()
    for future in kafka_admin.delete_records([end for end in ends if end.offset > 0]).values():
        future.result(timeout=30)
    _assert_replays(history, "archive")
