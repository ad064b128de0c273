import uuid
from datetime import UTC, datetime

import pytest

from streams.envelope import Envelope
from streams.errors import SchemaMismatchError


def envelope(**overrides):
    fields = {"tenant_id": "acme", "type": "lead.created", "source": "site", "payload": {"name": "Ana"}}
    return Envelope(**{**fields, **overrides})


def test_an_envelope_survives_its_avro_record():
    original = envelope(idempotency_key="form-42", correlation_id="c-1", ordering_key="lead-7")
    assert Envelope.from_record(original.to_record()) == original


def test_the_dedupe_key_is_the_producers_key_when_given():
    assert envelope(idempotency_key="form-42").dedupe_key == "form-42"


def test_without_a_producer_key_the_event_id_dedupes():
    event = envelope()
    assert event.dedupe_key == str(event.event_id)


@pytest.mark.parametrize("field", ["tenant_id", "type", "source"])
def test_identity_fields_must_not_be_empty(field):
    with pytest.raises(ValueError, match=field):
        envelope(**{field: ""})


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        envelope(occurred_at=datetime(2026, 1, 1))


def test_a_payload_that_is_not_an_object_is_a_schema_mismatch():
    record = envelope().to_record() | {"payload": "[1, 2]"}
    with pytest.raises(SchemaMismatchError, match="JSON object"):
        Envelope.from_record(record)


def test_a_record_missing_fields_is_a_schema_mismatch_without_its_content():
    record = {"event_id": str(uuid.uuid4()), "payload": '{"phone": "+5511999990000"}'}
    with pytest.raises(SchemaMismatchError) as raised:
        Envelope.from_record(record)
    assert "5511" not in str(raised.value)


def test_event_ids_are_unique_and_timestamps_are_utc():
    a, b = envelope(), envelope()
    assert a.event_id != b.event_id
    assert a.received_at.tzinfo == UTC
