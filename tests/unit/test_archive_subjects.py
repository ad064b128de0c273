"""The archive files each dead letter under the digests of the people its payload names, at any
depth and at its type's personal paths, and keeps no long number from its error message."""

from datetime import UTC, datetime
from functools import partial

from agents.archive import dead_letter_row, subjects_of
from agents.records import Consumed
from infra.core.subject_index import SubjectIndex
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec, decode_written
from schemas.event_types import built_in_catalogue
from streams.dead_letter import Origin, dead_letter_headers
from streams.envelope import Envelope
from streams.errors import PermanentDeliveryError
from streams.subjects import subject

INDEX = SubjectIndex(b"test-subject-key")
IDS = CatalogueSchemaIds()
SUBJECTS_OF = partial(subjects_of, decode=partial(decode_written, ids=IDS), types=built_in_catalogue, index=INDEX)
ENVELOPES = AvroCodec(load_schema("envelope.v1.avsc"), "crmbus.events-value", IDS)


def test_an_events_letter_is_filed_under_its_people_at_any_depth():
    payload = {
        "contact_id": "C-1",
        "name": "Maria",
        "phone": "(11) 98765-4321",
        "extra": {"guardian": {"cpf": "123.456.789-09"}},
    }
    value = ENVELOPES.encode(Envelope("acme", "contact.created", "site", payload).to_record())
    assert SUBJECTS_OF("acme", value) == INDEX.digests(
        [subject("phone", "+5511987654321"), subject("cpf", "12345678909")]
    )


def test_bytes_that_are_no_record_are_filed_under_the_people_of_their_json():
    assert SUBJECTS_OF("acme", b'{"email": "Maria@Example.com"}') == [
        INDEX.digest(subject("email", "maria@example.com"))
    ]
    assert SUBJECTS_OF("acme", b"\x00garbage") == []


def test_a_letters_error_message_keeps_no_phone_or_email():
    error = PermanentDeliveryError("CRM said 422: phone +55 11 98765-4321 of maria@example.com is taken")
    headers = dead_letter_headers(Origin("crmbus.deliver.crm", 0, 7), error, datetime.now(UTC), stage="sink")
    row = dead_letter_row(Consumed(Origin("crmbus.dlq", 0, 1), b"acme", b"v", tuple(headers)))
    for text in (row["error_message"], row["headers"]["crmbus-error-message"]):
        assert "98765" not in text and "maria@" not in text
        assert text.startswith("CRM said 422")
