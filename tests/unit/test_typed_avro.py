"""The typed Avro schema of a public topic, generated from a type's JSON Schema: what each JSON
Schema construct becomes, and that a compatible revision of the type stays compatible in Avro."""

import copy
import io
from datetime import UTC, datetime

import fastavro
import pytest

from schemas.event_types import built_in_types
from schemas.typed_avro import TIMESTAMP, typed_avro_schema, typed_datum
from streams.envelope import Envelope
from streams.errors import ConfigurationError, SchemaMismatchError

pytestmark = pytest.mark.unit

ORDER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["order_id", "placed_at", "status", "items"],
    "properties": {
        "order_id": {"type": "string"},
        "placed_at": {"type": "string", "format": "date-time"},
        "status": {"type": "string", "enum": ["open", "paid"], "description": "Where the order is."},
        "total_cents": {"type": "integer"},
        "weight_kg": {"type": ["number", "null"]},
        "gift": {"type": "boolean"},
        "email": {"type": "string", "format": "email"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["sku"],
                "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}},
            },
        },
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def payload_of(schema):
    (payload,) = [f for f in schema["fields"] if f["name"] == "payload"]
    return payload["type"]


def fields_of(record):
    return {f["name"]: f for f in record["fields"]}


def write(schema, datum):
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), datum)
    return buffer.getvalue()


def read(data, writer, reader):
    return fastavro.schemaless_reader(io.BytesIO(data), fastavro.parse_schema(writer), fastavro.parse_schema(reader))


def record_of(schema, payload, **envelope):
    return typed_datum(schema, Envelope("acme", "order.placed", "api", payload, **envelope).to_record(), payload)


def test_the_envelope_fields_come_first_and_the_payload_is_a_record_named_for_the_type():
    schema = typed_avro_schema("order.placed", 1, ORDER)
    assert (schema["namespace"], schema["name"]) == ("io.crmbus.public.v1", "OrderPlaced")
    assert [f["name"] for f in schema["fields"]] == [
        "event_id", "tenant_id", "type", "source", "occurred_at", "received_at",
        "idempotency_key", "correlation_id", "ordering_key", "schema_version", "payload",
    ]  # fmt: skip
    assert payload_of(schema)["name"] == "OrderPlacedPayload"
    assert typed_avro_schema("order.placed", 2, ORDER)["namespace"] == "io.crmbus.public.v2"


def test_each_json_schema_type_has_its_avro_type_and_optional_ones_are_nullable_with_default_null():
    fields = fields_of(payload_of(typed_avro_schema("order.placed", 1, ORDER)))
    assert fields["order_id"]["type"] == "string"
    assert fields["placed_at"]["type"] == TIMESTAMP
    assert fields["total_cents"] == {"name": "total_cents", "type": ["null", "long"], "default": None}
    assert fields["weight_kg"]["type"] == ["null", "double"]
    assert fields["gift"]["type"] == ["null", "boolean"]
    assert fields["email"]["type"] == ["null", "string"], "an e-mail stays a string"


def test_an_enum_is_a_string_whose_doc_lists_the_values():
    status = fields_of(payload_of(typed_avro_schema("order.placed", 1, ORDER)))["status"]
    assert status["type"] == "string"
    assert status["doc"] == "Where the order is. One of: open, paid (a compatible revision may add values)."


def test_nested_objects_are_records_named_by_their_path_arrays_are_arrays_and_maps_are_maps():
    fields = fields_of(payload_of(typed_avro_schema("order.placed", 1, ORDER)))
    item = fields["items"]["type"]["items"]
    assert item["name"] == "OrderPlacedPayloadItemsItem"
    assert fields_of(item)["sku"]["type"] == "string" and fields_of(item)["quantity"]["type"] == ["null", "long"]
    assert fields["labels"]["type"] == ["null", {"type": "map", "values": "string"}]


def test_a_nullable_property_written_the_pydantic_way_is_the_same_field_as_an_optional_one():
    with_any_of = {"anyOf": [{"type": "string", "description": "Why."}, {"type": "null"}], "default": None}
    plain = {"type": "string", "description": "Why."}
    generated = [
        payload_of(typed_avro_schema("a.b", 1, {"type": "object", "additionalProperties": False, **shape}))
        for shape in (
            {"properties": {"reason": with_any_of}, "required": ["reason"]},
            {"properties": {"reason": plain}},
        )
    ]
    assert generated[0] == generated[1]


