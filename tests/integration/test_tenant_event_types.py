"""A tenant teaches the bus an event of its own, with no release: it registers `pedido.criado` with
a JSON Schema, and the real ingress, a real `crmbus worker` and a route with a filter on one of its
custom fields and a mapping deliver it to the tenant's webhook. An invalid one is refused naming
the field and writes nothing; a breaking change is refused, a compatible one and a new major
version are accepted, and events of every version flow."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from infra.core.secret_box import SecretBox
from infra.db.api_keys import ApiKeys
from infra.db.endpoints import Endpoints
from infra.db.event_types import EventTypes
from infra.db.routes import Routes
from infra.devtools.sandbox import SandboxClient
from streams.errors import IncompatibleSchemaError
from tests.integration.ingress_harness import bearer, end_offsets, run, running_ingress
from tests.integration.test_delivery import until, workers
from tests.integration.worker_harness import Bus

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

PEDIDO: dict[str, Any] = {
    "name": "pedido.criado",
    "version": 1,
    "description": "A customer placed an order in the shop.",
    "lane": "default",
    "entity_key": "pedido_id",
    "personal_data": ["cliente.nome", "cliente.telefone"],
    "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["pedido_id", "canal", "total_cents", "cliente"],
        "properties": {
            "pedido_id": {"type": "string", "pattern": "^P-[0-9]+$"},
            "canal": {"enum": ["loja", "site"]},
            "total_cents": {"type": "integer", "minimum": 1},
            "cliente": {
                "type": "object",
                "additionalProperties": False,
                "required": ["nome"],
                "properties": {
                    "nome": {"type": "string", "minLength": 1},
                    "telefone": {"type": "string", "format": "phone"},
                },
            },
        },
    },
    "example": {"pedido_id": "P-1", "canal": "loja", "total_cents": 15990, "cliente": {"nome": "Maria Souza"}},
}


def revised(document: dict[str, Any], **properties: Any) -> dict[str, Any]:
    """``document`` with payload properties added or replaced."""
    changed = copy.deepcopy(document)
    changed["schema"]["properties"].update(properties)
    return changed


def pedido(number: int, total_cents: int, **extra: Any) -> dict[str, Any]:
    cliente = {"nome": "Maria Souza", "telefone": "(11) 98765-4321"}
    return {"pedido_id": f"P-{number}", "canal": "site", "total_cents": total_cents, "cliente": cliente, **extra}


@pytest.fixture
def shop(bus: Bus, sandbox: SandboxClient) -> str:
    """The tenant's webhook (the sandbox's) and its route: orders of R$ 100 or more, mapped."""
    sandbox.clear()
    EventTypes(bus.engine, actor="test").add(bus.tenant, PEDIDO)
    box = SecretBox(bus.secret_key.encode())
    Endpoints(bus.engine, box, actor="test").add(
        bus.tenant, "pedidos", "webhook", sandbox.url_of("webhook") + "/pedidos", secret=WEBHOOK_SECRET
    )
    types = EventTypes(bus.engine)
    Routes(bus.engine, actor="test", types=types.catalogue).add(
        bus.tenant,
        "pedido.criado",
        "pedidos",
        "webhook.post",
        filter={"total_cents": {"gte": 10000}},
        # The payload as sent, without the customer's phone, with the customer's name and type.
        mapping={
            "include": "payload",
            "drop": ["cliente"],
            "fields": {"nome": {"from": "cliente.nome"}, "tipo": {"from": "$event.type"}},
        },
    )
    _, key = ApiKeys(bus.engine).create(bus.tenant, "shop")
    return key


async def eventually_accepted(client: Any, key: str, document: dict[str, Any], timeout_s: float) -> None:
    """Post ``document`` until it is accepted (a refusal writes nothing), within ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        async with client.post("/v1/events", json=document, headers=bearer(key)) as answer:
            if answer.status == 202:
                return
            assert answer.status == 422, await answer.text()
        assert asyncio.get_running_loop().time() < deadline, "the ingress never accepted the new revision"
        await asyncio.sleep(0.2)


def test_a_tenant_type_is_validated_routed_by_its_own_fields_and_evolves(bus: Bus, sandbox: SandboxClient, shop: str):
    settings = bus.settings.model_copy(update={"routes_poll_s": 0.5})
    lanes = [bus.topic(name) for name in ("crmbus.events.high", "crmbus.events", "crmbus.events.low")]
    types = EventTypes(bus.engine, actor="test")

    async def scenario() -> None:
        async with running_ingress(settings) as (_, client):

            async def post(document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                async with client.post("/v1/events", json=document, headers=bearer(shop)) as answer:
                    return answer.status, await answer.json(content_type=None)

            # An invalid order: refused naming the field, nothing written.
            before = end_offsets(bus.settings.kafka_bootstrap, lanes)
            status, problem = await post({"type": "pedido.criado", "payload": pedido(1, 15990, canal="telefone")})
            assert (status, problem["field"]) == (422, "payload.canal"), problem
            assert "telefone" not in problem["detail"]
            assert end_offsets(bus.settings.kafka_bootstrap, lanes) == before

            # Valid orders: the one of R$ 100 or more is delivered, mapped; the small one is not.
            assert (await post({"type": "pedido.criado", "payload": pedido(2, 15990)}))[0] == 202
            assert (await post({"type": "pedido.criado", "payload": pedido(3, 990)}))[0] == 202

            # A breaking change is refused naming the field; a compatible one becomes revision 2,
            # which the running ingress picks up live.
            with pytest.raises(IncompatibleSchemaError) as refused:
                types.add(bus.tenant, revised(PEDIDO, total_cents={"type": "integer", "minimum": 100}))
            assert "total_cents" in str(refused.value)
            assert types.add(bus.tenant, revised(PEDIDO, cupom={"type": "string"})).event_type.revision == 2
            coupon = {"type": "pedido.criado", "payload": pedido(4, 25000, cupom="BEMVINDO")}
            await eventually_accepted(client, shop, coupon, 30)

            # The breaking change as a new major version, beside v1: orders from the app only.
            v2 = revised(PEDIDO, canal={"enum": ["site", "app"]}) | {"version": 2, "example": None}
            assert types.add(bus.tenant, v2).event_type.version == 2
            await eventually_accepted(
                client, shop, {"type": "pedido.criado", "version": 2, "payload": pedido(5, 30000, canal="app")}, 30
            )
            status, problem = await post(
                {"type": "pedido.criado", "version": 1, "payload": pedido(6, 30000, canal="app")}
            )
            assert (status, problem["field"]) == (422, "payload.canal")

    running = workers(bus, CRMBUS_ROUTES_POLL_S="0.5").start()
    try:
        run(scenario())
        until(lambda: len(sandbox.applied("webhook")) == 3, 60, "the orders of every version at the webhook")
    finally:
        running.stop()

    bodies = sorted((r.body for r in sandbox.applied("webhook")), key=lambda body: body["pedido_id"])
    common = {"nome": "Maria Souza", "tipo": "pedido.criado"}
    assert bodies == [
        {"pedido_id": "P-2", "canal": "site", "total_cents": 15990, **common},
        {"pedido_id": "P-4", "canal": "site", "total_cents": 25000, "cupom": "BEMVINDO", **common},
        {"pedido_id": "P-5", "canal": "app", "total_cents": 30000, **common},
    ]
