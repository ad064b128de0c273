"""The schema registry client against a registry on loopback (tests/fakes/schema_registry.py):
credentials sent, TLS verified with our CA and a client certificate, ids asked once, and every
refusal or silence turned into our own errors."""

import base64

import pytest
from pydantic import SecretStr

from connectors.kafka.schema_registry import RegistryAccess, RegistrySchemaIds, check_registry, schema_ids
from infra.cli.registry import register_all
from infra.core.settings import Settings
from schemas.avro_schemas import load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from schemas.public_topics import built_in_public_types
from streams.envelope import Envelope
from streams.errors import ConfigurationError, DecodeError, ServiceUnreachableError
from tests.conftest import free_port
from tests.fakes.schema_registry import FakeSchemaRegistry
from tests.fakes.tls import LoopbackTls
from tests.integration.ingress_harness import isolated_settings, run, running_ingress

ENVELOPE = load_schema("envelope.v1.avsc")
CREDENTIALS = ("api-key", "api-s3cret")


def settings(registry, **fields):
    return Settings(schema_registry_url=registry.url, **fields)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return LoopbackTls.make(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def ca_file(tls, tmp_path_factory):
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(tls.ca_pem)
    return path


@pytest.fixture
def registry():
    with FakeSchemaRegistry() as fake:
        yield fake


def test_the_codec_writes_the_id_the_registry_gave(registry):
    codec = AvroCodec(ENVELOPE, "crmbus.events-value", schema_ids(settings(registry)))
    data = codec.encode(Envelope("acme", "lead.created", "site", {}).to_record())
    assert int.from_bytes(data[1:5], "big") == codec.schema_id
    assert registry.subjects["crmbus.events-value"] == [codec.schema_id]


def test_ids_are_asked_once_per_subject_then_served_from_memory(registry):
    ids = schema_ids(settings(registry))
    first = ids.id_for("a-value", ENVELOPE)
    assert ids.id_for("a-value", ENVELOPE) == first
    assert ids.schema_for(first) is ENVELOPE, "the schema it registered needs no fetch"
    assert ids.id_for("b-value", ENVELOPE) == first, "one schema, one id, in any subject"
    assert [s.path for s in registry.requests()] == ["/subjects/a-value/versions", "/subjects/b-value/versions"]


def test_a_reader_with_a_cold_cache_fetches_the_writer_schema_once(registry):
    data = AvroCodec(ENVELOPE, "a-value", schema_ids(settings(registry))).encode(
        Envelope("acme", "lead.created", "site", {"k": 1}).to_record()
    )
    reader = schema_ids(settings(registry))
    schema_id = int.from_bytes(data[1:5], "big")
    fetched = reader.schema_for(schema_id)
    assert reader.schema_for(schema_id) is fetched
    assert fetched.name == "io.crmbus.Envelope"
    assert len(registry.requests("GET", "/schemas/ids/")) == 1


def test_an_id_the_registry_does_not_know_is_a_decode_error(registry):
    with pytest.raises(DecodeError, match="unknown schema id 77"):
        schema_ids(settings(registry)).schema_for(77)


def test_a_schema_incompatible_with_the_subject_is_a_configuration_error(registry):
    registry.incompatible.add("crmbus.events-value")
    with pytest.raises(ConfigurationError, match="incompatible"):
        schema_ids(settings(registry)).id_for("crmbus.events-value", ENVELOPE)


def test_a_registry_answering_errors_is_unreachable_for_us(registry):
    registry.failing = 503
    with pytest.raises(ServiceUnreachableError, match="answered 503"):
        schema_ids(settings(registry)).id_for("s-value", ENVELOPE)
    assert len(registry.requests()) == 3, "the client tried again twice"


def test_basic_auth_is_sent_with_every_request():
    with FakeSchemaRegistry(credentials=CREDENTIALS) as registry:
        configured = settings(registry, schema_registry_basic_auth=SecretStr(":".join(CREDENTIALS)))
        schema_id = schema_ids(configured).id_for("s-value", ENVELOPE)
        schema_ids(configured).schema_for(schema_id)
        check_registry(configured, 2.0)
    expected = "Basic " + base64.b64encode(b"api-key:api-s3cret").decode()
    assert [s.method for s in registry.seen] == ["POST", "GET", "GET"]
    assert {s.authorization for s in registry.seen} == {expected}


def test_wrong_credentials_are_a_configuration_error_that_does_not_repeat_them():
    with FakeSchemaRegistry(credentials=CREDENTIALS) as registry:
        ids = schema_ids(settings(registry, schema_registry_basic_auth=SecretStr("api-key:wrong-s3cret")))
        with pytest.raises(ConfigurationError, match="refused our credentials") as refused:
            ids.id_for("s-value", ENVELOPE)
    assert "s3cret" not in str(refused.value)


def test_tls_verifies_the_registry_with_the_configured_ca(tls, ca_file):
    with FakeSchemaRegistry(tls=tls) as registry:
        assert registry.url.startswith("https://")
        trusted = schema_ids(settings(registry, schema_registry_ca_file=ca_file))
        assert trusted.id_for("s-value", ENVELOPE) == 1
        with pytest.raises(ServiceUnreachableError, match="ConnectError"):
            RegistrySchemaIds(RegistryAccess(registry.url), retries=0).id_for("s-value", ENVELOPE)
    assert len(registry.seen) == 1, "the client that does not trust our CA never got a request through"


def test_a_registry_that_asks_for_a_client_certificate_gets_the_configured_one(tls, ca_file):
    with FakeSchemaRegistry(tls=tls, client_ca=tls) as registry:
        # The server's own certificate, signed by the same authority, serves as the client's here.
        with_cert = settings(
            registry,
            schema_registry_ca_file=ca_file,
            schema_registry_cert_file=tls.cert_file,
            schema_registry_key_file=tls.key_file,
        )
        assert schema_ids(with_cert).id_for("s-value", ENVELOPE) == 1
        without = RegistryAccess(registry.url, ca_file=ca_file)
        with pytest.raises(ServiceUnreachableError):
            RegistrySchemaIds(without, retries=0).id_for("s-value", ENVELOPE)


def test_registering_the_catalogue_publishes_one_subject_per_avro_topic(registry):
    subjects = register_all(load_catalogue(), schema_ids(settings(registry)))
    assert set(registry.subjects) == set(subjects)
    assert "crmbus.dlq-value" not in subjects, "the DLQ keeps the original bytes of any schema"
    assert subjects["crmbus.events-value"] == subjects["crmbus.events.high-value"], "one schema, one id"
    public = built_in_public_types()
    typed = {subjects[f"{topic}-value"] for topic in public}
    assert len(typed) == len(public), "each public topic has its own typed schema"
    assert len(set(subjects.values())) == 3 + len(public)
    assert len(registry.requests("POST")) == len(subjects), "one request per subject"


def test_the_health_check_asks_with_the_settings_credentials_once():
    with FakeSchemaRegistry(credentials=CREDENTIALS) as registry:
        check_registry(settings(registry, schema_registry_basic_auth=SecretStr(":".join(CREDENTIALS))), 2.0)
        assert [s.path for s in registry.seen] == ["/subjects"]
        with pytest.raises(ConfigurationError):
            check_registry(settings(registry), 2.0)
    with pytest.raises(ServiceUnreachableError):
        check_registry(Settings(schema_registry_url=f"http://127.0.0.1:{free_port()}"), 2.0)


def test_the_ingress_registers_its_envelope_and_reports_the_registry_in_detailed_health(
    kafka_bootstrap, database_url, migrated, unique, topic_prefix
):
    with FakeSchemaRegistry(credentials=CREDENTIALS) as registry:
        configured = isolated_settings(
            kafka_bootstrap,
            database_url,
            unique,
            topic_prefix,
            schema_registry_url=registry.url,
            schema_registry_basic_auth=SecretStr(":".join(CREDENTIALS)),
        )

        async def go():
            async with running_ingress(configured) as (_, client), client.get("/health/detailed") as r:
                return r.status, await r.json()

        status, health = run(go())
    assert status == 200, health
    assert health["checks"]["schema_registry"]["status"] == "up"
    assert registry.subjects == {f"{topic_prefix}crmbus.events-value": [1]}
