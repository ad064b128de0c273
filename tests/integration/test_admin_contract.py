"""schemathesis fuzzes the live admin API (real PostgreSQL) from the OpenAPI document it serves,
with every check on: no generated request may make it answer 5xx, every answer must be one the
document declares, and the server must accept what the document allows and refuse what it does not."""

import uuid

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.generation.meta import ParameterLocation

from tests.integration.admin_harness import PEDIDO, SYNC_DESTINATION, SYNC_SOURCE, World, running_admin

LEAD = {"name": "Maria Souza", "phone": "+5511987654321", "channel": "site"}
PERSON = {"phone": "(11) 98765-4321", "email": "maria@example.com", "cpf": "123.456.789-09"}


@pytest.fixture(scope="module")
def world(kafka_bootstrap, database_url):
    with running_admin(kafka_bootstrap, database_url) as running:
        yield running


@pytest.fixture(scope="module")
def api_schema(world):
    loaded = schemathesis.openapi.from_url(f"{world.base_url}/v1/openapi.json")
    loaded.config.generation.update(allow_x00=False)
    # An update without If-Match is refused with 428 Precondition Required (RFC 6585), which is
    # what the document declares for it.
    missing = loaded.config.checks.missing_required_header
    missing.expected_statuses = [*missing.expected_statuses, "428"]

    def map_case(context, case):
        return for_acme(world, case)

    loaded.hook(map_case)
    return loaded


def for_acme(world: World, case):
    """Positive cases keep what the document states in prose, and act on acme's resources, which
    exist, rather than on random names, which are 404: a fresh Idempotency-Key per request (a key
    reused with another body is 422), If-Match "*" (any version), and the values only the
    tenant's own data makes valid (an event type and destination that exist, a valid type document,
    a payload of the route's type, the config and credential a destination's kind needs)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    if case.headers and "If-Match" in case.headers:
        case.headers["If-Match"] = "*"
    params = case.path_parameters or {}
    if "tenant_id" in params:
        params["tenant_id"] = "acme"
    if "route_id" in params:
        params["route_id"] = world.route_id
    if "name" in params and "/destinations/" in case.path:
        params["name"] = "hook"
    if "name" in params and "/sync-jobs/" in case.path:
        params["name"] = "agenda-operacao"
    if "version" in params:
        params.update(name="pedido.criado", version=1)
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return case
    if case.path.endswith("/routes") and case.method == "POST":
        body.update(event_type="lead.created", destination="hook", action="crm.upsert_lead")
        body.pop("filter", None)
        body.pop("mapping", None)
    elif case.path.endswith("/test"):
        body.update(payload=dict(LEAD), version=1)
    elif "/sync-jobs" in case.path:  # a valid pull, mapping and cron are more than their schemas say
        for part, valid in (("source", SYNC_SOURCE), ("destination", SYNC_DESTINATION)):
            if part in body:
                body[part] = dict(valid)
        if "schedule" in body:
            body["schedule"] = {"every_s": 3600}
        if case.method == "POST" and "name" in body:
            body["name"] = f"s-{uuid.uuid4().hex[:8]}"
    elif case.path.endswith("/events/replay"):
        body.update({"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T01:00:00Z"})
    elif case.path.endswith("/event-types"):
        case.body = PEDIDO | {"name": f"pedido.f{uuid.uuid4().hex[:8]}"}
    elif "/subjects/" in case.path:  # a phone is valid by its area code and length, which no pattern says
        body.update({kind: value for kind, value in PERSON.items() if kind in body})
    elif case.path.endswith("/destinations") or "/destinations/" in case.path:
        body.setdefault("secret", "s3cret")
        if body.get("kind") == "rest":  # a rest destination needs the actions routes may name
            body["config"] = {"auth": {"type": "bearer"}, "actions": {"open": {"method": "POST", "path": "/v1/x"}}}
        elif body.get("kind") in ("zapi", "sms_twilio", "sms_zenvia") or "config" in body:
            body["config"] = {"instance_id": "i", "token": "t", "account_sid": "AC1", "from": "+5511912345678"}
    return case


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None)
def test_every_generated_request_gets_an_answer_the_document_declares(case, world):
    """As the platform admin, which may act on any tenant, so that every operation is reached;
    except a case whose headers schemathesis made invalid on purpose (one of which is leaving the
    credentials out), which goes without them and must be refused all the same."""
    headers = {"Authorization": f"Bearer {world.admin_key}"}
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta is not None else None
    if header is not None and header.mode.is_negative:
        headers = {}
    case.call_and_validate(base_url=world.base_url, headers=headers)
