"""10,000 dead-lettered deliveries replayed through the admin API of a real `crmbus dashboard`
and a real `crmbus worker` to the sandbox CRM: each arrives exactly once (counted at the
destination by Idempotency-Key), also after a replay died between Kafka's acknowledgement of a
page and its marking, and when the dashboard was killed with SIGKILL half-way through a replay
that a new dashboard then resumed; a second replay selects nothing and calls nobody. (The CLI's
`crmbus dlq replay` is covered by test_delivery.py.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import Producer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.kafka.producer import AsyncProducer, producer_config
from infra.control.replay import Replayer
from infra.db.dead_letters import DeadLetters
from infra.db.endpoints import Endpoints
from infra.db.models import WebhookDelivery
from infra.devtools.sandbox import SandboxClient
from streams.replay_filter import ReplayFilter
from streams.routes import fan_out
from tests.integration.console_harness import base_env, key_with, start_dashboard
from tests.integration.worker_harness import Bus, delivery_codec, event, example

LETTERS = 10_000
LEASE_S = 3.0
"""The dashboards' CRMBUS_REPLAY_LEASE_S: how long a killed run keeps a resume out."""
PAGE = 500  # the engine's page, as the dashboard replays


def until(condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every_s)


class Dashboard:
    """`crmbus dashboard` processes on one port, one at a time, and an operator of the tenant."""

    def __init__(self, bus: Bus, tmp_path: Path) -> None:
        self.env = base_env(
            tmp_path,
            CRMBUS_DATABASE_URL=bus.settings.database_url.get_secret_value(),
            CRMBUS_KAFKA_BOOTSTRAP=bus.settings.kafka_bootstrap,
            CRMBUS_TOPIC_PREFIX=bus.settings.topic_prefix,
            CRMBUS_SECRET_KEY=bus.secret_key,
            CRMBUS_REPLAY_LEASE_S=str(LEASE_S),
        )
        self.tmp = tmp_path
        self.base = f"http://127.0.0.1:{self.env['CRMBUS_DASHBOARD_PORT']}/v1/tenants/{bus.tenant}"
        self.key = key_with(bus.engine, bus.tenant, "operator", name="ops").secret
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start_dashboard(self.env, self.tmp)

    def kill(self) -> None:
        """SIGKILL to the supervisor and the process serving: no shutdown code runs anywhere, the
        replay under way is not marked interrupted."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)

    def call(self, method: str, path: str, status: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.request(method, path, body)
        assert response.status_code == status, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return requests.request(
            method, self.base + path, json=body, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )


@pytest.fixture
def dashboards(bus: Bus, tmp_path: Path):
    running = Dashboard(bus, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def dead_letter_deliveries(bus: Bus, count: int) -> set[str]:
    """``count`` CRM deliveries of new leads, as the router makes them, on the CRM's deliver topic;
    their delivery ids."""
    (route,) = [r for r in bus.routes_of("lead.created") if r.destination == "crm"]
    topic = bus.topic("crmbus.deliver.crm")
    codec = delivery_codec(topic)
    producer = Producer(producer_config({"bootstrap.servers": bus.settings.kafka_bootstrap}, 30, 20))
    ids = set()
    for _ in range(count):
        lead = event(bus.tenant, "lead.created", example("lead.created"))
        (planned,) = fan_out(lead, (route,)).deliveries
        ids.add(planned.delivery_id)
        record = {
            "delivery_id": planned.delivery_id, "event_id": lead.event_id, "tenant_id": bus.tenant,
            "event_type": lead.type, "destination": "crm", "route_id": route.id, "action": route.action,
            "payload": json.dumps(planned.payload), "attempt": 0, "first_failure_at": None,
            "not_before": None, "correlation_id": None, "ordering_key": None,
        }  # fmt: skip
        producer.produce(topic, codec.encode(record), bus.tenant.encode())
        producer.poll(0)
    assert producer.flush(60) == 0
    return ids


class Crash(Exception):
    """The replaying process dying between Kafka's acknowledgement of a page and its marking."""


def crash_after_sending_pages(bus: Bus, pages: int) -> uuid.UUID:
    """A replay of the tenant's CRM letters that dies after sending ``pages`` pages, the last of
    them acknowledged by Kafka but never marked; its id."""
    started: list[uuid.UUID] = []

    class Crashing:
        def __init__(self, producer: AsyncProducer) -> None:
            self.producer, self.sent = producer, 0

        async def send_many(self, records):
            errors = await self.producer.send_many(records)
            self.sent += 1
            if self.sent == pages:
                raise Crash
            return errors

    async def run() -> None:
        config = producer_config({"bootstrap.servers": bus.settings.kafka_bootstrap}, 30, 5)
        async with AsyncProducer(config) as producer:
            replayer = Replayer(DeadLetters(bus.engine, box=bus.box()), Crashing(producer), "test", page=PAGE)
            await replayer.start(bus.tenant, ReplayFilter(destination="crm"), started=lambda r: started.append(r.id))

    with pytest.raises(Crash):
        asyncio.run(run())
    return started[0]