@pytest.mark.parametrize(
    ("prop", "why"),
    [
        ({"type": "object"}, "payload.bad: type 'object' without properties"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "payload.bad: anyOf of several types"),
        ({"type": "object", "properties": {"x": {"type": "string"}}}, "payload.bad: an object with properties"),
        ({"type": "array", "items": {"type": "object"}}, r"payload.bad\[\]: type 'object'"),
    ],
)
def test_a_construct_without_an_avro_equivalent_is_refused_naming_its_path(prop, why):
    schema = {"type": "object", "additionalProperties": False, "properties": {"bad": prop}}
    with pytest.raises(ConfigurationError, match=f"a.b: {why}"):
        typed_avro_schema("a.b", 1, schema)


def test_every_built_in_type_has_a_typed_schema_that_fastavro_parses():
    for event_type in built_in_types():
        fastavro.parse_schema(typed_avro_schema(event_type.name, event_type.version, event_type.schema))


def test_a_record_carries_the_envelope_and_the_typed_payload():
    schema = typed_avro_schema("order.placed", 1, ORDER)
    payload = {"order_id": "o-1", "placed_at": "2026-03-05T22:00:00Z", "status": "paid", "items": [{"sku": "s"}]}
    record = record_of(schema, payload, idempotency_key="k-1")
    decoded = read(write(schema, record), schema, schema)
    assert decoded["idempotency_key"] == "k-1" and decoded["tenant_id"] == "acme"
    assert decoded["payload"]["placed_at"] == datetime(2026, 3, 5, 22, tzinfo=UTC)
    assert decoded["payload"]["items"] == [{"sku": "s", "quantity": None}]
    assert decoded["payload"]["total_cents"] is None


def test_a_payload_missing_a_required_field_names_the_path_not_the_value():
    schema = typed_avro_schema("order.placed", 1, ORDER)
    payload = {"order_id": "o-1", "placed_at": "2026-03-05T22:00:00Z", "status": "paid", "items": [{"quantity": 3}]}
    with pytest.raises(SchemaMismatchError, match=r"^payload.items\[\].sku: is required"):
        record_of(schema, payload)
    with pytest.raises(SchemaMismatchError, match=r"^payload\.placed_at: is not an ISO-8601 date-time$"):
        record_of(schema, {**payload, "placed_at": "maria@example.com"})


def compatible_revision(schema):
    """What a type's compatible revision may do: add optional properties, widen an enum."""
    revised = copy.deepcopy(schema)
    revised["properties"]["status"]["enum"].append("refunded")
    revised["properties"]["coupon"] = {"type": "string"}
    revised["properties"]["delivery"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["city"],
        "properties": {"city": {"type": "string"}, "at": {"type": "string", "format": "date-time"}},
    }
    revised["properties"]["items"]["items"]["properties"]["note"] = {"type": "string"}
    return revised


def test_a_compatible_revision_reads_the_records_of_the_one_before_and_old_readers_read_the_new():
    old = typed_avro_schema("order.placed", 1, ORDER)
    new = typed_avro_schema("order.placed", 1, compatible_revision(ORDER))
    payload = {"order_id": "o-1", "placed_at": "2026-03-05T22:00:00Z", "status": "paid", "items": [{"sku": "s"}]}

    old_record_read_by_new = read(write(old, record_of(old, payload)), writer=old, reader=new)
    assert old_record_read_by_new["payload"]["coupon"] is None
    assert old_record_read_by_new["payload"]["delivery"] is None
    assert old_record_read_by_new["payload"]["items"] == [{"sku": "s", "quantity": None, "note": None}]

    widened = {**payload, "status": "refunded", "coupon": "BF10", "delivery": {"city": "Campinas"}}
    new_record_read_by_old = read(write(new, record_of(new, widened)), writer=new, reader=old)
    assert new_record_read_by_old["payload"]["status"] == "refunded", "a widened enum is still a string"
    assert "coupon" not in new_record_read_by_old["payload"]


def test_a_new_required_property_is_not_backward_compatible_which_is_why_a_revision_may_not_add_one():
    old = typed_avro_schema("order.placed", 1, ORDER)
    breaking = copy.deepcopy(ORDER)
    breaking["properties"]["channel"] = {"type": "string"}
    breaking["required"].append("channel")
    new = typed_avro_schema("order.placed", 1, breaking)
    payload = {"order_id": "o-1", "placed_at": "2026-03-05T22:00:00Z", "status": "paid", "items": []}
    with pytest.raises(fastavro.read.SchemaResolutionError):
        read(write(old, record_of(old, payload)), writer=old, reader=new)
