"""The typed public topics of the built-in types: which schema each carries, that the committed
schema files are what the generator makes, and what the router's encoder writes."""

import io
import json
import re
from datetime import datetime
from pathlib import Path

import fastavro
import pytest

from schemas.avro_schemas import AvroSchema, CatalogueSchemaIds
from schemas.catalogue import TYPED_VALUE, load_catalogue
from schemas.event_types import built_in_types
from schemas.public_topics import (
    PUBLIC_AVRO_DIR,
    PublicEncoder,
    PublicType,
    built_in_public_types,
    published_schema,
)
from schemas.topic_names import versioned_topic
from schemas.typed_avro import typed_datum
from streams.envelope import Envelope
from streams.errors import ConfigurationError, SchemaMismatchError
from tests.builtin_types import example

pytestmark = pytest.mark.unit

PUBLIC_TOPICS = {t.name: t.public_topic for t in built_in_types() if t.public_topic is not None and t.version == 1}
REVISION = re.compile(r"^(?P<topic>.+)\.r(?P<revision>\d+)\.avsc$")


class MemoryIds:
    """``SchemaIds`` that number schemas as they come, for types without a committed file."""

    def __init__(self):
        self.subjects: dict[str, int] = {}
        self._ids: dict[str, int] = {}

    def id_for(self, subject: str, schema: AvroSchema) -> int:
        schema_id = self._ids.setdefault(schema.text, len(self._ids) + 100)
        self.subjects[subject] = schema_id
        return schema_id

    def schema_for(self, schema_id: int) -> AvroSchema:
        raise AssertionError("the encoder never reads")


def committed_files() -> dict[str, list[Path]]:
    """Topic -> its schema files, oldest revision first."""
    found: dict[str, list[tuple[int, Path]]] = {}
    for path in PUBLIC_AVRO_DIR.glob("*.avsc"):
        match = REVISION.match(path.name)
        assert match, f"{path.name} is not named <topic>.r<revision>.avsc"
        found.setdefault(match["topic"], []).append((int(match["revision"]), path))
    return {topic: [path for _, path in sorted(paths)] for topic, paths in found.items()}


def decode(data: bytes, schema_text: str):
    return fastavro.schemaless_reader(io.BytesIO(data[5:]), fastavro.parse_schema(json.loads(schema_text)))


def test_every_built_in_type_with_a_public_topic_has_a_typed_schema_on_a_typed_catalogue_topic():
    catalogue = load_catalogue()
    assert sorted(built_in_public_types()) == sorted(PUBLIC_TOPICS.values())
    for topic in built_in_public_types():
        assert catalogue[topic].value_schema == TYPED_VALUE
    typed = [spec.name for spec in catalogue if spec.value_schema == TYPED_VALUE]
    assert sorted(typed) == sorted(built_in_public_types()), "no typed topic without a type publishing to it"


def test_the_newest_committed_schema_of_each_topic_is_what_the_generator_makes_and_has_an_id():
    files = committed_files()
    ids = CatalogueSchemaIds()
    revisions = {(t.name, t.version): t.revision for t in built_in_types()}
    for topic, public in built_in_public_types().items():
        assert topic in files, f"write `crmbus schemas show {topic}` to {PUBLIC_AVRO_DIR}/{topic}.r<revision>.avsc"
        newest = REVISION.match(files[topic][-1].name)
        assert newest and int(newest["revision"]) <= revisions[(public.event_type, public.version)]
        assert files[topic][-1].read_text(encoding="utf-8") == public.schema.text, (
            f"{topic}'s type changed: write `crmbus schemas show {topic}` to a new "
            f"{topic}.r<revision>.avsc and append its id to schemas/avro/ids.yaml"
        )
        assert ids.id_for(f"{topic}-value", public.schema) > 0