def outcomes(bus: Bus, status: str) -> int:
    with Session(bus.engine) as session:
        query = select(func.count()).where(WebhookDelivery.status == status, WebhookDelivery.destination == "crm")
        return int(session.execute(query).scalar_one())


@pytest.mark.timeout(1200)
def test_ten_thousand_dead_letters_replayed_through_the_api_are_each_delivered_once_through_a_crash_and_a_kill(
    bus: Bus, sandbox: SandboxClient, dashboards: Dashboard, request: pytest.FixtureRequest
):
    sandbox.clear()
    Endpoints(bus.engine, bus.box(), actor="test").update(
        bus.tenant, "crm", url=sandbox.url_of("crm"), secret="sandbox-crm-token"
    )
    sandbox.fail("crm", status=422)  # refuses every lead for good: straight to the DLQ
    letters = DeadLetters(bus.engine, box=bus.box())
    running = bus.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true", CRMBUS_WORKER_BATCH_MAX="500").start()
    try:
        wanted = dead_letter_deliveries(bus, LETTERS)
        until(lambda: letters.count(bus.tenant, ReplayFilter(status="open")) == LETTERS, 600, "10,000 archived letters")
        sandbox.clear()
        sandbox.heal("crm")

        # A replay dies after Kafka took its first page, before marking it: those letters stay open.
        crashed = crash_after_sending_pages(bus, pages=1)
        assert letters.replay(None, crashed).sent == 0

        dashboards.start()
        preview = dashboards.call("POST", "/dead-letters/replay/dry-run", 200, {"destination": "crm"})
        assert preview["count"] == LETTERS

        began = time.monotonic()
        replay = dashboards.call("POST", "/dead-letters/replay", 202, {"destination": "crm"})
        assert (replay["state"], replay["selected"]) == ("running", LETTERS)
        replay_id = uuid.UUID(replay["id"])

        # The dashboard is killed with SIGKILL some pages into the replay.
        until(lambda: letters.replay(bus.tenant, replay_id).sent >= 2_000, 120, "some pages of the replay", 0.02)
        dashboards.kill()
        first_leg_s = time.monotonic() - began

        # A new dashboard sees it as the kill left it (a page's marking in flight then landed or
        # not), resumes it in its background, and answers before it is done.
        dashboards.start()
        half_way = dashboards.call("GET", f"/replays/{replay_id}", 200)
        assert half_way["state"] == "running" and 2_000 <= half_way["sent"] < LETTERS
        # Until the killed run's heartbeat is older than the lease, a resume is refused: as far as
        # anyone can tell, some process still runs it.
        answers: list[requests.Response] = []

        def resumed_once_quiet() -> bool:
            answers.append(dashboards.request("POST", f"/replays/{replay_id}/resume"))
            return answers[-1].status_code != 409

        until(resumed_once_quiet, 60, "the killed run's lease to lapse", 0.2)
        assert all(a.json()["type"] == "urn:crmbus:problem:replay-running" for a in answers[:-1])
        began = time.monotonic()
        assert answers[-1].status_code == 202, answers[-1].text
        resumed = answers[-1].json()
        assert (resumed["id"], resumed["state"], resumed["sent"]) == (str(replay_id), "running", half_way["sent"])

        def state() -> dict[str, Any]:
            return dashboards.call("GET", f"/replays/{replay_id}", 200)

        until(lambda: state()["state"] == "done", 300, "the resumed replay done", 0.05)
        # The API replay's rate, sending and marking only (the dashboard's restart left out), for the
        # report (--junitxml); not asserted.
        rate = round(LETTERS / (first_leg_s + time.monotonic() - began))
        request.node.user_properties.append(("api_replay_records_per_s", rate))
        assert state()["sent"] == LETTERS

        def applied() -> list[str | None]:
            return [r.idempotency_key for r in sandbox.requests("crm")]

        until(lambda: len(set(applied())) >= LETTERS, 600, "every replayed lead at the CRM", every_s=2.0)
        # The page sent before the crash went again; the sink that had delivered it skipped it.
        until(lambda: outcomes(bus, "duplicate") >= PAGE, 120, "the sink's duplicate_skipped outcomes")
        calls = Counter(applied())
        assert set(calls) == wanted
        assert max(calls.values()) == 1  # no lead reached the CRM twice

        assert dashboards.call("POST", "/dead-letters/replay/dry-run", 200, {"destination": "crm"})["count"] == 0
        again = dashboards.call("POST", "/dead-letters/replay", 202, {"destination": "crm"})
        until(lambda: dashboards.call("GET", f"/replays/{again['id']}", 200)["state"] == "done", 60, "the 2nd replay")
        assert (again["selected"], dashboards.call("GET", f"/replays/{again['id']}", 200)["sent"]) == (0, 0)
        assert letters.count(bus.tenant, ReplayFilter(status="replayed")) == LETTERS
        until(lambda: outcomes(bus, "delivered") == LETTERS, 120, "every replayed success in the delivery log")
    finally:
        running.stop()
    assert len(sandbox.requests("crm")) == LETTERS  # the second replay called nobody
