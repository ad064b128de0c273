"""Every built-in event type, posted to the real ingress, is routed by a real `crmbus worker` to a
tenant's webhook on loopback (the sandbox's receiver) as its example payload."""

from __future__ import annotations

from typing import Any

from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys
from infra.db.endpoints import Endpoints
from infra.db.routes import Routes
from infra.devtools.sandbox import SandboxClient
from schemas.event_types import built_in_types
from streams import standard_webhooks
from streams.deadlines import wait_until
from streams.routes import delivery_id
from tests.integration.ingress_harness import bearer, run, running_ingress
from tests.integration.worker_harness import Bus, example

LANE_TOPICS = {"high": "crmbus.events.high", "default": "crmbus.events", "low": "crmbus.events.low"}


async def post_each(settings: Settings, key: str, names: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    answers = {}
    async with running_ingress(settings) as (_, client):
        for name in names:
            body = {"type": name, "payload": example(name)}
            async with client.post("/v1/events", json=body, headers=bearer(key)) as response:
                answers[name] = (response.status, await response.json(content_type=None))
    return answers


def test_every_built_in_type_posted_to_the_ingress_reaches_a_webhook_route(bus: Bus, sandbox: SandboxClient):
    types = {t.name: t for t in built_in_types() if t.version == 1}
    sandbox.clear()
    Endpoints(bus.engine, bus.box(), actor="test").add(
        bus.tenant,
        "hooks",
        "webhook",
        sandbox.url_of("webhook") + "/built-ins",
        secret=standard_webhooks.generate_secret(),
    )
    routes = Routes(bus.engine, actor="test")
    for seeded in routes.list(bus.tenant):  # only the webhook routes: one delivery per event
        routes.disable(seeded.id)
    route_of = {name: str(routes.add(bus.tenant, name, "hooks", "webhook.deliver").id) for name in types}
    _, key = ApiKeys(bus.engine).create(bus.tenant, "built-in types")
    workers = bus.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true").start()
    try:
        answers = run(post_each(bus.settings, key, sorted(types)))
        assert {name: status for name, (status, _) in answers.items()} == dict.fromkeys(types, 202), answers
        wait_until(
            lambda: len(sandbox.applied("webhook")) >= len(types), 120, "a webhook delivery of every built-in type"
        )
        received = sandbox.applied("webhook")
    finally:
        workers.stop()

    assert {name: body["topic"] for name, (_, body) in answers.items()} == {
        name: bus.topic(LANE_TOPICS[t.lane]) for name, t in types.items()
    }
    by_delivery = {r.headers["webhook-id"]: r for r in received}
    expected = {delivery_id(body["event_id"], route_of[name]): name for name, (_, body) in answers.items()}
    assert set(by_delivery) == set(expected)  # each type's own route, once, and nothing else
    assert {expected[d]: r.body for d, r in by_delivery.items()} == {name: example(name) for name in types}
    assert {r.path for r in received} == {"/webhook/built-ins"}
