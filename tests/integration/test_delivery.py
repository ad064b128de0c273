"""Sinks and retries, run as a real `crmbus worker` against the sandbox destinations (`crmbus
sandbox`, speaking the CRM, Financeiro, Z-API, e-mail and marketing contracts) on loopback: each
delivery arrives once, retries, dead-letters, parks behind an open circuit, survives kill -9,
refuses SSRF targets, and `crmbus dlq replay` delivers each DLQ record once."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.delivery_log import DeliveryLog
from infra.db.endpoints import Endpoints
from infra.db.models import DeadLetter, WebhookDelivery
from infra.devtools.sandbox import Received, SandboxClient
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from streams.dead_letter import ATTEMPTS, DESTINATION, ERROR_CLASS, STAGE, STATUS_CODE
from streams.event_status import event_status
from streams.routes import delivery_id
from tests.integration.worker_harness import CRMBUS, Bus, TopicReader, Workers, event, example

SEEDED = ("crm", "financeiro", "zapi", "email", "marketing")


@pytest.fixture
def wired(bus: Bus, sandbox: SandboxClient) -> Bus:
    """The test tenant's destinations point at the sandbox and have credentials; nothing fails."""
    sandbox.clear()
    for system in SEEDED:
        sandbox.heal(system)
        Endpoints(bus.engine, bus.box(), actor="test").update(
            bus.tenant, system, url=sandbox.url_of(system), secret=f"sandbox-{system}-token"
        )
    return bus


def workers(bus: Bus, **env: str) -> Workers:
    return bus.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true", **env)


def until(condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every_s)


def keys(received: list[Received]) -> list[str | None]:
    return [r.idempotency_key for r in received]


def dlq_reader(bus: Bus) -> TopicReader:
    return TopicReader(bus.settings.kafka_bootstrap, [bus.topic("crmbus.dlq")])


def sink_letters(reader: TopicReader) -> list:
    return [r for r in reader.seen if r.headers.get(STAGE, "").startswith("sink.")]


def lead(bus: Bus, **changes: object):
    return event(bus.tenant, "lead.created", example("lead.created", marketing_consent=True, **changes))


def test_each_delivery_reaches_its_destination_once_with_its_delivery_id_as_idempotency_key(wired, sandbox):
    new_lead = lead(wired)
    client = event(wired.tenant, "client.registered", example("client.registered"))
    running = workers(wired).start()
    try:
        wired.lane.send([new_lead, client])
        until(
            lambda: (
                len(sandbox.applied("crm")) == 1
                and len(sandbox.applied("zapi")) == 2
                and len(sandbox.applied("marketing")) == 1
                and len(sandbox.applied("email")) == 1
                and len(sandbox.applied("financeiro")) == 1
            ),
            60,
            "every delivery of a lead and a new client",
        )
    finally:
        running.stop()
    routes = {r.destination: r.id for r in wired.routes_of("lead.created")}
    assert keys(sandbox.applied("crm")) == [delivery_id(new_lead.event_id, routes["crm"])]
    reply = next(
        r for r in sandbox.applied("zapi") if r.idempotency_key == delivery_id(new_lead.event_id, routes["zapi"])
    )
    assert reply.body == {
        "phone": "5511987654321",
        "message": "Olá, Maria! Recebemos seu contato e em breve nossa equipe vai falar com você por aqui.",
    }
    assert reply.path == "/zapi/instances/demo/token/***/send-text"
    assert sandbox.applied("email")[0].body["to"] == "maria.souza@example.com.br"
    assert all(not r.duplicate for system in SEEDED for r in sandbox.requests(system))


def test_a_destination_that_fails_for_a_while_is_retried_until_it_takes_the_delivery(wired, sandbox):
    sandbox.fail("crm", status=503, count=2, retry_after=1)
    outcomes = TopicReader(wired.settings.kafka_bootstrap, [wired.topic("crmbus.deliveries")], _outcome(wired))
    running = workers(wired).start()
    try:
        wired.lane.send([lead(wired)])
        until(lambda: len(sandbox.applied("crm")) == 1, 90, "the CRM to take the lead after two failures")
        seen = outcomes.poll_until(
            lambda seen: [r.record["outcome"] for r in seen if r.record["destination"] == "crm"][-1:] == ["delivered"],
            30,
            "the delivered outcome",
        )
    finally:
        running.stop()
        outcomes.close()
    assert [r.status for r in sandbox.requests("crm")] == [503, 503, 201]
    assert len(set(keys(sandbox.requests("crm")))) == 1  # the same delivery id every time
    crm = [(r.record["outcome"], r.record["attempt"]) for r in seen if r.record["destination"] == "crm"]
    assert crm == [("retrying", 1), ("retrying", 2), ("delivered", 3)]


