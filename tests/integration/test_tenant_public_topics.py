"""A consumer in another system reads a tenant's own events: on the shared `custom.events` as the
generic envelope, or, when the tenant asked for a typed topic, as typed Avro on
`custom.<tenant>.<type>`, which `crmbus types add` made ready (its schema in the registry, the
topic created). Without a registry `crmbus types add` refuses `typed_topic`, naming the field, and
stores nothing. The real ingress, a real `crmbus worker`, a plain confluent-kafka consumer."""

from __future__ import annotations

import copy
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from confluent_kafka.admin import AdminClient

from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys
from infra.db.event_types import EventTypes
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.public_topics import published_schema
from tests.fakes.schema_registry import FakeSchemaRegistry
from tests.integration.ingress_harness import bearer, run, running_ingress
from tests.integration.test_tenant_event_types import PEDIDO, pedido, revised
from tests.integration.test_typed_public_topics import WIRE_HEADER, decode, read_one
from tests.integration.worker_harness import CRMBUS, Bus, worker_env

TYPED: dict[str, Any] = {**PEDIDO, "typed_topic": True}


@pytest.fixture
def registry() -> Iterator[FakeSchemaRegistry]:
    with FakeSchemaRegistry() as fake:
        yield fake


def post_order(bus: Bus, settings: Settings, payload: dict[str, Any]) -> str:
    _, key = ApiKeys(bus.engine).create(bus.tenant, "custom-topics")

    async def go() -> tuple[int, dict[str, Any]]:
        async with (
            running_ingress(settings) as (_, client),
            client.post("/v1/events", json={"type": "pedido.criado", "payload": payload}, headers=bearer(key)) as r,
        ):
            return r.status, await r.json()

    status, body = run(go())
    assert status == 202, body
    return str(body["event_id"])


def types_add(bus: Bus, document: dict[str, Any], name: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = bus.tmp / name
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return subprocess.run(
        [CRMBUS, "types", "add", "--tenant", bus.tenant, str(path)],
        env=worker_env(bus.settings, bus.tmp / "state", bus.port, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_event_of_a_tenant_type_lands_on_custom_events_as_the_generic_envelope(bus: Bus):
    EventTypes(bus.engine, actor="test").add(bus.tenant, PEDIDO)
    workers = bus.workers().start()
    try:
        event_id = post_order(bus, bus.settings, pedido(1, 15990))
        key, value = read_one(bus.settings.kafka_bootstrap, bus.topic("custom.events"))
        lane_key, lane_value = read_one(bus.settings.kafka_bootstrap, bus.topic("crmbus.events"))
    finally:
        workers.stop()

    schema_id, record = decode(value, published_schema("custom.events").text)
    assert (key, value) == (lane_key, lane_value), "the lane record as it is, keyed as it was"
    assert schema_id == CatalogueSchemaIds().id_for("custom.events-value", load_schema("envelope.v1.avsc"))
    assert (str(record["event_id"]), record["tenant_id"], record["type"]) == (event_id, bus.tenant, "pedido.criado")
    assert record["schema_version"] == 1
    payload = json.loads(record["payload"])
    assert payload["pedido_id"] == "P-1" and payload["cliente"]["telefone"] == "+5511987654321", "normalised"


def test_with_a_registry_types_add_makes_a_typed_topic_whose_records_decode_with_the_registry_schema(
    bus: Bus, registry: FakeSchemaRegistry
):
    topic = bus.topic(f"custom.{bus.tenant}.pedido.criado")
    added = types_add(bus, TYPED, "pedido.yaml", CRMBUS_SCHEMA_REGISTRY_URL=registry.url)
    assert added.returncode == 0, added.stderr
    assert f"typed topic {topic} created (6 partitions, retention 30 d)" in added.stdout
    (first_id,) = registry.subjects[topic + "-value"]

    settings = bus.settings.model_copy(update={"schema_registry_url": registry.url})
    workers = bus.workers(CRMBUS_SCHEMA_REGISTRY_URL=registry.url).start()
    try:
        event_id = post_order(bus, settings, pedido(2, 25990))
        key, value = read_one(bus.settings.kafka_bootstrap, topic)
    finally:
        workers.stop()
    schema_id = int.from_bytes(value[1:WIRE_HEADER], "big")
    with urllib.request.urlopen(f"{registry.url}/schemas/ids/{schema_id}", timeout=10) as answer:
        registered = json.load(answer)["schema"]

    _, record = decode(value, registered)
    assert schema_id == first_id
    assert key == bus.tenant.encode()
    assert (str(record["event_id"]), record["tenant_id"], record["type"]) == (event_id, bus.tenant, "pedido.criado")
    assert record["payload"]["total_cents"] == 25990, "a field, not a JSON string"
    assert record["payload"]["cliente"] == {"nome": "Maria Souza", "telefone": "+5511987654321"}

    # A compatible revision keeps the topic and registers its evolved schema on the same subject.
    again = types_add(bus, revised(TYPED, cupom={"type": "string"}), "pedido-r2.yaml",
                      CRMBUS_SCHEMA_REGISTRY_URL=registry.url)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"typed topic {topic} exists already" in again.stdout
    assert len(registry.subjects[topic + "-value"]) == 2


def test_typed_topic_without_a_registry_is_refused_by_types_add_naming_the_field(bus: Bus, kafka_admin: AdminClient):
    refused = types_add(bus, copy.deepcopy(TYPED), "pedido.yaml")

    assert refused.returncode == 1
    assert refused.stderr.startswith("InvalidEventTypeError: typed_topic: needs a schema registry"), refused.stderr
    assert EventTypes(bus.engine).list(bus.tenant) == [], "nothing stored"
    assert bus.topic(f"custom.{bus.tenant}.pedido.criado") not in kafka_admin.list_topics(timeout=10).topics


def test_the_generic_envelope_schema_is_what_schemas_show_prints_for_custom_events(bus: Bus):
    shown = subprocess.run(
        [CRMBUS, "schemas", "show", "custom.events"],
        env=worker_env(bus.settings, bus.tmp / "state", bus.port),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert json.loads(shown) == json.loads(load_schema("envelope.v1.avsc").text)
