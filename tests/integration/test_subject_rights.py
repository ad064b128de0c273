"""LGPD subject rights on the real stack: two people's leads flow through a real `crmbus worker`
to the sandbox (the CRM refuses them for good: dead letters; Z-API takes them) and into the
event history. Exported by phone, one person's archived events, dead letters and deliveries
come back; erased by phone, no form of that
phone is left anywhere in the test's PostgreSQL schema (every column of every table, JSONB and
bytea included, every Fernet token opened with the test's key ring) nor in the worker's log,
while the other person's data stays."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from infra.db.endpoints import Endpoints
from infra.db.models import ArchivedEvent, AuditLog, DeadLetter, WebhookDelivery
from infra.devtools.sandbox import SandboxClient
from streams.deadlines import wait_until
from tests.integration.worker_harness import CRMBUS, Bus, event, example

MARIA = "(11) 98765-4321"
"""As the producer wrote it; stored, it may be +5511987654321 (E.164) or 5511987654321 (digits)."""
MARIA_FORMS = ("987654321", "98765-4321", "98765 4321")
JOAO = "(21) 91234-5678"
JOAO_FORMS = ("912345678", "91234-5678")
SUBJECT_KEY = "test-subject-key-" + uuid.uuid4().hex


def lead(bus: Bus, name: str, phone: str) -> Any:
    payload = example("lead.created") | {"name": name, "phone": phone, "marketing_consent": False}
    payload.pop("email", None)
    return event(bus.tenant, "lead.created", payload)


def cli(bus: Bus, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
    env.update(
        CRMBUS_KAFKA_BOOTSTRAP=bus.settings.kafka_bootstrap, CRMBUS_TOPIC_PREFIX=bus.settings.topic_prefix,
        CRMBUS_DATABASE_URL=bus.settings.database_url.get_secret_value(), CRMBUS_SECRET_KEY=bus.secret_key,
        CRMBUS_SUBJECT_KEY=SUBJECT_KEY, CRMBUS_STATE_DIR=str(bus.tmp / "cli-state"),
    )  # fmt: skip
    done = subprocess.run([CRMBUS, "subject", *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not any(form in done.stderr for form in MARIA_FORMS)
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def values(bus: Bus) -> Iterator[tuple[str, str, Any]]:
    """(table, column, value) of every column of every row of the test's schema."""
    with bus.engine.connect() as connection:
        tables = connection.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        ).scalars()
        for table in sorted(tables):
            rows = connection.execute(text(f'SELECT * FROM "{table}"')).mappings().all()
            for row in rows:
                for column, value in row.items():
                    yield table, column, value


def readable(value: Any, ring: MultiFernet) -> list[str]:
    """Every text a stored value holds: itself, and for bytes their opening with the ring too."""
    if value is None:
        return []
    if isinstance(value, memoryview | bytes):
        raw = bytes(value)
        texts = [raw.decode("utf-8", "replace")]
        with contextlib.suppress(InvalidToken):  # not a token: its bytes are read as they are
            texts.append(ring.decrypt(raw).decode("utf-8", "replace"))
        return texts
    if isinstance(value, dict | list):
        return [json.dumps(value, ensure_ascii=False, default=str)]
    return [str(value)]


def traces(bus: Bus, forms: tuple[str, ...]) -> list[str]:
    ring = MultiFernet([Fernet(bus.secret_key.encode())])  # the test's key ring, as the workers hold it
    return [
        f"{table}.{column}"
        for table, column, value in values(bus)
        for found in readable(value, ring)
        if any(form in found for form in forms)
    ]