def test_each_committed_schema_reads_the_records_of_the_ones_before_it():
    for topic, paths in committed_files().items():
        event_type = built_in_public_types()[topic].event_type
        envelope = Envelope("acme", event_type, "api", example(event_type))
        newest = fastavro.parse_schema(json.loads(paths[-1].read_text(encoding="utf-8")))
        for older in paths:
            writer = json.loads(older.read_text(encoding="utf-8"))
            buffer = io.BytesIO()
            record = typed_datum(writer, envelope.to_record(), envelope.payload)
            fastavro.schemaless_writer(buffer, fastavro.parse_schema(writer), record)
            buffer.seek(0)
            read = fastavro.schemaless_reader(buffer, fastavro.parse_schema(writer), newest)
            assert read["event_id"] == envelope.event_id, f"{older.name} read by {paths[-1].name}"


@pytest.mark.parametrize("event_type", sorted(PUBLIC_TOPICS))
def test_each_example_publishes_a_record_that_decodes_with_the_published_schema_alone(event_type):
    payload = example(event_type)
    envelope = Envelope("acme", event_type, "api", payload, correlation_id="c-1")
    published = PublicEncoder(CatalogueSchemaIds(), prefix="dev.").encode(envelope)
    assert published is not None
    assert published.topic == "dev." + PUBLIC_TOPICS[event_type]
    decoded = decode(published.value, published_schema(PUBLIC_TOPICS[event_type]).text)
    assert (decoded["event_id"], decoded["type"], decoded["correlation_id"]) == (envelope.event_id, event_type, "c-1")
    assert as_json(decoded["payload"]) == payload, "absent optional fields are null; times are instants"


def as_json(value):
    """A decoded payload as the JSON it was made from: nulls left out, instants in ISO-8601."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def test_the_wire_format_carries_the_catalogue_id_of_the_topic_schema():
    envelope = Envelope("acme", "lead.created", "api", example("lead.created"))
    published = PublicEncoder(CatalogueSchemaIds()).encode(envelope)
    assert published is not None
    assert published.value[0] == 0
    schema_id = int.from_bytes(published.value[1:5], "big")
    assert CatalogueSchemaIds().schema_for(schema_id).text == published_schema("crm.lead.created").text


def test_a_new_major_version_publishes_beside_v1_on_its_own_topic_and_subject():
    (v2_schema,) = [t.schema for t in built_in_types() if t.name == "lead.created" and t.version == 1]
    v2 = PublicType.of("lead.created", 2, "crm.lead.created", v2_schema)
    v1 = built_in_public_types()["crm.lead.created"]
    ids = MemoryIds()
    encoder = PublicEncoder(ids, types=[v1, v2])
    published = encoder.encode(Envelope("acme", "lead.created", "api", example("lead.created"), schema_version=2))
    assert published is not None and published.topic == "crm.lead.created.v2"
    assert versioned_topic("crm.lead.created", 1) == "crm.lead.created"
    assert decode(published.value, v2.schema.text)["schema_version"] == 2
    assert v2.raw["namespace"] == "io.crmbus.public.v2"
    assert list(ids.subjects) == ["crm.lead.created.v2-value"]


def test_a_type_or_version_without_a_public_topic_publishes_nothing():
    encoder = PublicEncoder(CatalogueSchemaIds())
    assert (
        encoder.encode(Envelope("acme", "whatsapp.session.status", "api", example("whatsapp.session.status"))) is None
    )
    assert encoder.encode(Envelope("acme", "lead.created", "api", example("lead.created"), schema_version=2)) is None
    assert encoder.encode(Envelope("acme", "pedido.criado", "api", {"pedido": "1"})) is None


def test_a_payload_that_does_not_fit_is_a_schema_mismatch_that_does_not_quote_it():
    encoder = PublicEncoder(CatalogueSchemaIds())
    wrong = {**example("payment.received"), "amount_cents": "Maria Souza"}
    with pytest.raises(SchemaMismatchError) as mismatch:
        encoder.encode(Envelope("acme", "payment.received", "api", wrong))
    assert "fin.payment.received" in str(mismatch.value) and "Maria" not in str(mismatch.value)


def test_the_published_schema_of_an_internal_topic_is_its_file_and_the_dlq_has_none():
    assert published_schema("crmbus.events").name == "io.crmbus.Envelope"
    with pytest.raises(ConfigurationError, match="original bytes"):
        published_schema("crmbus.dlq")
