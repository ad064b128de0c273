"""Every operation of the admin API's served OpenAPI document checks its scope and its tenant:
a key without the operation's scope gets 403 naming it, a key of another tenant gets 404 for
this tenant's resources (as for a tenant that does not exist), and a platform key holding admin
works on any tenant."""

import uuid

import pytest

from infra.db.dead_letters import DeadLetters
from infra.db.sync_jobs import SyncJobs
from streams.replay_filter import ReplayFilter
from tests.integration.admin_harness import PEDIDO, SYNC_DESTINATION, SYNC_SOURCE, World, running_admin

LEAD = {"name": "Maria Souza", "phone": "+5511987654321", "channel": "site"}


@pytest.fixture(scope="module")
def world(kafka_bootstrap, database_url):
    with running_admin(kafka_bootstrap, database_url) as running:
        yield running


def _fresh_key(world: World) -> str:
    view, _ = world.repositories["api_keys"].create("acme", "throwaway", role="producer")
    return str(view.id)


def _fresh_source(world: World) -> str:
    return str(world.repositories["sources"].add("acme", "site").id)


def _fresh_replay(world: World) -> str:
    """A replay that was stopped (interrupted), so that it may be resumed."""
    letters = DeadLetters(world.engine, box=world.box)
    run = letters.create_replay("acme", ReplayFilter(ids=frozenset()), action="dlq.replay")
    return str(letters.finish_replay(run.id, "interrupted").id)


def _fresh_sync_job(world: World) -> str:
    """A new sync job of acme's: a run asked for twice within one second is 409."""
    name = _unique("s-")
    SyncJobs(world.engine).add(
        "acme", name, source=SYNC_SOURCE, destination=SYNC_DESTINATION, schedule={"every_s": 3600}
    )
    return name


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# Per operationId: the path parameters and body of a request that succeeds for acme.
SAMPLES = {
    "list_tenants": lambda w: ({}, None),
    "create_tenant": lambda w: ({}, {"id": _unique("t-")}),
    "get_tenant": lambda w: ({}, None),
    "update_tenant": lambda w: ({}, {"partitioning": "tenant"}),
    "list_api_keys": lambda w: ({}, None),
    "create_api_key": lambda w: ({}, {"name": "viewer", "role": "viewer"}),
    "revoke_api_key": lambda w: ({"key_id": _fresh_key(w)}, None),
    "rotate_api_key": lambda w: ({"key_id": _fresh_key(w)}, {"overlap_seconds": 60}),
    "list_sources": lambda w: ({}, None),
    "create_source": lambda w: ({}, {"source": "site"}),
    "revoke_source": lambda w: ({"source_id": _fresh_source(w)}, None),
    "list_destinations": lambda w: ({}, None),
    "create_destination": lambda w: (
        {},
        {"name": _unique("d"), "kind": "webhook", "url": "https://example.test/x", "secret": "s"},
    ),
    "get_destination": lambda w: ({"name": "hook"}, None),
    "update_destination": lambda w: ({"name": "hook"}, {"url": "https://example.test/hook"}),
    "enable_destination": lambda w: ({"name": "hook"}, None),
    "disable_destination": lambda w: ({"name": "hook"}, None),
    "pause_destination": lambda w: ({"name": "hook"}, None),
    "resume_destination": lambda w: ({"name": "hook"}, None),
    "list_routes": lambda w: ({}, None),
    "create_route": lambda w: ({}, {"event_type": "lead.created", "destination": "hook", "action": "crm.upsert_lead"}),
    "get_route": lambda w: ({"route_id": w.route_id}, None),
    "enable_route": lambda w: ({"route_id": w.route_id}, None),
    "disable_route": lambda w: ({"route_id": w.route_id}, None),
    "test_route": lambda w: ({"route_id": w.route_id}, {"payload": LEAD}),
    "list_event_types": lambda w: ({}, None),
    "create_event_type": lambda w: ({}, PEDIDO | {"name": _unique("pedido.n")}),
    "get_event_type": lambda w: ({"name": "pedido.criado", "version": "1"}, None),
    "deprecate_event_type": lambda w: ({"name": "pedido.criado", "version": "1"}, None),
    "list_sync_jobs": lambda w: ({}, None),
    "create_sync_job": lambda w: (
        {},
        {"name": _unique("s-"), "source": SYNC_SOURCE, "destination": SYNC_DESTINATION, "schedule": {"every_s": 60}},
    ),
    "get_sync_job": lambda w: ({"name": "agenda-operacao"}, None),
    "update_sync_job": lambda w: ({"name": "agenda-operacao"}, {"schedule": {"cron": "0 * * * *"}}),
    "pause_sync_job": lambda w: ({"name": "agenda-operacao"}, None),
    "resume_sync_job": lambda w: ({"name": "agenda-operacao"}, None),
    "run_sync_job": lambda w: ({"name": _fresh_sync_job(w)}, None),
    "list_sync_runs": lambda w: ({"name": "agenda-operacao"}, None),
    "list_dead_letters": lambda w: ({}, None),
    "get_dead_letter": lambda w: ({"letter_id": str(w.letter())}, None),
    "discard_dead_letters": lambda w: ({}, {"ids": [w.letter()], "reason": "a test letter"}),
    "preview_replay": lambda w: ({}, {}),
    "replay_dead_letters": lambda w: ({}, {"delivery_ids": [_delivery_of(w, w.letter())]}),
    "get_replay": lambda w: ({"replay_id": _fresh_replay(w)}, None),
    "resume_replay": lambda w: ({"replay_id": _fresh_replay(w)}, None),
    "list_deliveries": lambda w: ({}, None),
    "retry_deliveries": lambda w: ({}, {"delivery_ids": [_delivery_of(w, w.letter())]}),
    "list_events": lambda w: ({}, None),
    "replay_events": lambda w: ({}, {"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T01:00:00Z"}),
    "export_subject": lambda w: ({}, {"phone": "+55 11 90000-0001"}),
    "erase_subject": lambda w: ({}, {"email": "nobody@example.com"}),
}


