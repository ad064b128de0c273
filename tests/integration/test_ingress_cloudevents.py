"""CloudEvents 1.0 (JSON, structured mode) into the real ingress on the real broker: an event lands
with its attributes mapped onto the envelope, a batch answers per event, what is not a CloudEvent
crmbus can take writes nothing, and the same source and id twice take effect once."""

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from connectors.kafka.admin import apply_catalogue
from infra.db.api_keys import ApiKeys
from infra.db.delivery_log import DeliveryLog
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from streams.deadlines import wait_until
from streams.envelope import Envelope
from tests.integration.ingress_harness import (
    LEAD,
    bearer,
    end_offsets,
    isolated_settings,
    read_record,
    run,
    running_ingress,
)
from tests.integration.worker_harness import example

CODEC = AvroCodec(load_schema("envelope.v1.avsc"), "any", CatalogueSchemaIds())
ONE = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


def cloudevent(**attributes):
    event = {"specversion": "1.0", "id": "A-1", "source": "/erp/leads", "type": "lead.created", "data": LEAD}
    return {**event, **attributes}


@pytest.fixture
def stack(kafka_bootstrap, kafka_admin, database_url, migrated, unique, topic_prefix):
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)
    _, key = ApiKeys(migrated).create("acme", "erp")
    return {
        "settings": isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix),
        "key": key,
        "lanes": [f"{topic_prefix}crmbus.events{suffix}" for suffix in (".high", "", ".low")],
        "bootstrap": kafka_bootstrap,
    }


def post(settings, key, path, body, headers):
    async def go():
        async with (
            running_ingress(settings) as (_, client),
            client.post(path, data=orjson.dumps(body), headers=headers | bearer(key)) as response,
        ):
            return response.status, response.headers, await response.json(content_type=None)

    return run(go())


def written(stack):
    return sum(end_offsets(stack["bootstrap"], stack["lanes"]).values())


def test_a_cloudevent_lands_in_its_lane_with_its_attributes_mapped_onto_the_envelope(stack):
    event = cloudevent(
        time="2026-11-20T09:00:00-03:00", subject="lead:L-7", correlationid="checkout-9", dataversion=1, extra1="x"
    )
    status, _, body = post(stack["settings"], stack["key"], "/v1/events", event, ONE)
    assert status == 202, body
    assert body["topic"] == stack["lanes"][1]
    key, value = read_record(stack["bootstrap"], body["topic"], body["partition"], body["offset"])
    landed = Envelope.from_record(CODEC.decode(value))
    assert key == b"acme"
    assert str(landed.event_id) == body["event_id"]
    assert (landed.tenant_id, landed.type, landed.source) == ("acme", "lead.created", "api")
    assert landed.idempotency_key == "/erp/leads A-1"
    assert landed.occurred_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert (landed.ordering_key, landed.correlation_id, landed.schema_version) == ("lead:L-7", "checkout-9", 1)
    assert landed.payload["phone"] == "+5511999990000", "data is validated and normalised as a payload is"


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/batch"])
def test_a_cloudevents_batch_writes_its_valid_events_and_names_each_invalid_one(stack, path):
    before = written(stack)
    events = [cloudevent(id="1"), cloudevent(id="2", data=LEAD | {"phone": "1"}), cloudevent(id="3", time="soon")]
    status, _, body = post(stack["settings"], stack["key"], path, events, BATCH)
    assert status == 207, body
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert body["results"][0]["status_code"] == 202
    assert [r.get("field") for r in body["results"][1:]] == ["[1].data.phone", "[2].time"]
    assert written(stack) - before == 1


BAD = [
    ("no id", "/v1/events", ONE, {k: v for k, v in cloudevent().items() if k != "id"}, 422, "id"),
    ("another spec version", "/v1/events", ONE, cloudevent(specversion="0.3"), 422, "specversion"),
    ("binary data", "/v1/events", ONE, cloudevent(data=None, data_base64="e30="), 422, "data_base64"),
    ("XML data", "/v1/events", ONE, cloudevent(datacontenttype="application/xml"), 422, "datacontenttype"),
    ("not an attribute name", "/v1/events", ONE, cloudevent(tenant_id="beta"), 422, "tenant_id"),
    ("a version crmbus does not know", "/v1/events", ONE, cloudevent(dataversion=9), 422, "dataversion"),
    ("a payload crmbus refuses", "/v1/events", ONE, cloudevent(data=LEAD | {"phone": "123"}), 422, "data.phone"),
    ("NUL in data", "/v1/events", ONE, cloudevent(data=LEAD | {"notes": "a\x00"}), 422, "data.notes"),
    ("a batch sent as one event", "/v1/events/batch", ONE, [cloudevent()], 415, None),
    ("a batch that is no array", "/v1/events", BATCH, cloudevent(), 400, None),
    ("an empty batch", "/v1/events/batch", BATCH, [], 422, None),
    ("a batch item no object", "/v1/events", BATCH, [cloudevent(), "lead.created"], 422, "[1]"),
    ("NUL in a batch", "/v1/events", BATCH, [cloudevent(), cloudevent(data=LEAD | {"notes": "\x00"})], 422, "[1].data.notes"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "path", "headers", "body", "status", "field"), BAD, ids=[c[0] for c in BAD])
def test_what_is_not_a_cloudevent_crmbus_can_take_gets_its_problem_and_writes_nothing(
    stack, case, path, headers, body, status, field
):
    before = written(stack)
    got_status, got_headers, problem = post(stack["settings"], stack["key"], path, body, headers)
    assert got_status == status, problem
    assert got_headers["Content-Type"].startswith("application/problem+json")
    assert problem.get("field") == field
    assert "99999" not in str(problem), "problems never echo personal data"
    assert written(stack) == before


HEADER_BESIDE = [("/v1/events", ONE, cloudevent()), ("/v1/events", BATCH, [cloudevent()]), ("/v1/events/batch", BATCH, [cloudevent()])]  # fmt: skip


@pytest.mark.parametrize(("path", "headers", "body"), HEADER_BESIDE)
def test_an_idempotency_key_header_beside_cloudevents_is_refused(stack, path, headers, body):
    before = written(stack)
    status, _, problem = post(stack["settings"], stack["key"], path, body, headers | {"Idempotency-Key": "k"})
    assert (status, problem["field"]) == (422, "Idempotency-Key")
    assert written(stack) == before


def test_the_same_cloudevent_twice_takes_effect_once(bus):
    _, key = ApiKeys(bus.engine).create(bus.tenant, "erp")
    event = cloudevent(id="pedido-77", data=example("lead.created"))
    answers = [post(bus.settings, key, "/v1/events", event, ONE) for _ in range(2)]
    assert [status for status, _, _ in answers] == [202, 202], "a repeat is accepted again"
    first, repeat = (uuid.UUID(body["event_id"]) for _, _, body in answers)
    history = DeliveryLog(bus.engine).history
    workers = bus.workers().start()
    try:
        wait_until(
            lambda: all(history(e, bus.tenant).decision is not None for e in (first, repeat)),
            60,
            "the router's decisions, archived",
        )
    finally:
        workers.stop()
    assert history(first, bus.tenant).decision.decision == "routed"
    assert history(repeat, bus.tenant).decision.decision == "deduplicated"
    assert history(repeat, bus.tenant).attempts == [], "the repeat produced nothing"