def test_a_permanent_error_goes_to_the_dlq_at_once_with_headers_saying_why(wired, sandbox):
    sandbox.fail("financeiro", status=400)
    dlq = dlq_reader(wired)
    running = workers(wired).start()
    try:
        wired.lane.send([event(wired.tenant, "client.registered", example("client.registered"))])
        dlq.poll_until(lambda _: len(sink_letters(dlq)) == 1, 60, "the financeiro delivery in the DLQ")
        until(lambda: len(sandbox.applied("email")) == 1, 30, "the other deliveries of the client")
    finally:
        running.stop()
        dlq.close()
    (letter,) = sink_letters(dlq)
    assert letter.headers[DESTINATION] == "financeiro"
    assert letter.headers[STATUS_CODE] == "400" and letter.headers[ERROR_CLASS] == "PermanentDeliveryError"
    assert letter.headers[ATTEMPTS] == "1" and letter.headers[STAGE] == "sink.permanent"
    assert len(sandbox.requests("financeiro")) == 1  # not retried


def test_every_attempt_and_every_dlq_record_is_archived_in_postgresql(wired, sandbox):
    sandbox.fail("financeiro", status=400)
    client = event(wired.tenant, "client.registered", example("client.registered"))
    running = workers(wired).start()
    try:
        wired.lane.send([client])
        until(lambda: len(_archived(wired)[0]) == 3 and len(_archived(wired)[1]) == 1, 60, "the archive rows")
    finally:
        running.stop()
    history = DeliveryLog(wired.engine).history(client.event_id, wired.tenant)
    assert (history.decision.decision, history.decision.planned) == ("routed", 3)
    assert event_status(history.decision, [(a.delivery_id, a.status) for a in history.attempts]) == "failed"
    attempts, letters = _archived(wired)
    assert sorted((a.destination, a.status, a.status_code) for a in attempts) == [
        ("email", "delivered", 202),
        ("financeiro", "dead_lettered", 400),
        ("zapi", "delivered", 200),
    ]
    assert all(a.attempt == 1 and a.event_type == "client.registered" and a.latency_ms > 0 for a in attempts)
    (letter,) = letters
    assert (letter.destination, letter.status_code, letter.error_class) == ("financeiro", 400, "PermanentDeliveryError")
    assert letter.value and letter.key == wired.tenant.encode() and letter.status == "open"
    (financeiro,) = [a for a in attempts if a.destination == "financeiro"]
    assert (letter.tenant_id, letter.event_id, letter.delivery_id) == (
        wired.tenant,
        client.event_id,
        financeiro.delivery_id,
    )


def _archived(bus: Bus) -> tuple[list[WebhookDelivery], list[DeadLetter]]:
    with Session(bus.engine) as session:
        return list(session.scalars(select(WebhookDelivery))), list(session.scalars(select(DeadLetter)))


def test_a_delivery_that_keeps_failing_is_dead_lettered_when_its_attempts_run_out(wired, sandbox):
    Endpoints(wired.engine, wired.box(), actor="test").update(
        wired.tenant, "marketing", config={"retry": {"max_attempts": 2, "tiers": ["5s"]}}
    )
    sandbox.fail("marketing", status=503)
    dlq = dlq_reader(wired)
    running = workers(wired).start()
    try:
        wired.lane.send([lead(wired)])
        dlq.poll_until(lambda _: len(sink_letters(dlq)) == 1, 90, "the marketing delivery in the DLQ")
    finally:
        running.stop()
        dlq.close()
    (letter,) = sink_letters(dlq)
    assert letter.headers[STAGE] == "sink.attempts_exhausted" and letter.headers[ATTEMPTS] == "2"
    assert letter.headers[ERROR_CLASS] == "TransientDeliveryError" and letter.headers[STATUS_CODE] == "503"
    assert [r.status for r in sandbox.requests("marketing")] == [503, 503]


