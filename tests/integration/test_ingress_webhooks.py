"""Source webhooks on the real broker and database: each source's real-shaped payload lands in
its lane keyed by tenant and decodes; bad tokens, signatures and replays write nothing."""

import json
import time
from pathlib import Path

import pytest
from multidict import CIMultiDict

from connectors.kafka.admin import apply_catalogue
from infra.core.secret_box import SecretBox
from infra.db.api_keys import ApiKeys
from infra.db.inbound_sources import InboundSources
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams.envelope import Envelope
from streams.lanes import Lanes
from streams.signatures import crmbus_signature, waha_signature
from streams.sources import SOURCES
from tests.integration.ingress_harness import end_offsets, isolated_settings, read_record, run, running_ingress

EXAMPLES = Path(__file__).parents[2] / "schemas" / "examples"
CASES = sorted((p.parent.name, p) for source in SOURCES for p in (EXAMPLES / source).glob("*.json"))
CODEC = AvroCodec(load_schema("envelope.v1.avsc"), "any", CatalogueSchemaIds())


@pytest.fixture
def stack(kafka_bootstrap, kafka_admin, database_url, migrated, unique, topic_prefix, tmp_path):
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)
    ApiKeys(migrated).create("acme", "admin")
    settings = isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix, state_dir=tmp_path)
    sources = InboundSources(migrated, SecretBox.from_settings(settings))
    endpoints = {source: sources.add("acme", source) for source in SOURCES}
    lanes = Lanes.configure(TopicNames(topic_prefix).lanes, settings.high_priority_types, settings.low_priority_types)
    return {
        "settings": settings,
        "endpoints": endpoints,
        "sources": sources,
        "lanes": lanes,
        "bootstrap": kafka_bootstrap,
    }


def signed_headers(endpoint, body, timestamp=None):
    secret = endpoint.signing_secret.encode() if endpoint.signing_secret else None
    headers = {"Content-Type": "application/json"}
    if secret and endpoint.source == "waha":
        headers["X-Webhook-Hmac"] = waha_signature(secret, body)
    elif secret:
        timestamp = timestamp or int(time.time())
        headers |= {
            "X-Crmbus-Timestamp": str(timestamp),
            "X-Crmbus-Signature": crmbus_signature(secret, timestamp, body),
        }
    return headers


def send(stack, requests):
    """Post each (path, body, headers) in order to one running ingress; answers in order."""

    async def go():
        answers = []
        async with running_ingress(stack["settings"]) as (_, client):
            for path, body, headers in requests:
                async with client.post(path, data=body, headers=headers) as response:
                    answers.append((response.status, await response.json(content_type=None)))
        return answers

    return run(go())


def url(endpoint, token=None):
    return f"/v1/webhooks/{endpoint.source}/{token or endpoint.token}"


@pytest.mark.parametrize(("source", "example"), CASES, ids=[f"{s}/{p.stem}" for s, p in CASES])
def test_each_sources_payload_lands_in_its_lane_keyed_by_tenant_and_decodes(stack, source, example):
    body = example.read_bytes()
    expected = SOURCES[source](json.loads(body))
    endpoint = stack["endpoints"][source]
    before = end_offsets(stack["bootstrap"], list(stack["lanes"].topics))
    [(status, answer)] = send(stack, [(url(endpoint), body, signed_headers(endpoint, body))])
    if not expected:
        assert (status, answer["status"]) == (200, "ignored")
        assert end_offsets(stack["bootstrap"], list(stack["lanes"].topics)) == before
        return
    assert status == 202, answer
    assert [e["type"] for e in answer["events"]] == [e.type for e in expected]
    for written, mapped in zip(answer["events"], expected, strict=True):
        assert written["topic"] == stack["lanes"].topic_for(mapped.type)
        key, value = read_record(stack["bootstrap"], written["topic"], written["partition"], written["offset"])
        event = Envelope.from_record(CODEC.decode(value))
        assert key == b"acme"
        assert (event.tenant_id, event.source, event.type) == ("acme", source, mapped.type)
        assert event.payload == mapped.payload
        assert event.idempotency_key == mapped.idempotency_key


def test_a_wrong_waha_hmac_is_refused_and_writes_nothing(stack):
    endpoint = stack["endpoints"]["waha"]
    body = (EXAMPLES / "waha" / "message_text.json").read_bytes()
    before = end_offsets(stack["bootstrap"], list(stack["lanes"].topics))
    [(status, problem)] = send(
        stack, [(url(endpoint), body, {"Content-Type": "application/json", "X-Webhook-Hmac": "00" * 64})]
    )
    assert (status, problem["type"]) == (401, "urn:crmbus:problem:invalid-signature")
    assert end_offsets(stack["bootstrap"], list(stack["lanes"].topics)) == before