@pytest.fixture
def flowed(bus: Bus, sandbox: SandboxClient, tmp_path: Path) -> Iterator[tuple[Bus, list[Any], list[Any], Path]]:
    sandbox.clear()
    destinations = Endpoints(bus.engine, bus.box(), actor="test")
    destinations.update(bus.tenant, "crm", url=sandbox.url_of("crm"), secret="sandbox-crm-token")
    destinations.update(bus.tenant, "zapi", url=sandbox.url_of("zapi"))
    sandbox.fail("crm", status=422)  # refuses every lead for good: straight to the DLQ
    workers = bus.workers(CRMBUS_SUBJECT_KEY=SUBJECT_KEY, CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true").start()
    try:
        maria = [lead(bus, "Maria Souza", MARIA), lead(bus, "Maria Souza", MARIA)]
        joao = [lead(bus, "João Lima", JOAO)]
        bus.lane.send([*maria, joao[0]])

        def settled() -> bool:
            with Session(bus.engine) as session:
                letters = session.scalar(select(func.count()).select_from(DeadLetter))
                delivered = session.scalar(
                    select(func.count()).where(
                        WebhookDelivery.destination == "zapi", WebhookDelivery.status == "delivered"
                    )
                )
                archived = session.scalar(select(func.count()).select_from(ArchivedEvent))
            return letters == 3 and delivered == 3 and archived == 3

        wait_until(settled, 90, "3 CRM dead letters, 3 Z-API deliveries and 3 events archived")
        yield bus, maria, joao, workers.log_path
    finally:
        workers.stop()
        sandbox.heal("crm")


def test_a_person_exported_then_erased_by_phone_leaves_no_trace_while_another_stays(flowed):
    bus, maria, joao, worker_log = flowed
    mine = {str(e.event_id) for e in maria}

    exported = cli(bus, "export", "--tenant", bus.tenant, "--phone", "+55 11 98765-4321")
    assert set(exported["event_ids"]) == mine
    letters = exported["stores"]["dead_letter"]
    assert {letter["event_id"] for letter in letters} == mine
    assert all(json.loads(letter["record"]["payload"])["phone"] == "+5511987654321" for letter in letters)
    history = exported["stores"]["event_archive"]
    assert {row["event_id"] for row in history} == mine
    assert all(row["envelope"]["payload"]["phone"] == MARIA for row in history), "as the producer sent it"
    logged = exported["stores"]["delivery_log"]
    attempts = {(row["destination"], row["status"]) for row in logged if row["table"] == "webhook_deliveries"}
    assert attempts == {("crm", "dead_lettered"), ("zapi", "delivered")}
    assert {row["event_id"] for row in logged} == mine
    assert {row["decision"] for row in logged if row["table"] == "event_status"} == {"routed"}

    erased = cli(bus, "erase", "--tenant", bus.tenant, "--phone", MARIA)
    assert erased["events"] == 2 and erased["erased"]["dead_letter"] == 2 and erased["erased"]["event_archive"] == 2
    assert erased["erased"]["delivery_log"] == 2 + len([row for row in logged if row["table"] == "webhook_deliveries"])
    retention = {copy["topic"]: copy["retention_ms"] for copy in erased["kafka"]}
    assert retention[bus.topic("crmbus.events")] == 7 * 86_400_000
    assert retention[bus.topic("crmbus.dlq")] == 30 * 86_400_000
    assert bus.topic("crmbus.deliveries") not in retention  # outcomes carry no payload

    assert traces(bus, MARIA_FORMS) == []
    assert not any(form in worker_log.read_text(errors="replace") for form in MARIA_FORMS)
    # Seen through each table and through its day's partition.
    kept = {re.sub(r"_p\d{8}\.", ".", trace) for trace in traces(bus, JOAO_FORMS)}
    assert kept == {"dead_letter.value", "event_archive.record"}, "João's letter and event stay, sealed"
    assert cli(bus, "export", "--tenant", bus.tenant, "--phone", JOAO)["event_ids"] == [str(joao[0].event_id)]
    assert cli(bus, "export", "--tenant", bus.tenant, "--phone", MARIA)["event_ids"] == []
    with Session(bus.engine) as session:
        (audited,) = session.scalars(select(AuditLog).where(AuditLog.action == "subject.erase")).all()
    assert (audited.target_id, audited.details["events"]) == ("phone", "2")
