import httpx
import pytest

from connectors.kafka.schema_registry import RegistrySchemaIds, schema_ids
from infra.cli.registry import register_all
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from streams.envelope import Envelope
from streams.errors import DecodeError, ServiceUnreachableError
from tests.fakes.schema_registry import FakeSchemaRegistry


@pytest.fixture
def registry():
    return FakeSchemaRegistry()


@pytest.fixture
def ids(registry):
    return RegistrySchemaIds("http://registry.test", client=httpx.Client(transport=registry.transport()))


def test_the_codec_writes_the_id_the_registry_gave(ids, registry):
    codec = AvroCodec(load_schema("envelope.v1.avsc"), "crmbus.events-value", ids)
    data = codec.encode(Envelope("acme", "lead.created", "site", {}).to_record())
    assert int.from_bytes(data[1:5], "big") == codec.schema_id
    assert registry.subjects["crmbus.events-value"] == [codec.schema_id]


def test_a_reader_with_a_cold_cache_fetches_the_writer_schema_by_id(registry):
    writer_ids = RegistrySchemaIds("http://r.test", client=httpx.Client(transport=registry.transport()))
    reader_ids = RegistrySchemaIds("http://r.test", client=httpx.Client(transport=registry.transport()))
    event = Envelope("acme", "lead.created", "site", {"k": 1})
    data = AvroCodec(load_schema("envelope.v1.avsc"), "a-value", writer_ids).encode(event.to_record())
    asked = registry.requests
    fetched = reader_ids.schema_for(int.from_bytes(data[1:5], "big"))
    assert registry.requests == asked + 1
    assert fetched.name == "io.crmbus.Envelope"


def test_ids_are_asked_once_then_served_from_memory(ids, registry):
    schema = load_schema("envelope.v1.avsc")
    first = ids.id_for("s-value", schema)
    asked = registry.requests
    assert ids.id_for("s-value", schema) == first
    assert ids.schema_for(first) is schema
    assert registry.requests == asked


def test_an_id_the_registry_does_not_know_is_a_decode_error(ids):
    with pytest.raises(DecodeError, match="unknown schema id 77"):
        ids.schema_for(77)


def test_an_unreachable_registry_is_a_typed_error():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    ids = RegistrySchemaIds("http://r.test", client=httpx.Client(transport=httpx.MockTransport(refuse)))
    with pytest.raises(ServiceUnreachableError, match="ConnectError"):
        ids.id_for("s-value", load_schema("envelope.v1.avsc"))


def test_without_a_registry_url_ids_come_from_the_catalogue():
    assert isinstance(schema_ids(None), CatalogueSchemaIds)
    assert isinstance(schema_ids("http://r.test"), RegistrySchemaIds)


def test_registering_the_catalogue_publishes_one_subject_per_avro_topic(ids, registry):
    catalogue = load_catalogue()
    subjects = register_all(catalogue, ids)
    assert set(registry.subjects) == set(subjects)
    assert "crmbus.dlq-value" not in subjects, "the DLQ keeps the original bytes of any schema"
    assert subjects["crmbus.events-value"] == subjects["crm.lead.created-value"], "one schema, one id"
    assert len(set(subjects.values())) == 3