def test_signed_sources_refuse_unsigned_expired_and_replayed_bodies(stack):
    endpoint = stack["endpoints"]["operacao"]
    body = (EXAMPLES / "operacao" / "atendimento_concluido.json").read_bytes()
    good = signed_headers(endpoint, body)
    answers = send(
        stack,
        [
            (url(endpoint), body, {"Content-Type": "application/json"}),
            (url(endpoint), body, signed_headers(endpoint, body, timestamp=int(time.time()) - 600)),
            (url(endpoint), body, good),
            (url(endpoint), body, good),
        ],
    )
    assert [status for status, _ in answers] == [401, 401, 202, 401]
    assert "required" in answers[0][1]["detail"]
    assert "5 minutes" in answers[1][1]["detail"]
    assert "already used" in answers[3][1]["detail"]


def test_unknown_revoked_or_misrouted_tokens_are_not_found_and_write_nothing(stack):
    zapi, site = stack["endpoints"]["zapi"], stack["endpoints"]["site"]
    stack["sources"].revoke(site.id)
    body = (EXAMPLES / "zapi" / "received_text.json").read_bytes()
    site_body = (EXAMPLES / "site" / "lead_form.json").read_bytes()
    headers = {"Content-Type": "application/json"}
    before = end_offsets(stack["bootstrap"], list(stack["lanes"].topics))
    answers = send(
        stack,
        [
            (url(zapi, token="whk_" + "x" * 43), body, headers),
            (f"/v1/webhooks/waha/{zapi.token}", body, headers),
            (url(site), site_body, headers),
            ("/v1/webhooks/nosuchsource/whk_x", body, headers),
        ],
    )
    assert [status for status, _ in answers] == [404, 404, 404, 404]
    assert end_offsets(stack["bootstrap"], list(stack["lanes"].topics)) == before


def test_a_malformed_source_body_names_the_field_in_the_sources_own_terms(stack):
    endpoint = stack["endpoints"]["site"]
    form = json.loads((EXAMPLES / "site" / "lead_form.json").read_text())
    form["telefone"] = "12"
    [(status, problem)] = send(
        stack, [(url(endpoint), json.dumps(form).encode(), {"Content-Type": "application/json"})]
    )
    assert (status, problem["field"]) == (422, "telefone")
    assert "12" not in problem["detail"]


def test_a_source_that_keeps_secrets_out_of_urls_can_send_its_token_in_a_header(stack):
    endpoint = stack["endpoints"]["zapi"]
    body = (EXAMPLES / "zapi" / "received_text.json").read_bytes()
    headers = {"Content-Type": "application/json"}
    answers = send(
        stack,
        [
            ("/v1/webhooks/zapi", body, headers | {"X-Webhook-Token": endpoint.token}),
            ("/v1/webhooks/zapi", body, headers),
        ],
    )
    assert [status for status, _ in answers] == [202, 404]


def test_a_nul_in_a_webhook_body_is_refused_naming_the_field_in_the_sources_terms(stack):
    endpoint = stack["endpoints"]["waha"]
    message = json.loads((EXAMPLES / "waha" / "message_text.json").read_text())
    message["payload"]["body"] = "Olá, Fulana\u0000! Tudo bem?"
    body = json.dumps(message).encode()
    before = end_offsets(stack["bootstrap"], list(stack["lanes"].topics))
    [(status, problem)] = send(stack, [(url(endpoint), body, signed_headers(endpoint, body))])
    assert (status, problem["type"], problem["field"]) == (422, "urn:crmbus:problem:invalid-event", "payload.body")
    assert "Fulana" not in str(problem)
    assert end_offsets(stack["bootstrap"], list(stack["lanes"].topics)) == before


@pytest.mark.parametrize("header", ["X-Webhook-Token", "X-Webhook-Hmac", "X-Crmbus-Signature", "X-Crmbus-Timestamp"])
def test_a_webhook_credential_sent_twice_is_a_400_naming_it_and_writes_nothing(stack, header):
    source = "waha" if header == "X-Webhook-Hmac" else "operacao"
    endpoint = stack["endpoints"][source]
    body = next((EXAMPLES / source).glob("*.json")).read_bytes()
    headers = CIMultiDict(signed_headers(endpoint, body) | {"X-Webhook-Token": endpoint.token})
    headers.add(header, "0" if header == "X-Crmbus-Timestamp" else "v1=" + "00" * 32)
    before = end_offsets(stack["bootstrap"], list(stack["lanes"].topics))
    [(status, problem)] = send(stack, [(f"/v1/webhooks/{source}", body, headers)])
    assert (status, problem["type"], problem["header"]) == (400, "urn:crmbus:problem:duplicate-header", header)
    assert end_offsets(stack["bootstrap"], list(stack["lanes"].topics)) == before


@pytest.mark.parametrize(("algorithm", "status"), [("sha512", 202), ("sha256", 401), ("md5", 401)])
def test_the_waha_hmac_algorithm_header_must_name_sha512(stack, algorithm, status):
    endpoint = stack["endpoints"]["waha"]
    body = (EXAMPLES / "waha" / "message_text.json").read_bytes()
    headers = signed_headers(endpoint, body) | {"X-Webhook-Hmac-Algorithm": algorithm}
    [(got, answer)] = send(stack, [(url(endpoint), body, headers)])
    assert got == status, answer
    if status == 401:
        assert answer["type"] == "urn:crmbus:problem:invalid-signature"
        assert "X-Webhook-Hmac-Algorithm" in answer["detail"]
        assert "supported: sha512" in answer["detail"]
