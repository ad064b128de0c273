"""The event archiver turns lane records into archive rows: the entity id, digested when the type
marks its entity key personal; the subjects as keyed digests; nothing for records a replay sent
back or that are not envelopes; and it waits out PostgreSQL being away."""

import asyncio
import hashlib

import pytest

from agents import event_archive
from agents.event_archive import EventArchiver
from connectors.kafka.lane_records import LaneRecord
from infra.core.live_catalogue import LiveCatalogue
from infra.core.subject_index import SubjectIndex
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from schemas.event_types import built_in_catalogue
from streams.dead_letter import REPLAY
from streams.envelope import Envelope
from streams.errors import ServiceUnreachableError
from streams.subjects import subject
from tests.builtin_types import example

LANE = "p.crmbus.events.high"
CODEC = AvroCodec(load_schema("envelope.v1.avsc"), f"{LANE}-value", CatalogueSchemaIds())
INDEX = SubjectIndex(b"test-key")


class Archive:
    def __init__(self, *failures):
        self.failures, self.stored = list(failures), []

    def store(self, events):
        if self.failures:
            raise self.failures.pop(0)
        self.stored.extend(events)
        return len(events)


def archiver(archive: Archive) -> EventArchiver:
    types = LiveCatalogue(built_in_catalogue(), lambda: [], lambda: built_in_catalogue().version, 60.0)
    return EventArchiver(
        open_reader=lambda: None, archive=archive, envelopes=CODEC, types=types, subjects=INDEX,
        lanes={LANE: "high"}, max_records=100, wait_s=0.1,
    )  # fmt: skip


def record(envelope: Envelope | None, offset: int = 0, headers=()) -> LaneRecord:
    value = CODEC.encode(envelope.to_record()) if envelope is not None else b"not avro"
    return LaneRecord(LANE, 2, offset, 1_764_900_000_000, b"acme", value, list(headers))


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(event_archive, "_BACKOFF_FIRST_S", 0.0)


def test_a_personal_entity_key_is_kept_as_its_digest_and_the_subjects_as_keyed_digests():
    payload = example("whatsapp.message.received")
    message = Envelope("acme", "whatsapp.message.received", "zapi", payload)
    archive = Archive()
    asyncio.run(archiver(archive).handle([record(message, offset=7)]))
    (row,) = archive.stored
    phone = payload["phone"]
    assert row.entity_id == hashlib.sha256(phone.encode()).hexdigest()[:32]
    assert INDEX.digest(subject("phone", phone)) in row.subjects
    assert all(phone.lstrip("+") not in digest for digest in row.subjects)
    assert (row.lane, row.partition, row.offset, row.accepted_at.year) == ("high", 2, 7, 2025)


def test_a_clear_entity_key_is_kept_as_it_is():
    lead = Envelope("acme", "lead.created", "site", example("lead.created") | {"lead_id": "L-9"})
    archive = Archive()
    asyncio.run(archiver(archive).handle([record(lead)]))
    assert [row.entity_id for row in archive.stored] == ["L-9"]


def test_records_a_replay_sent_back_and_records_that_are_no_envelope_are_not_archived():
    lead = Envelope("acme", "lead.created", "site", example("lead.created"))
    archive = Archive()
    batch = [record(lead, 0, [(REPLAY, b"r-1")]), record(None, 1), record(lead, 2)]
    asyncio.run(archiver(archive).handle(batch))
    assert [row.offset for row in archive.stored] == [2]


def test_a_batch_is_written_once_postgresql_answers_again():
    lead = Envelope("acme", "lead.created", "site", example("lead.created"))
    archive = Archive(ServiceUnreachableError("down"), ServiceUnreachableError("down"))
    asyncio.run(archiver(archive).handle([record(lead)]))
    assert len(archive.stored) == 1
