"""A secret key rotation: after a new key is put first in the ring, the re-sealing walks every
sealed column a page at a time (destinations' secrets, sources' signing secrets, dead letters,
those archived in the clear before sealing too, the event archive), is idempotent and resumable, and leaves every
value openable by the new key alone; the status counts what is still under an older key."""

from __future__ import annotations

import os
import subprocess
import uuid
from datetime import UTC, datetime

from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from infra.core.secret_box import SecretBox
from infra.db.delivery_log import DeliveryLog
from infra.db.endpoints import Endpoints
from infra.db.event_archive import EventArchive, EventToArchive
from infra.db.inbound_sources import InboundSources
from infra.db.models import DeadLetter
from infra.db.sealed_columns import Resealer
from infra.db.tenants import Tenants
from tests.integration.ingress_harness import isolated_settings
from tests.integration.worker_harness import CRMBUS

OLD, NEW = Fernet.generate_key(), Fernet.generate_key()
AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def letter(offset: int) -> dict[str, object]:
    return {
        "tenant_id": "acme", "destination": "crm", "delivery_id": f"d-{offset}", "event_id": uuid.uuid4(),
        "original_topic": "crmbus.deliver.crm", "original_partition": 0, "original_offset": offset,
        "error_class": "PermanentDeliveryError", "error_message": "400", "status_code": 400, "attempts": 1,
        "first_failure_at": AT, "last_failure_at": AT, "key": b"acme", "value": f"payload {offset}".encode(),
        "headers": {},
    }  # fmt: skip


def archived(offset: int) -> EventToArchive:
    envelope = {
        "event_id": uuid.uuid4(), "tenant_id": "acme", "type": "lead.created", "source": "api", "occurred_at": AT,
        "received_at": AT, "idempotency_key": None, "correlation_id": None, "ordering_key": None,
        "schema_version": 1, "payload": '{"lead_id": "L-1"}',
    }  # fmt: skip
    return EventToArchive(
        topic="crmbus.events", partition=0, offset=offset, accepted_at=AT, lane="default", key=b"acme",
        envelope=envelope, entity_id="L-1", subjects=[],
    )  # fmt: skip


def by_column(resealer: Resealer) -> dict[str, tuple[int, int, int, int]]:
    return {c.column: (c.current, c.older, c.clear, c.unreadable) for c in resealer.status()}


def test_resealing_after_a_rotation_leaves_every_value_under_the_new_key(migrated):
    old = SecretBox(OLD)
    Tenants(migrated, actor="test").create("acme", sandbox_url=None)
    Endpoints(migrated, old, actor="test").add("acme", "hook", "webhook", "https://example.test/h", secret="whsec")
    InboundSources(migrated, old, actor="test").add("acme", "waha")  # signed: its secret sealed
    DeliveryLog(migrated, old).record([], [letter(n) for n in range(5)])
    with migrated.begin() as connection:  # archived before dead letters were sealed
        connection.execute(insert(DeadLetter).values(**letter(99)))
    EventArchive(migrated, old).store([archived(n) for n in range(3)])

    ring = Resealer(migrated, SecretBox(NEW, OLD), page=2)
    assert by_column(ring) == {
        "webhook_endpoints.secret_encrypted": (0, 1, 0, 0),
        "inbound_sources.signing_secret_encrypted": (0, 1, 0, 0),
        "dead_letter.value": (0, 5, 1, 0),
        "event_archive.record": (0, 3, 0, 0),
    }
    stopped = ring.run(max_pages=2)  # a run cut short by its page budget...
    assert [(item.column, item.resealed, item.done) for item in stopped] == [
        ("webhook_endpoints.secret_encrypted", 1, True),
        ("inbound_sources.signing_secret_encrypted", 1, True),
        ("dead_letter.value", 0, False),
        ("event_archive.record", 0, False),
    ]
    ring.run(start={item.column: item.after for item in stopped if not item.done})  # ...goes on
    assert by_column(ring)["dead_letter.value"] == (6, 0, 0, 0)
    assert by_column(ring)["event_archive.record"] == (3, 0, 0, 0)
    assert [item.resealed for item in ring.run()] == [0, 0, 0, 0], "a second run changes nothing"

    new_only = SecretBox(NEW)
    (hook,) = Endpoints(migrated, new_only, actor="test").load_enabled()
    assert hook.secret == "whsec"
    with migrated.connect() as connection:
        values = connection.execute(select(DeadLetter.value, DeadLetter.value_sealed).order_by(DeadLetter.id)).all()
    assert [(new_only.open(value), sealed) for value, sealed in values] == [
        *((f"payload {n}".encode(), True) for n in range(5)),
        (b"payload 99", True),
    ]
    assert by_column(Resealer(migrated, SecretBox(OLD)))["dead_letter.value"] == (0, 0, 0, 6)


def test_crmbus_keys_rotate_adds_a_key_to_the_file_and_status_counts_the_older_ones(
    migrated, kafka_bootstrap, database_url, unique, tmp_path
):
    settings = isolated_settings(kafka_bootstrap, database_url, unique, f"{unique}.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
    env.update(CRMBUS_DATABASE_URL=settings.database_url.get_secret_value(), CRMBUS_STATE_DIR=str(tmp_path))
    (tmp_path / "secret.key").write_bytes(OLD + b"\n")
    Tenants(migrated, actor="test").create("acme", sandbox_url=None)
    Endpoints(migrated, SecretBox(OLD), actor="test").add(
        "acme", "hook", "webhook", "https://example.test/h", secret="s"
    )

    def crmbus(*args: str) -> str:
        done = subprocess.run([CRMBUS, "keys", *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    crmbus("rotate")
    ring = (tmp_path / "secret.key").read_bytes().split()
    assert len(ring) == 2 and ring[1] == OLD
    assert "webhook_endpoints.secret_encrypted: newest 0, older 1" in crmbus("status")
    assert "webhook_endpoints.secret_encrypted: resealed 1" in crmbus("reseal")
    assert "the older keys may leave the ring" in crmbus("status")
