"""10,000 dead-lettered deliveries replayed through a real `crmbus worker` to the sandbox CRM:
each arrives exactly once (counted at the destination by Idempotency-Key), also when a replay
crashed between sending a page and marking it, and when `crmbus dlq replay` was killed with
SIGKILL half-way and resumed; a second replay sends and delivers nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
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
from tests.integration.worker_harness import CRMBUS, Bus, delivery_codec, event, example

LETTERS = 10_000
PAGE = 500


def until(condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every_s)


def cli_env(bus: Bus) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
    env.update(
        CRMBUS_KAFKA_BOOTSTRAP=bus.settings.kafka_bootstrap, CRMBUS_TOPIC_PREFIX=bus.settings.topic_prefix,
        CRMBUS_DATABASE_URL=bus.settings.database_url.get_secret_value(), COLUMNS="200",
    )  # fmt: skip
    return env


def replay_via(bus: Bus, *args: str) -> str:
    """A replay as an operator asks for it: today `crmbus dlq replay`; the admin API's
    `POST /v1/tenants/{tenant}/dead-letters/replay` will take its place."""
    done = subprocess.run(
        [CRMBUS, "dlq", "replay", *args], env=cli_env(bus), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


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
            replayer = Replayer(DeadLetters(bus.engine), Crashing(producer), "test", page=PAGE)
            await replayer.start(bus.tenant, ReplayFilter(destination="crm"), started=lambda r: started.append(r.id))

    with pytest.raises(Crash):
        asyncio.run(run())
    return started[0]


def outcomes(bus: Bus, status: str) -> int:
    with Session(bus.engine) as session:
        query = select(func.count()).where(WebhookDelivery.status == status, WebhookDelivery.destination == "crm")
        return int(session.execute(query).scalar_one())


@pytest.mark.timeout(1200)
def test_ten_thousand_dead_letters_are_replayed_each_delivered_once_through_a_crash_and_a_kill(
    bus: Bus, sandbox: SandboxClient
):
    sandbox.clear()
    Endpoints(bus.engine, bus.box(), actor="test").update(
        bus.tenant, "crm", url=sandbox.url_of("crm"), secret="sandbox-crm-token"
    )
    sandbox.fail("crm", status=422)  # refuses every lead for good: straight to the DLQ
    letters = DeadLetters(bus.engine)
    running = bus.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true", CRMBUS_WORKER_BATCH_MAX="500").start()
    try:
        wanted = dead_letter_deliveries(bus, LETTERS)
        until(lambda: letters.count(bus.tenant, ReplayFilter(status="open")) == LETTERS, 600, "10,000 archived letters")
        sandbox.clear()
        sandbox.heal("crm")

        # A replay dies after Kafka took its third page, before marking it: that page goes again.
        crashed = crash_after_sending_pages(bus, pages=3)
        assert letters.replay(None, crashed).sent == 2 * PAGE

        # Resumed by `crmbus dlq replay`, which is killed with SIGKILL some pages later.
        killed = subprocess.Popen(
            [CRMBUS, "dlq", "replay", "--resume", str(crashed), "--page", "100"],
            env=cli_env(bus), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            until(lambda: letters.replay(None, crashed).sent >= 4_000, 120, "some pages of the resumed replay", 0.02)
        finally:
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait(30)
        half_way = letters.replay(None, crashed)
        assert half_way.state == "running" and half_way.sent < LETTERS

        finished = replay_via(bus, "--resume", str(crashed))
        assert f"replay {crashed}: replayed {LETTERS} of {LETTERS}" in finished

        def applied() -> list[str | None]:
            return [r.idempotency_key for r in sandbox.requests("crm")]

        until(lambda: len(set(applied())) >= LETTERS, 600, "every replayed lead at the CRM", every_s=2.0)
        # The page sent twice was skipped by the sink that had delivered it: its outcomes say so.
        until(lambda: outcomes(bus, "duplicate") >= PAGE, 120, "the sink's duplicate_skipped outcomes")
        calls = Counter(applied())
        assert set(calls) == wanted
        assert max(calls.values()) == 1  # no lead reached the CRM twice

        again = replay_via(bus, "--tenant", bus.tenant, "--destination", "crm")
        assert re.search(r"replayed 0 of 0", again)
        assert letters.count(bus.tenant, ReplayFilter(status="replayed")) == LETTERS
        until(lambda: outcomes(bus, "delivered") == LETTERS, 120, "every replayed success in the delivery log")
    finally:
        running.stop()
    assert len(sandbox.requests("crm")) == LETTERS  # the second replay called nobody