def test_a_dead_destination_opens_its_circuit_parks_its_deliveries_and_the_healthy_ones_keep_flowing(wired, sandbox):
    sandbox.fail("zapi", status=503)
    running = workers(wired).start()
    try:
        first = [lead(wired) for _ in range(10)]
        wired.lane.send(first)
        until(lambda: len(sandbox.requests("zapi")) >= 5, 60, "the failed WhatsApp replies that open the circuit")
        more = [lead(wired) for _ in range(40)]
        wired.lane.send(more)
        until(lambda: len(sandbox.applied("crm")) == 50, 90, "every lead at the CRM")
        until(lambda: len(sandbox.applied("marketing")) == 50, 30, "every lead at marketing")
        calls_while_open = len(sandbox.requests("zapi"))
    finally:
        running.stop()
    # 5 consecutive failures open the circuit: the 40 later replies wait in a retry tier uncalled.
    assert calls_while_open < 20


def test_unsafe_destinations_are_refused_and_dead_lettered_without_a_request(wired, sandbox):
    endpoints = Endpoints(wired.engine, wired.box(), actor="test")
    endpoints.update(wired.tenant, "crm", url="http://169.254.169.254/latest/meta-data")
    endpoints.update(wired.tenant, "marketing", url="https://10.0.0.1/api")
    dlq = dlq_reader(wired)
    running = workers(wired).start()
    try:
        wired.lane.send([lead(wired)])
        dlq.poll_until(lambda _: len(sink_letters(dlq)) == 2, 60, "two refused deliveries")
        until(lambda: len(sandbox.applied("zapi")) == 1, 30, "the safe delivery")
    finally:
        running.stop()
        dlq.close()
    assert {r.headers[DESTINATION] for r in sink_letters(dlq)} == {"crm", "marketing"}
    assert {r.headers[ERROR_CLASS] for r in sink_letters(dlq)} <= {"UnsafeDestinationError", "PermanentDeliveryError"}
    assert sandbox.requests("crm") == [] and sandbox.requests("marketing") == []


def test_after_a_destination_recovers_dlq_replay_delivers_each_record_once_and_a_second_replay_none(wired, sandbox):
    sandbox.fail("financeiro", status=400)
    clients = [event(wired.tenant, "client.registered", example("client.registered")) for _ in range(3)]
    running = workers(wired).start()
    try:
        wired.lane.send(clients)
        # A replay reads the archive: wait until the archive agent has stored the three letters.
        until(lambda: len(_archived(wired)[1]) == 3, 60, "three financeiro letters in the archive")
        sandbox.heal("financeiro")
        assert "would replay 3" in replay(wired, "--destination", "financeiro", "--dry-run")
        assert "replayed 3 of 3" in replay(wired, "--destination", "financeiro", "--tenant", wired.tenant)
        until(lambda: len(sandbox.applied("financeiro")) == 3, 60, "the replayed deliveries")
        # The workers' gauge follows the archive, which the replay emptied (every 15 s).
        until(lambda: dlq_depth(wired) == 0.0, 45, "crmbus_dlq_open_records to drop to 0")
        calls = len(sandbox.requests("financeiro"))
        assert "would replay 0" in replay(wired, "--destination", "financeiro", "--dry-run")
        assert "replayed 0 of 0" in replay(wired, "--destination", "financeiro", "--since", "1h")
        marker = event(wired.tenant, "client.registered", example("client.registered"))
        wired.lane.send([marker])
        until(lambda: len(sandbox.applied("financeiro")) == 4, 60, "a later client")
        log = DeliveryLog(wired.engine)
        until(
            lambda: any(a.status == "delivered" for a in log.history(clients[0].event_id, wired.tenant).attempts
                        if a.destination == "financeiro"),
            30, "the replayed success in the delivery log",
        )  # fmt: skip
    finally:
        running.stop()
    assert len(sandbox.requests("financeiro")) == calls + 1  # the second replay called nobody
    assert len(set(keys(sandbox.applied("financeiro")))) == 4
    assert [d.status for d in _archived(wired)[1]] == ["replayed"] * 3
    story = [(a.status, a.attempt) for a in log.history(clients[0].event_id, wired.tenant).attempts
             if a.destination == "financeiro"]  # fmt: skip
    assert story == [("dead_lettered", 1), ("delivered", 1)]  # the event's page shows it delivered after all
    history = log.history(clients[0].event_id, wired.tenant)
    assert event_status(history.decision, [(a.delivery_id, a.status) for a in history.attempts]) == "delivered"


