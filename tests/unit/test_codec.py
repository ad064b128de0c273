import json
import struct
from datetime import UTC, datetime

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.avro_schemas import AvroSchema, CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from streams.envelope import Envelope
from streams.errors import ConfigurationError, DecodeError


def envelope_codec():
    return AvroCodec(load_schema("envelope.v1.avsc"), "crmbus.events-value", CatalogueSchemaIds())


def test_records_carry_the_confluent_header_magic_byte_and_schema_id():
    data = envelope_codec().encode(Envelope("acme", "lead.created", "site", {}).to_record())
    assert struct.unpack(">bI", data[:5]) == (0, 1)


text = st.text(max_size=40)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
payloads = st.dictionaries(st.text(max_size=10), st.one_of(st.integers(), text, st.booleans(), st.none()), max_size=5)


@given(
    tenant=text.filter(bool),
    kind=text.filter(bool),
    payload=payloads,
    occurred=instants,
    key=st.one_of(st.none(), text),
)
def test_any_envelope_round_trips_through_the_wire_format(tenant, kind, payload, occurred, key):
    codec = envelope_codec()
    event = Envelope(tenant, kind, "api", payload, occurred_at=occurred, idempotency_key=key)
    assert Envelope.from_record(codec.decode(codec.encode(event.to_record()))) == event


def test_an_unknown_schema_id_is_a_decode_error():
    data = bytearray(envelope_codec().encode(Envelope("acme", "x", "api", {}).to_record()))
    data[1:5] = struct.pack(">I", 999)
    with pytest.raises(DecodeError, match="unknown schema id 999"):
        envelope_codec().decode(bytes(data))


@pytest.mark.parametrize(
    ("data", "problem"),
    [(b"", "shorter than"), (b"\x01\x00\x00\x00\x01abc", "magic byte"), (b"\x00\x00\x00\x00\x01\xff", "invalid Avro")],
)
def test_bytes_that_are_not_our_records_are_decode_errors(data, problem):
    with pytest.raises(DecodeError, match=problem):
        envelope_codec().decode(data)


class TwoVersions:
    """An ids source that knows a newer envelope with one more field, as a registry would."""

    def __init__(self, newer: AvroSchema) -> None:
        self.newer = newer

    def id_for(self, subject, schema):
        return 2 if schema is self.newer else 1

    def schema_for(self, schema_id):
        return self.newer if schema_id == 2 else load_schema("envelope.v1.avsc")


def test_a_reader_on_v1_reads_records_written_with_a_newer_compatible_schema():
    raw = json.loads(load_schema("envelope.v1.avsc").text)
    raw["fields"].append({"name": "channel", "type": "string", "default": "web"})
    text = json.dumps(raw)
    newer = AvroSchema("io.crmbus.Envelope", text, fastavro.parse_schema(raw))
    ids = TwoVersions(newer)
    event = Envelope("acme", "lead.created", "site", {"a": 1})
    written = AvroCodec(newer, "s", ids).encode(event.to_record() | {"channel": "whatsapp"})
    assert Envelope.from_record(AvroCodec(load_schema("envelope.v1.avsc"), "s", ids).decode(written)) == event


def test_every_schema_file_in_the_id_catalogue_has_one_id():
    ids = CatalogueSchemaIds()
    seen = {ids.id_for("any", load_schema(name)) for name in ("envelope.v1.avsc", "delivery.v1.avsc")}
    assert len(seen) == 2


def test_a_schema_without_an_id_is_a_configuration_error(tmp_path):
    (tmp_path / "ids.yaml").write_text("- id: 1\n  file: envelope.v1.avsc\n")
    with pytest.raises(ConfigurationError, match="no id"):
        CatalogueSchemaIds(tmp_path / "ids.yaml").id_for("s", load_schema("delivery.v1.avsc"))


def test_a_record_without_a_value_is_a_decode_error_not_a_crash():
    with pytest.raises(DecodeError, match="tombstone"):
        envelope_codec().decode(None)