def _delivery_of(world: World, letter_id: int) -> str:
    return DeadLetters(world.engine, box=world.box).get("acme", letter_id).delivery_id


def operations(world: World):
    document = world.call("GET", "/v1/openapi.json", None).json()
    found = [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if operation.get("security") != []
    ]
    assert {operation["operationId"] for _, _, operation in found} == set(SAMPLES), "an operation lacks a sample"
    return found


def request(world: World, method: str, path: str, operation: dict, key: str, tenant: str = "acme"):
    params, body = SAMPLES[operation["operationId"]](world)
    url = path.replace("{tenant_id}", tenant)
    for name, value in params.items():
        url = url.replace("{" + name + "}", value)
    headers = {"If-Match": "*"} if method == "PATCH" else {}
    return world.call(method, url, key, json=body, headers=headers)


def test_the_document_names_a_scope_for_every_operation(world):
    for _, path, operation in operations(world):
        assert operation["security"] == [{"apiKey": [operation["x-scope"]]}], path


def test_a_key_without_the_operations_scope_gets_403_naming_it(world):
    refused = {}
    for method, path, operation in operations(world):
        scope = operation["x-scope"]
        response = request(world, method, path, operation, world.without(scope))
        refused[f"{method} {path}"] = (response.status_code, response.json().get("scope"))
    assert refused == {name: (403, op_scope) for name, op_scope in _scopes(world).items()}


def test_a_key_of_another_tenant_gets_404_for_this_tenants_resources(world):
    answers = {}
    for method, path, operation in operations(world):
        if "{tenant_id}" not in path:
            continue
        response = request(world, method, path, operation, world.full["globex"])
        answers[f"{method} {path}"] = (response.status_code, response.headers["Content-Type"])
    assert answers
    assert set(answers.values()) == {(404, "application/problem+json")}, answers


def test_a_platform_admin_key_works_on_every_tenant(world):
    answers = {}
    for method, path, operation in operations(world):
        response = request(world, method, path, operation, world.admin_key)
        answers[f"{method} {path}"] = response.status_code
    assert {name: status for name, status in answers.items() if not 200 <= status < 300} == {}


def test_a_tenant_key_works_on_its_own_tenant_and_a_tenant_that_does_not_exist_is_404(world):
    response = world.call("GET", "/v1/tenants/acme/routes", world.full["acme"])
    assert response.status_code == 200
    routes = response.json()["items"]
    assert world.route_id in [route["id"] for route in routes]
    assert {route["tenant_id"] for route in routes} == {"acme"}
    assert world.call("GET", "/v1/tenants/nobody/routes", world.admin_key).status_code == 404


def _scopes(world: World) -> dict[str, str]:
    return {f"{method} {path}": operation["x-scope"] for method, path, operation in operations(world)}