def test_while_z_apis_circuit_is_open_whatsapp_goes_through_the_waha_fallback(wired, sandbox):
    endpoints = Endpoints(wired.engine, wired.box(), actor="test")
    endpoints.add(wired.tenant, "waha", "waha", sandbox.url_of("waha"), secret="sandbox-waha-key")
    endpoints.update(wired.tenant, "zapi", config={"fallback": "waha"})
    sandbox.fail("zapi", status=503)
    running = workers(wired).start()
    try:
        wired.lane.send([lead(wired) for _ in range(10)])
        until(lambda: len(sandbox.requests("zapi")) >= 5, 60, "the failed Z-API replies that open the circuit")
        wired.lane.send([lead(wired) for _ in range(5)])
        until(lambda: len(sandbox.applied("waha")) >= 5, 60, "replies through WAHA")
    finally:
        running.stop()
    sent = sandbox.applied("waha")[0]
    assert sent.body == {
        "session": "default",
        "chatId": "5511987654321@c.us",
        "text": "Olá, Maria! Recebemos seu contato e em breve nossa equipe vai falar com você por aqui.",
    }
    assert sent.headers.get("X-Api-Key") is None  # the sandbox never records credentials


@pytest.mark.timeout(600)  # a broker rebalance after the kill and a busy machine can take minutes
def test_a_kill_9_during_deliveries_ends_with_every_delivery_applied_once_or_dead_lettered(wired, sandbox):
    leads = [lead(wired) for _ in range(200)]
    routes = wired.routes_of("lead.created")
    wanted = {delivery_id(e.event_id, r.id) for e in leads for r in routes}
    running = workers(wired, CRMBUS_WORKER_BATCH_MAX="50").start()
    sender = threading.Thread(target=wired.lane.send, args=(leads,))

    def applied() -> set[str | None]:
        return {k for system in ("crm", "zapi", "marketing") for k in keys(sandbox.applied(system))}

    try:
        sender.start()
        until(lambda: len(applied()) >= 100, 120, "some deliveries before the kill")
        running.kill()
        sender.join(60)
        running = workers(wired).start()
        until(lambda: wanted <= applied(), 420, "every delivery after the restart", every_s=1.0)
    finally:
        sender.join(60)
        running.stop()
    for system in ("crm", "zapi", "marketing"):
        got = keys(sandbox.applied(system))
        assert len(got) == len(set(got)) == 200  # once each, whatever was redelivered


def replay(bus: Bus, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
    env.update(
        CRMBUS_KAFKA_BOOTSTRAP=bus.settings.kafka_bootstrap,
        CRMBUS_TOPIC_PREFIX=bus.settings.topic_prefix,
        CRMBUS_DATABASE_URL=bus.settings.database_url.get_secret_value(),
        CRMBUS_STATE_DIR=str(bus.tmp / "state"),
        CRMBUS_SECRET_KEY=bus.secret_key,  # the workers' ring: the dead letters are sealed with it
        COLUMNS="200",
    )
    done = subprocess.run([CRMBUS, "dlq", "replay", *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def dlq_depth(bus: Bus) -> float | None:
    """``crmbus_dlq_open_records`` as the worker's /metrics says it now."""
    with urllib.request.urlopen(f"http://127.0.0.1:{bus.port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("crmbus_dlq_open_records "):
                return float(line.split()[1])
    return None


def _outcome(bus: Bus) -> Callable[[str, bytes], dict]:
    codec = AvroCodec(
        load_schema("delivery_outcome.v2.avsc"), bus.topic("crmbus.deliveries-value"), CatalogueSchemaIds()
    )
    return lambda topic, value: codec.decode(value)
