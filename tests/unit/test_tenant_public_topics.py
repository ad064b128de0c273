"""Tenants' own types on the public side: the generic envelope on the shared ``custom.events``, or,
when the type asks for one, typed Avro on ``custom.<tenant_id>.<type>`` with a schema only a
registry can give an id."""

import copy
import io
import json
from typing import Any

import fastavro
import pytest

from infra.cli.typed_topics import check_typed_topic
from infra.core.settings import Settings
from schemas.avro_schemas import AvroSchema, CatalogueSchemaIds
from schemas.catalogue import TYPED_VALUE, load_catalogue
from schemas.public_topics import PublicEncoder, tenant_public_type, tenant_topic_spec
from streams.envelope import Envelope
from streams.errors import ConfigurationError, InvalidEventTypeError, SchemaMismatchError
from streams.event_type import EventType, event_type_from_document
from tests.builtin_types import CATALOGUE

pytestmark = pytest.mark.unit

PEDIDO: dict[str, Any] = {
    "name": "pedido.criado",
    "version": 1,
    "description": "A customer placed an order.",
    "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["pedido_id", "total_cents"],
        "properties": {
            "pedido_id": {"type": "string"},
            "total_cents": {"type": "integer", "minimum": 1},
            "criado_em": {"type": "string", "format": "date-time"},
        },
    },
}
PAYLOAD = {"pedido_id": "P-1", "total_cents": 15990, "criado_em": "2026-12-05T10:00:00Z"}


class MemoryIds:
    """``SchemaIds`` of a registry: every schema gets an id, kept per subject in order."""

    def __init__(self) -> None:
        self.subjects: dict[str, list[int]] = {}
        self.schemas: dict[int, AvroSchema] = {}

    def id_for(self, subject: str, schema: AvroSchema) -> int:
        found = [i for i, known in self.schemas.items() if known.text == schema.text]
        schema_id = found[0] if found else len(self.schemas) + 100
        self.schemas[schema_id] = schema
        if schema_id not in self.subjects.setdefault(subject, []):
            self.subjects[subject].append(schema_id)
        return schema_id

    def schema_for(self, schema_id: int) -> AvroSchema:
        return self.schemas[schema_id]


def tenant_type(typed: bool = True, **changes: Any) -> EventType:
    return event_type_from_document({**PEDIDO, "typed_topic": typed, **changes}, tenant_id="acme")


def decode(value: bytes, schema: AvroSchema) -> tuple[int, dict[str, Any]]:
    assert value[0] == 0, "Confluent wire format"
    return int.from_bytes(value[1:5], "big"), fastavro.schemaless_reader(io.BytesIO(value[5:]), schema.parsed)


# The type document's field.


def test_typed_topic_is_a_field_of_a_tenants_type_document_and_round_trips():
    event_type = tenant_type()
    assert event_type.typed_topic is True
    assert event_type.to_document()["typed_topic"] is True
    assert "typed_topic" not in tenant_type(typed=False).to_document(), "false is the default, left out"


def test_typed_topic_must_be_a_boolean_named_in_the_refusal():
    with pytest.raises(InvalidEventTypeError) as refused:
        tenant_type(typed="yes")  # type: ignore[arg-type]
    assert refused.value.field == "typed_topic"


def test_a_built_in_type_may_not_ask_for_a_typed_topic_it_has_its_public_topic():
    with pytest.raises(InvalidEventTypeError) as refused:
        event_type_from_document({**PEDIDO, "typed_topic": True}, tenant_id=None)
    assert refused.value.field == "typed_topic"


# Where a tenant type's events publish.


def test_a_tenant_type_without_a_typed_topic_publishes_the_lane_records_envelope_on_custom_events():
    envelope = Envelope("acme", "pedido.criado", "api", PAYLOAD)
    original = b"\x00\x00\x00\x00\x01the envelope as the lane holds it"
    published = PublicEncoder(CatalogueSchemaIds(), prefix="dev.").encode(envelope, tenant_type(False), original)
    assert published is not None
    assert (published.topic, published.value) == ("dev.custom.events", original), "the bytes as they are"


def test_custom_events_carries_the_generic_envelope_schema():
    spec = load_catalogue()["custom.events"]
    assert spec.value_schema == "envelope.v1.avsc"


def test_a_typed_topic_publishes_typed_avro_under_its_own_subject_that_decodes_with_the_registered_schema():
    ids = MemoryIds()
    envelope = Envelope("acme", "pedido.criado", "api", PAYLOAD, correlation_id="c-1")
    published = PublicEncoder(ids, prefix="dev.").encode(envelope, tenant_type(), b"ignored")
    assert published is not None
    assert published.topic == "dev.custom.acme.pedido.criado"
    (registered,) = ids.subjects["dev.custom.acme.pedido.criado-value"]
    schema_id, record = decode(published.value, ids.schema_for(registered))
    assert schema_id == registered
    assert (record["tenant_id"], record["type"], record["correlation_id"]) == ("acme", "pedido.criado", "c-1")
    assert record["payload"]["pedido_id"] == "P-1" and record["payload"]["total_cents"] == 15990
    assert record["payload"]["criado_em"].isoformat() == "2026-12-05T10:00:00+00:00", "an instant, not text"


