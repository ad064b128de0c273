"""The archive agent skips a batch PostgreSQL refuses for good, waits out PostgreSQL being away,
and keeps the router's decisions apart from the delivery attempts."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from agents import archive
from agents.archive import Archive
from agents.records import Consumed
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from streams.dead_letter import Origin, dead_letter_headers
from streams.errors import DecodeError, PermanentDeliveryError, ServiceUnreachableError, StoreRefusedError
from streams.event_status import decision_record
from streams.sink_decisions import outcome_record

DLQ = "crmbus.dlq"
DELIVERIES = "crmbus.deliveries"
OUTCOMES = AvroCodec(load_schema("delivery_outcome.v2.avsc"), "crmbus.deliveries-value", CatalogueSchemaIds())
AT = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


class Log:
    def __init__(self, *failures):
        self.failures, self.written = list(failures), []

    def record(self, attempts, letters, decisions=()):
        if self.failures:
            raise self.failures.pop(0)
        self.written.append((attempts, letters, decisions))

    def open_dead_letters(self):
        return len(self.written)


def letter(offset):
    return Consumed(Origin(DLQ, 0, offset), b"acme", b"bytes")


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(archive, "_BACKOFF_FIRST_S", 0.0)


def test_a_batch_postgresql_refuses_for_good_is_skipped_not_retried():
    log = Log(StoreRefusedError("PostgreSQL refused archiving deliveries: DataError"))
    asyncio.run(
        Archive(log_=log, outcomes=None, dlq_topic=DLQ, subjects_of=lambda tenant, value: []).handle([letter(1)])
    )
    assert log.written == [] and log.failures == []


def test_a_batch_is_written_once_postgresql_answers_again():
    log = Log(ServiceUnreachableError("PostgreSQL unreachable"), ServiceUnreachableError("PostgreSQL unreachable"))
    asyncio.run(
        Archive(log_=log, outcomes=None, dlq_topic=DLQ, subjects_of=lambda tenant, value: []).handle([letter(1)])
    )
    assert [len(letters) for _, letters, _ in log.written] == [1]


def outcome(offset, value):
    return Consumed(Origin(DELIVERIES, 0, offset), b"acme", OUTCOMES.encode(value))


def test_the_routers_decisions_go_to_event_status_and_attempts_to_the_delivery_log():
    event_id = uuid.uuid4()
    decided = {"event_id": event_id, "tenant_id": "acme", "event_type": "lead.created", "at": AT}
    delivery = {"delivery_id": "d-1", "event_id": event_id, "tenant_id": "acme", "event_type": "lead.created",
                "route_id": "r-1", "attempt": 0}  # fmt: skip
    attempt = outcome_record(
        delivery, "delivered", destination="crm", endpoint_id=None, attempt=1, latency_ms=3.0, at=AT, status=200
    )
    batch = [
        outcome(1, decision_record(**decided, decision="no_route", planned=0, failed_routes=0)),
        outcome(2, decision_record(**decided, decision="routed", planned=2, failed_routes=1)),
        outcome(3, attempt),
    ]
    log = Log()
    asyncio.run(Archive(log_=log, outcomes=OUTCOMES, dlq_topic=DLQ, subjects_of=lambda tenant, value: []).handle(batch))
    [(attempts, letters, decisions)] = log.written
    assert [(a["delivery_id"], a["status"]) for a in attempts] == [("d-1", "delivered")]
    assert letters == []
    assert decisions == [
        {"event_id": event_id, "tenant_id": "acme", "event_type": "lead.created", "decision": "routed",
         "planned": 2, "failed_routes": 1, "decided_at": AT}
    ]  # fmt: skip


def test_a_dlq_row_is_filed_under_the_tenant_event_and_delivery_its_headers_name():
    event_id = uuid.uuid4()
    headers = dead_letter_headers(
        Origin("crmbus.deliver.crm", 2, 7), PermanentDeliveryError("refused", status=400), AT, stage="sink.permanent",
        tenant_id="acme", event_id=event_id, delivery_id="d-1",
    )  # fmt: skip
    row = archive.dead_letter_row(Consumed(Origin(DLQ, 0, 5), b"acme:lead-9", b"bytes", headers))
    assert (row["tenant_id"], row["event_id"], row["delivery_id"]) == ("acme", event_id, "d-1")
    assert (row["original_topic"], row["original_partition"], row["original_offset"]) == ("crmbus.deliver.crm", 2, 7)


def test_a_dlq_row_without_a_tenant_header_takes_the_tenant_from_a_tenant_entity_key():
    headers = dead_letter_headers(Origin("crmbus.lane.p1", 0, 3), DecodeError("not Avro"), AT, stage="router.decode")
    row = archive.dead_letter_row(Consumed(Origin(DLQ, 0, 5), b"acme:lead-9", b"?", headers))
    assert (row["tenant_id"], row["event_id"], row["delivery_id"]) == ("acme", None, None)


def test_the_dlq_depth_gauge_follows_postgresql_and_keeps_its_value_while_postgresql_is_away():
    class Depth:
        def __init__(self, *answers):
            self.answers = list(answers)

        def open_dead_letters(self):
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    depth = Depth(7, 0, 3, ServiceUnreachableError("PostgreSQL unreachable"))
    seen = []
    for _ in range(4):
        asyncio.run(archive.refresh_depth(depth))
        seen.append(REGISTRY.get_sample_value("crmbus_dlq_open_records"))
    assert seen == [7, 0, 3, 3]  # down after a replay elsewhere; unchanged while PostgreSQL is away
