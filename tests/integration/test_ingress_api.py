"""The generic API on the real broker and database: accepted events land keyed as their tenant's
partitioning says and decode; bad input gets its problem and writes nothing; tenants cannot see or write as each other."""

import json
import uuid

import pytest
from multidict import CIMultiDict
from sqlalchemy.orm import Session

from connectors.kafka.admin import apply_catalogue
from infra.db.api_keys import ApiKeys
from infra.db.models import WebhookDelivery
from infra.db.tenants import Tenants
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from streams.envelope import Envelope
from tests.builtin_types import example
from tests.integration.ingress_harness import (
    LEAD,
    bearer,
    end_offsets,
    isolated_settings,
    raw_post,
    read_record,
    run,
    running_ingress,
)

CODEC = AvroCodec(load_schema("envelope.v1.avsc"), "any", CatalogueSchemaIds())


@pytest.fixture
def stack(kafka_bootstrap, kafka_admin, database_url, migrated, unique, topic_prefix):
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)
    keys = ApiKeys(migrated)
    _, acme = keys.create("acme", "site")
    _, beta = keys.create("beta", "site")
    lanes = [f"{topic_prefix}crmbus.events{suffix}" for suffix in (".high", "", ".low")]
    return {
        "settings": isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix),
        "acme": acme,
        "beta": beta,
        "lanes": lanes,
        "bootstrap": kafka_bootstrap,
        "engine": migrated,
    }


def post(stack, path, **kwargs):
    async def go():
        async with running_ingress(stack["settings"]) as (_, client), client.post(path, **kwargs) as response:
            return response.status, response.headers, await response.json(content_type=None)

    return run(go())


def test_an_accepted_event_is_in_its_lane_keyed_by_tenant_and_decodes(stack):
    status, headers, body = post(
        stack,
        "/v1/events",
        json={"type": "lead.created", "payload": LEAD},
        headers=bearer(stack["acme"]) | {"Idempotency-Key": "form-42"},
    )
    assert status == 202, body
    assert body["topic"] == stack["lanes"][1]
    assert int(headers["RateLimit-Remaining"]) >= 0
    key, value = read_record(stack["bootstrap"], body["topic"], body["partition"], body["offset"])
    event = Envelope.from_record(CODEC.decode(value))
    assert key == b"acme"
    assert (event.tenant_id, event.type, event.source) == ("acme", "lead.created", "api")
    assert str(event.event_id) == body["event_id"]
    assert event.idempotency_key == "form-42"
    assert event.payload["phone"] == "+5511999990000", "the payload is normalised"


def test_an_entity_partitioned_tenants_events_are_keyed_by_their_entity_where_they_have_one(stack):
    Tenants(stack["engine"]).set_partitioning("acme", "entity")
    events = [
        {"type": "lead.created", "payload": {**LEAD, "lead_id": "L-1"}},  # the type's entity key gives one
        {"type": "lead.created", "payload": LEAD},  # no lead id yet: no ordering key
        {"type": "lead.created", "payload": LEAD, "ordering_key": "form:9"},  # the producer's own
    ]
    status, _, body = post(stack, "/v1/events/batch", json={"events": events}, headers=bearer(stack["acme"]))
    assert status == 202, body
    keys = [read_record(stack["bootstrap"], r["topic"], r["partition"], r["offset"])[0] for r in body["results"]]
    assert keys == [b"acme:lead_id:L-1", b"acme", b"acme:form:9"]
    status, _, body = post(stack, "/v1/events", json=events[0], headers=bearer(stack["beta"]))
    assert read_record(stack["bootstrap"], body["topic"], body["partition"], body["offset"])[0] == b"beta"


def test_critical_types_take_the_high_lane(stack):
    payment = {"payment_id": "p-1", "client_id": "c-1", "amount_cents": 15000, "currency": "BRL",
               "paid_at": "2026-11-20T10:00:00+00:00", "method": "pix"}  # fmt: skip
    status, _, body = post(
        stack, "/v1/events", json={"type": "payment.received", "payload": payment}, headers=bearer(stack["acme"])
    )
    assert status == 202, body
    assert body["topic"] == stack["lanes"][0]