def test_a_tenant_types_new_major_version_publishes_beside_v1():
    v2 = event_type_from_document({**PEDIDO, "version": 2, "typed_topic": True}, tenant_id="acme")
    envelope = Envelope("acme", "pedido.criado", "api", PAYLOAD, schema_version=2)
    published = PublicEncoder(MemoryIds()).encode(envelope, v2, b"")
    assert published is not None and published.topic == "custom.acme.pedido.criado.v2"


def test_a_compatible_revision_registers_its_evolved_schema_on_the_same_subject_and_reads_the_old_records():
    ids = MemoryIds()
    encoder = PublicEncoder(ids)
    envelope = Envelope("acme", "pedido.criado", "api", PAYLOAD)
    first = encoder.encode(envelope, tenant_type(), b"")
    revised = copy.deepcopy(PEDIDO)
    revised["schema"]["properties"]["cupom"] = {"type": "string"}
    second_type = event_type_from_document({**revised, "revision": 2, "typed_topic": True}, tenant_id="acme")
    second = encoder.encode(Envelope("acme", "pedido.criado", "api", {**PAYLOAD, "cupom": "OI"}), second_type, b"")
    assert first is not None and second is not None and first.topic == second.topic
    old_id, new_id = ids.subjects["custom.acme.pedido.criado-value"]
    assert decode(second.value, ids.schemas[new_id])[1]["payload"]["cupom"] == "OI"
    body = io.BytesIO(first.value[5:])
    read = fastavro.schemaless_reader(body, ids.schemas[old_id].parsed, ids.schemas[new_id].parsed)
    assert read["payload"]["cupom"] is None, "backward compatible: the new schema reads the old record"


def test_without_a_registry_a_typed_tenant_topic_has_no_schema_id_and_the_event_is_a_schema_mismatch():
    envelope = Envelope("acme", "pedido.criado", "api", PAYLOAD)
    with pytest.raises(SchemaMismatchError, match=r"custom\.acme\.pedido\.criado: no schema id"):
        PublicEncoder(CatalogueSchemaIds()).encode(envelope, tenant_type(), b"")


def test_a_stored_schema_avro_cannot_express_is_a_schema_mismatch_not_a_crash():
    open_object = copy.deepcopy(PEDIDO)
    open_object["schema"]["properties"]["extra"] = {"type": "object"}
    stale = event_type_from_document({**open_object, "typed_topic": True}, tenant_id="acme")
    with pytest.raises(SchemaMismatchError, match=r"payload\.extra"):
        PublicEncoder(MemoryIds()).encode(Envelope("acme", "pedido.criado", "api", PAYLOAD), stale, b"")


def lead_created() -> EventType:
    found = CATALOGUE.get("acme", "lead.created")
    assert found is not None
    return found


def test_a_built_in_type_keeps_its_own_public_topic_whatever_is_passed_along():
    lead = lead_created()
    envelope = Envelope("acme", "lead.created", "api", dict(lead.example or {}))
    published = PublicEncoder(CatalogueSchemaIds()).encode(envelope, lead, b"not these bytes")
    assert published is not None and published.topic == "crm.lead.created"
    assert published.value != b"not these bytes"


def test_a_typed_tenant_schema_is_generated_from_the_type_with_its_description():
    public = tenant_public_type(tenant_type())
    assert json.loads(public.schema.text)["name"] == "PedidoCriado"
    assert public.raw["fields"][-1]["doc"] == "A customer placed an order."
    with pytest.raises(ConfigurationError, match="built-in"):
        tenant_public_type(lead_created())


def test_a_typed_tenant_topic_has_the_shape_of_the_public_topics():
    spec = tenant_topic_spec("dev.custom.acme.pedido.criado")
    public = load_catalogue()["crm.lead.created"]
    assert (spec.name, spec.value_schema) == ("dev.custom.acme.pedido.criado", TYPED_VALUE)
    assert (spec.partitions, spec.retention_ms, spec.cleanup_policy) == (
        public.partitions, public.retention_ms, public.cleanup_policy,
    )  # fmt: skip


# What `crmbus types add` checks before any I/O.


def test_typed_topic_without_a_schema_registry_is_refused_naming_the_field():
    with pytest.raises(InvalidEventTypeError) as refused:
        check_typed_topic(tenant_type(), Settings(schema_registry_url=None))
    assert refused.value.field == "typed_topic"
    assert "schema registry" in str(refused.value)


def test_typed_topic_for_a_schema_avro_cannot_express_is_refused_naming_the_field_and_the_path():
    open_object = copy.deepcopy(PEDIDO)
    open_object["schema"]["properties"]["extra"] = {"type": "object"}
    with pytest.raises(InvalidEventTypeError) as refused:
        check_typed_topic(
            event_type_from_document({**open_object, "typed_topic": True}, tenant_id="acme"),
            Settings(schema_registry_url="http://127.0.0.1:1"),
        )
    assert refused.value.field == "typed_topic" and "payload.extra" in str(refused.value)


def test_a_type_without_typed_topic_needs_no_registry():
    check_typed_topic(tenant_type(typed=False), Settings(schema_registry_url=None))
