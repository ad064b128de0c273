"""Source webhooks on the real broker and database: each source's real-shaped payload lands in
its lane keyed by tenant (or tenant and entity) and decodes; bad tokens, signatures and replays write nothing."""

import dataclasses
import json
import os
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from sqlalchemy.engine import make_url

from connectors.kafka.admin import apply_catalogue
from infra.cli.wiring import ingress_resources
from infra.core.secret_box import SecretBox
from infra.db.api_keys import ApiKeys
from infra.db.engine import make_engine
from infra.db.inbound_sources import InboundSources
from infra.db.signature_claims import SignatureClaims
from infra.db.tenants import Tenants
from ingress.api.app import build_app
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams.deadlines import wait_until
from streams.envelope import Envelope
from streams.lanes import Lanes
from streams.signatures import REPLAY_WINDOW_S, crmbus_signature, waha_signature
from streams.sources import SOURCES
from tests.builtin_types import CATALOGUE, TENANT, validate_payload
from tests.conftest import free_port
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
    expected = SOURCES[source](json.loads(body), validate_payload)
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
        assert written["topic"] == stack["lanes"].topic_for(mapped.type, CATALOGUE.lane(TENANT, mapped.type))
        key, value = read_record(stack["bootstrap"], written["topic"], written["partition"], written["offset"])
        event = Envelope.from_record(CODEC.decode(value))
        assert key == b"acme"
        assert (event.tenant_id, event.source, event.type) == ("acme", source, mapped.type)
        assert event.payload == mapped.payload
        assert event.idempotency_key == mapped.idempotency_key


def test_an_entity_partitioned_tenants_webhook_events_are_keyed_by_tenant_and_entity(stack, migrated):
    Tenants(migrated).set_partitioning("acme", "entity")
    endpoint = stack["endpoints"]["site"]
    body = (EXAMPLES / "site" / "lead_form.json").read_bytes()
    [mapped] = SOURCES["site"](json.loads(body), validate_payload)
    [(status, answer)] = send(stack, [(url(endpoint), body, signed_headers(endpoint, body))])
    assert status == 202, answer
    [written] = answer["events"]
    key, _ = read_record(stack["bootstrap"], written["topic"], written["partition"], written["offset"])
    assert mapped.ordering_key is not None
    assert key == f"acme:{mapped.ordering_key}".encode()


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


def test_a_signature_is_accepted_once_across_two_ingress_processes(stack):
    endpoint = stack["endpoints"]["operacao"]
    body = (EXAMPLES / "operacao" / "atendimento_concluido.json").read_bytes()
    now = int(time.time())
    fresh = [signed_headers(endpoint, body, timestamp=now - i) for i in range(5)]
    before = end_offsets(stack["bootstrap"], list(stack["lanes"].topics))

    async def go():
        statuses = []
        async with (
            running_ingress(stack["settings"]) as (_, one),
            running_ingress(stack["settings"]) as (_, other),
        ):
            for attempt in range(10):
                for headers in fresh:
                    client = (one, other)[attempt % 2]
                    async with client.post(url(endpoint), data=body, headers=headers) as response:
                        answer = await response.json(content_type=None)
                        statuses.append((response.status, answer.get("accepted") or answer.get("detail")))
        return statuses

    statuses = run(go())
    assert statuses[:5] == [(202, 1)] * 5
    assert statuses[5:] == [(401, "this signature was already used")] * 45
    after = end_offsets(stack["bootstrap"], list(stack["lanes"].topics))
    assert sum(after.values()) - sum(before.values()) == 5


def test_a_signed_webhook_is_refused_with_503_while_signatures_cannot_be_claimed(stack):
    """PostgreSQL unreachable for the claim: nothing is accepted on this process's word alone."""
    endpoint = stack["endpoints"]["operacao"]
    body = (EXAMPLES / "operacao" / "atendimento_concluido.json").read_bytes()
    nowhere = make_url(f"postgresql+psycopg://crmbus:crmbus@127.0.0.1:{free_port()}/crmbus?connect_timeout=2")
    unreachable = SignatureClaims(make_engine(nowhere, pool_size=1), REPLAY_WINDOW_S)
    before = end_offsets(stack["bootstrap"], list(stack["lanes"].topics))

    @asynccontextmanager
    async def resources():
        async with ingress_resources(stack["settings"]) as opened:
            yield dataclasses.replace(opened, claim_signature=unreachable.claim)

    async def go():
        server = TestServer(build_app(stack["settings"], resources), host="127.0.0.1", port=0)
        await server.start_server()
        try:
            async with aiohttp.ClientSession(base_url=str(server.make_url(""))) as client:
                headers = signed_headers(endpoint, body)
                async with client.post(url(endpoint), data=body, headers=headers) as response:
                    return response.status, response.headers.get("Retry-After"), await response.json(content_type=None)
        finally:
            await server.close()

    status, retry_after, problem = run(go())
    assert (status, retry_after, problem["type"]) == (503, "5", "urn:crmbus:problem:dependency-unavailable")
    assert end_offsets(stack["bootstrap"], list(stack["lanes"].topics)) == before


def test_crmbus_ingress_with_two_processes_accepts_each_signature_once(stack, tmp_path):
    """The reproduction as operators meet it: `crmbus ingress` (two processes on one port), each
    request on a new connection, so the kernel spreads them over both processes."""
    settings = stack["settings"]
    endpoint = stack["endpoints"]["operacao"]
    body = (EXAMPLES / "operacao" / "atendimento_concluido.json").read_bytes()
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRMBUS_")} | {
        "CRMBUS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CRMBUS_DATABASE_URL": settings.database_url.get_secret_value(),
        "CRMBUS_TOPIC_PREFIX": settings.topic_prefix,
        "CRMBUS_INGRESS_PORT": str(port),
        "CRMBUS_INGRESS_WORKERS": "2",
        "CRMBUS_STATE_DIR": str(settings.state_dir),
    }
    log_path = tmp_path / "ingress.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "infra", "ingress"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/health"), 60, "crmbus ingress /health")
        now = int(time.time())
        fresh = [signed_headers(endpoint, body, timestamp=now - i) for i in range(5)]
        statuses = [
            httpx.post(base + url(endpoint), content=body, headers=headers, timeout=30).status_code
            for _ in range(10)
            for headers in fresh
        ]
    finally:
        process.terminate()
        process.wait(60)
    assert sorted(statuses) == [202] * 5 + [401] * 45, log_path.read_text()[-2000:]
    assert statuses[:5] == [202] * 5


def _answers(health_url: str) -> bool:
    try:
        return httpx.get(health_url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


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
