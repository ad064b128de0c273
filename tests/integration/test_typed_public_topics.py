"""A consumer in another system reads a typed public topic knowing only what crmbus publishes: the
ingress takes an event, a real `crmbus worker` routes it, and a plain confluent-kafka consumer
decodes the public record with fastavro and the schema from `crmbus schemas show` (or, with a
registry, the schema the registry holds for the record's id)."""

from __future__ import annotations

import io
import json
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import fastavro
import pytest
from confluent_kafka import Consumer, TopicPartition

from infra.db.api_keys import ApiKeys
from schemas.avro_schemas import CatalogueSchemaIds
from schemas.public_topics import published_schema
from streams.deadlines import wait_until
from tests.fakes.schema_registry import FakeSchemaRegistry
from tests.integration.ingress_harness import bearer, run, running_ingress
from tests.integration.worker_harness import CRMBUS, PARTITIONS, Bus, example, worker_env

WIRE_HEADER = 5  # magic byte 0, then the schema id as 4 bytes big-endian


def post_lead(bus: Bus, settings, payload: dict) -> str:
    _, key = ApiKeys(bus.engine).create(bus.tenant, "typed-topics")

    async def go() -> tuple[int, dict]:
        async with (
            running_ingress(settings) as (_, client),
            client.post("/v1/events", json={"type": "lead.created", "payload": payload}, headers=bearer(key)) as r,
        ):
            return r.status, await r.json()

    status, body = run(go())
    assert status == 202, body
    return str(body["event_id"])


def read_one(bootstrap: str, topic: str) -> tuple[bytes, bytes]:
    """The first record on ``topic``, as any Kafka client would read it: key and raw bytes."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"outside-{uuid.uuid4()}"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    found: list[tuple[bytes, bytes]] = []

    def arrived() -> bool:
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            found.append((message.key(), message.value()))
        return bool(found)

    try:
        wait_until(arrived, 60, f"a record on {topic}")
    finally:
        consumer.close()
    return found[0]


def decode(value: bytes, schema_json: str) -> tuple[int, dict]:
    assert value[0] == 0, "Confluent wire format"
    body = io.BytesIO(value[WIRE_HEADER:])
    return int.from_bytes(value[1:WIRE_HEADER], "big"), fastavro.schemaless_reader(
        body, fastavro.parse_schema(json.loads(schema_json))
    )


@pytest.fixture
def registry() -> Iterator[FakeSchemaRegistry]:
    with FakeSchemaRegistry() as fake:
        yield fake


def test_a_consumer_decodes_the_typed_public_topic_with_the_schema_crmbus_schemas_show_prints(bus):
    lead = example("lead.created", phone="(11) 98765-4321", email="Maria.Souza@Example.com.br")
    workers = bus.workers().start()
    try:
        event_id = post_lead(bus, bus.settings, lead)
        key, value = read_one(bus.settings.kafka_bootstrap, bus.topic("crm.lead.created"))
    finally:
        workers.stop()
    shown = subprocess.run(
        [CRMBUS, "schemas", "show", "crm.lead.created"],
        env=worker_env(bus.settings, bus.tmp / "state", bus.port),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    schema_id, record = decode(value, shown)
    assert key == bus.tenant.encode()
    assert schema_id == CatalogueSchemaIds().id_for("crm.lead.created-value", published_schema("crm.lead.created"))
    assert (str(record["event_id"]), record["tenant_id"], record["type"]) == (event_id, bus.tenant, "lead.created")
    assert isinstance(record["received_at"], datetime) and record["received_at"].tzinfo == UTC
    payload = record["payload"]
    assert (payload["phone"], payload["email"]) == ("+5511987654321", "maria.souza@example.com.br"), "normalised"
    assert (payload["channel"], payload["marketing_consent"]) == ("site", False)
    assert payload["campaign"] == {
        "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "cuidador-sp-2026",
        "utm_term": None, "utm_content": None,
    }  # fmt: skip
    assert payload["lead_id"] is None, "an optional field not sent is null"


def test_with_a_registry_the_topic_schema_is_registered_as_topic_value_and_decodes_by_its_id(bus, registry):
    settings = bus.settings.model_copy(update={"schema_registry_url": registry.url})
    workers = bus.workers(CRMBUS_SCHEMA_REGISTRY_URL=registry.url).start()
    try:
        post_lead(bus, settings, example("lead.created"))
        _, value = read_one(bus.settings.kafka_bootstrap, bus.topic("crm.lead.created"))
    finally:
        workers.stop()
    schema_id = int.from_bytes(value[1:WIRE_HEADER], "big")
    with urllib.request.urlopen(f"{registry.url}/schemas/ids/{schema_id}", timeout=10) as answer:
        registered = json.load(answer)["schema"]

    _, record = decode(value, registered)
    assert registry.subjects[bus.topic("crm.lead.created") + "-value"] == [schema_id]
    assert json.loads(registered) == json.loads(published_schema("crm.lead.created").text), "as `schemas show` says"
    assert record["payload"]["campaign"]["utm_source"] == "google"
    assert record["payload"]["service_interest"] == "caregiver"