BAD_INPUT = [
    ("no key", {"json": {"type": "lead.created", "payload": LEAD}}, None, 401, "unauthenticated", None),
    ("unknown key", {"json": {"type": "lead.created", "payload": LEAD}}, "crmb_live_" + "x" * 43, 401, "unauthenticated", None),
    ("wrong media type", {"data": b"{}", "headers": {"Content-Type": "text/plain"}}, "acme", 415, "unsupported-media-type", None),
    ("malformed JSON", {"data": b"{nope", "headers": {"Content-Type": "application/json"}}, "acme", 400, "malformed-json", None),
    ("not an object", {"json": [1, 2]}, "acme", 400, "malformed-json", None),
    ("too large", {"json": {"type": "lead.created", "payload": LEAD | {"notes": "x" * 300_000}}}, "acme", 413, "too-large", None),
    ("unknown type", {"json": {"type": "lead.exploded", "payload": {}}}, "acme", 422, "invalid-event", "type"),
    ("wrong field", {"json": {"type": "lead.created", "payload": LEAD | {"phone": "123"}}}, "acme", 422, "invalid-event", "payload.phone"),
    ("tenant in body", {"json": {"type": "lead.created", "payload": LEAD, "tenant_id": "beta"}}, "acme", 422, "invalid-event", "tenant_id"),
    ("timestamp at year 1", {"json": {"type": "lead.created", "payload": LEAD, "occurred_at": "0001-01-01T00:30:00+01:00"}}, "acme", 422, "invalid-event", "occurred_at"),
    ("future timestamp", {"json": {"type": "lead.created", "payload": LEAD, "occurred_at": "2099-01-01T00:00:00+00:00"}}, "acme", 422, "invalid-event", "occurred_at"),
    ("NUL in free text", {"json": {"type": "lead.created", "payload": LEAD | {"notes": "Olá, Fulana\u0000! Tudo bem?"}}}, "acme", 422, "invalid-event", "payload.notes"),
    ("NUL in a field we do not know", {"json": {"type": "lead.created", "payload": LEAD, "extra": {"x": ["\u0000"]}}}, "acme", 422, "invalid-event", "extra.x[0]"),
    ("NUL in the query", {"json": {"type": "lead.created", "payload": LEAD}, "params": {"source": "a\u0000"}}, "acme", 422, "invalid-request", "source"),
    ("NUL in the path", {"json": {"type": "lead.created", "payload": LEAD}, "path": "/v1/events%00"}, "acme", 404, "not-found", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "request_kwargs", "who", "status", "slug", "field"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_gets_its_problem_and_writes_nothing(stack, case, request_kwargs, who, status, slug, field):
    before = end_offsets(stack["bootstrap"], stack["lanes"])
    headers = dict(request_kwargs.pop("headers", {}))
    if who is not None:
        headers |= bearer(stack.get(who, who))
    path = request_kwargs.pop("path", "/v1/events")
    got_status, got_headers, body = post(stack, path, headers=headers, **request_kwargs)
    assert got_status == status, body
    assert got_headers["Content-Type"].startswith("application/problem+json")
    assert body["type"] == f"urn:crmbus:problem:{slug}"
    assert body["status"] == status
    assert body.get("field") == field
    assert "99999" not in str(body), "problems never echo personal data"
    assert end_offsets(stack["bootstrap"], stack["lanes"]) == before


def test_a_batch_writes_its_valid_events_and_names_each_invalid_one(stack):
    before = end_offsets(stack["bootstrap"], stack["lanes"])
    events = [{"type": "lead.created", "payload": LEAD}, {"type": "lead.created", "payload": LEAD | {"phone": "1"}}]
    status, _, body = post(stack, "/v1/events/batch", json={"events": events}, headers=bearer(stack["acme"]))
    assert status == 207
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["results"][0]["status_code"] == 202
    assert body["results"][1]["field"] == "events[1].payload.phone"
    after = end_offsets(stack["bootstrap"], stack["lanes"])
    assert sum(after.values()) - sum(before.values()) == 1


def test_a_nul_anywhere_in_a_batch_refuses_the_whole_batch_naming_the_field(stack):
    before = end_offsets(stack["bootstrap"], stack["lanes"])
    events = [{"type": "lead.created", "payload": LEAD}, {"type": "lead.created", "payload": LEAD | {"notes": "a\x00"}}]
    status, _, body = post(stack, "/v1/events/batch", json={"events": events}, headers=bearer(stack["acme"]))
    assert (status, body["type"], body["field"]) == (422, "urn:crmbus:problem:invalid-event", "events[1].payload.notes")
    assert "NUL" in body["detail"]
    assert end_offsets(stack["bootstrap"], stack["lanes"]) == before


TWICE = {
    "Authorization": lambda keys: [("Authorization", f"Bearer {keys[0]}"), ("Authorization", f"Bearer {keys[1]}")],
    "X-Api-Key": lambda keys: [("X-Api-Key", keys[0]), ("X-Api-Key", keys[1])],
    "Idempotency-Key": lambda keys: [("Authorization", f"Bearer {keys[0]}"), ("Idempotency-Key", "k-1"), ("Idempotency-Key", "k-2")],
}  # fmt: skip


@pytest.mark.parametrize("header", sorted(TWICE))
def test_a_credential_header_sent_twice_is_a_400_naming_it_and_writes_nothing(stack, header):
    headers = CIMultiDict(TWICE[header]((stack["acme"], stack["beta"])))
    before = end_offsets(stack["bootstrap"], stack["lanes"])
    status, got_headers, body = post(
        stack, "/v1/events", json={"type": "lead.created", "payload": LEAD}, headers=headers
    )
    assert (status, body["type"], body["header"]) == (400, "urn:crmbus:problem:duplicate-header", header)
    assert got_headers["Content-Type"].startswith("application/problem+json")
    assert stack["acme"] not in str(body) and stack["beta"] not in str(body), "problems never echo credentials"
    assert end_offsets(stack["bootstrap"], stack["lanes"]) == before


NOT_UTF8 = {
    "Authorization": lambda key: b"Bearer " + key.encode()[:-1] + b"\xc3",
    "X-Crmbus-Signature": lambda _: b"v1=\xc3\x28",
    "Idempotency-Key": lambda _: b"k-\xff",
}


@pytest.mark.parametrize("header", sorted(NOT_UTF8))
def test_a_credential_header_that_is_not_ascii_is_a_400_naming_it_and_writes_nothing(stack, header):
    sent = [b"Authorization: Bearer " + stack["acme"].encode()] if header != "Authorization" else []
    sent.append(header.encode() + b": " + NOT_UTF8[header](stack["acme"]))
    body = json.dumps({"type": "lead.created", "payload": LEAD}).encode()
    before = end_offsets(stack["bootstrap"], stack["lanes"])

    async def go():
        async with running_ingress(stack["settings"]) as (base, _):
            return await raw_post(base, "/v1/events", b"".join(line + b"\r\n" for line in sent), body)

    status, problem = run(go())
    assert (status, problem["type"], problem["header"]) == (400, "urn:crmbus:problem:malformed-header", header)
    assert end_offsets(stack["bootstrap"], stack["lanes"]) == before


def test_a_batch_item_that_is_not_an_object_refuses_the_whole_batch(stack):
    before = end_offsets(stack["bootstrap"], stack["lanes"])
    events = [{"type": "lead.created", "payload": LEAD}, "lead.created"]
    status, _, body = post(stack, "/v1/events/batch", json={"events": events}, headers=bearer(stack["acme"]))
    assert (status, body["field"]) == (422, "events[1]")
    assert end_offsets(stack["bootstrap"], stack["lanes"]) == before


@pytest.mark.parametrize("method", ["OPTIONS", "GET"])
def test_the_batch_resource_answers_other_methods_with_405_allowing_post_only(stack, method):
    async def go():
        async with (
            running_ingress(stack["settings"]) as (_, client),
            client.request(method, "/v1/events/batch", headers=bearer(stack["acme"])) as response,
        ):
            return response.status, response.headers, await response.json(content_type=None)

    status, headers, body = run(go())
    assert (status, headers["Allow"]) == (405, "POST")
    assert headers["Content-Type"].startswith("application/problem+json")
    assert body["status"] == 405


def test_a_batch_over_the_limit_is_refused_whole(stack):
    before = end_offsets(stack["bootstrap"], stack["lanes"])
    events = [{"type": "lead.created", "payload": LEAD}] * (stack["settings"].ingress_batch_max + 1)
    status, _, body = post(stack, "/v1/events/batch", json={"events": events}, headers=bearer(stack["acme"]))
    assert (status, body["field"]) == (422, "events")
    assert end_offsets(stack["bootstrap"], stack["lanes"]) == before


def test_over_the_rate_limit_the_answer_is_429_with_retry_after_and_nothing_is_written(
    stack, unique, topic_prefix, kafka_bootstrap, database_url
):
    settings = isolated_settings(
        kafka_bootstrap, database_url, unique, topic_prefix, rate_limit_tenant_per_s=1, rate_limit_tenant_burst=2
    )

    async def go():
        async with running_ingress(settings) as (_, client):
            statuses = []
            for _ in range(3):
                async with client.post(
                    "/v1/events", json={"type": "lead.created", "payload": LEAD}, headers=bearer(stack["acme"])
                ) as r:
                    statuses.append((r.status, r.headers.get("Retry-After"), await r.json(content_type=None)))
            return statuses

    before = end_offsets(stack["bootstrap"], stack["lanes"])
    answers = run(go())
    assert [a[0] for a in answers] == [202, 202, 429]
    assert int(answers[2][1]) >= 1
    assert answers[2][2]["type"] == "urn:crmbus:problem:rate-limited"
    assert sum(end_offsets(stack["bootstrap"], stack["lanes"]).values()) - sum(before.values()) == 2


def test_a_tenant_cannot_read_another_tenants_event_status(stack):
    event_id = uuid.uuid4()
    with Session(stack["engine"]) as session:
        session.add(WebhookDelivery(delivery_id="d-1", attempt=1, tenant_id="beta", destination="crm", event_id=event_id,
                                    event_type="lead.created", status="delivered", status_code=200, latency_ms=12.0))  # fmt: skip
        session.commit()

    async def go():
        async with running_ingress(stack["settings"]) as (_, client):
            answers = {}
            for who in ("acme", "beta"):
                async with client.get(f"/v1/events/{event_id}", headers=bearer(stack[who])) as r:
                    answers[who] = (r.status, await r.json(content_type=None))
            return answers

    answers = run(go())
    assert answers["acme"][0] == 404
    assert answers["beta"][0] == 200
    assert answers["beta"][1]["deliveries"][0]["destination"] == "crm"


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        ("viewer", "post", "/v1/events", False),
        ("viewer", "post", "/v1/events/batch", False),
        ("viewer", "get", "/v1/events/{id}", True),
        ("operator", "post", "/v1/events", False),
    ],
)
def test_a_key_without_the_events_scope_a_route_needs_gets_403_naming_it_and_writes_nothing(
    stack, role, method, path, allowed
):
    _, secret = ApiKeys(stack["engine"]).create("acme", role, role=role)
    body = {"type": "lead.created", "payload": example("lead.created")}
    kwargs = {"json": {"events": [body]} if path.endswith("batch") else body} if method == "post" else {}
    before = end_offsets(stack["bootstrap"], stack["lanes"])

    async def go():
        async with running_ingress(stack["settings"]) as (_, client):
            call = getattr(client, method)(path.format(id=uuid.uuid4()), headers=bearer(secret), **kwargs)
            async with call as response:
                return response.status, await response.json(content_type=None)

    status, problem = run(go())
    if allowed:
        assert status == 404  # past the scope check: no such event
    else:
        assert status == 403
        assert problem["type"] == "urn:crmbus:problem:forbidden" and "'events:write'" in problem["detail"]
    assert end_offsets(stack["bootstrap"], stack["lanes"]) == before


def test_a_platform_key_sends_no_tenants_events(stack):
    _, secret = ApiKeys(stack["engine"]).create(None, "operators", role="admin")
    status, _, problem = post(stack, "/v1/events", json={"type": "lead.created", "payload": example("lead.created")},
                              headers=bearer(secret))  # fmt: skip
    assert status == 403 and "platform key" in problem["detail"]
