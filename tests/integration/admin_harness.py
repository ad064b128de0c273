"""The admin API as ``crmbus dashboard`` serves it (mounted at ``/v1/``), on loopback, against the
session's PostgreSQL, with a world to act on: tenants acme and globex, and keys of each scope."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from aiohttp import web
from confluent_kafka.admin import AdminClient, NewTopic
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text

from connectors.kafka.schema_registry import CatalogueSchemaIds
from infra.cli.wiring import admin_app
from infra.core.secret_box import SecretBox
from infra.db.api_keys import ApiKeys
from infra.db.dead_letters import DeadLetters
from infra.db.delivery_log import DeliveryLog
from infra.db.endpoints import Endpoints
from infra.db.engine import database_url as parsed_url
from infra.db.engine import make_engine
from infra.db.event_archive import EventArchive
from infra.db.event_types import EventTypes
from infra.db.inbound_sources import InboundSources
from infra.db.migrate import upgrade
from infra.db.routes import Routes
from infra.db.tenants import Tenants
from schemas.avro_schemas import load_schema
from schemas.codec import AvroCodec
from streams.envelope import Envelope
from streams.replay_filter import ReplayFilter
from streams.scopes import SCOPES
from tests.conftest import free_port
from tests.integration.ingress_harness import isolated_settings

LEAD = {"name": "Maria Souza", "phone": "+5511987654321", "channel": "site"}
SYNC_SOURCE = {
    "endpoint": "hook", "path": "/v1/services", "records_at": "items",
    "pagination": {"style": "offset", "total": "total"}, "changes": {"style": "updated_since"},
}  # fmt: skip
SYNC_DESTINATION = {"endpoint": "hook", "action": "webhook.post", "mapping": {}}
"""A valid sync job's source and destination (their endpoints need not be callable to be stored)."""
ENVELOPES = AvroCodec(load_schema("envelope.v1.avsc"), "admin-test-value", CatalogueSchemaIds())
_OFFSETS = itertools.count()
PEDIDO = {
    "name": "pedido.criado",
    "version": 1,
    "description": "An order.",
    "lane": "default",
    "personal_data": ["cliente.telefone"],
    "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "pedido_id": {"type": "string", "maxLength": 64},
            "cliente": {"type": "object", "properties": {"telefone": {"type": "string"}}},
        },
        "required": ["pedido_id"],
        "additionalProperties": False,
    },
}


@dataclass
class World:
    """The running admin API and what it acts on."""

    base_url: str
    schema: str
    engine: Engine
    repositories: dict[str, Any]
    admin_key: str
    """A platform key (no tenant) holding admin."""
    full: dict[str, str] = field(default_factory=dict)
    """Per tenant, a key holding every scope but admin."""
    route_id: str = ""
    origin_topic: str = ""
    box: SecretBox | None = None
    """The secret box of the admin API's CRMBUS_SECRET_KEY: dead letters are sealed with it."""
    _without: dict[str, str] = field(default_factory=dict)

    def without(self, scope: str) -> str:
        """An acme key holding every scope but ``scope`` (and admin)."""
        if scope not in self._without:
            granted = [s for s in SCOPES if s not in (scope, "admin")]
            _, self._without[scope] = self.repositories["api_keys"].create("acme", f"no-{scope}", scopes=granted)
        return self._without[scope]

    def letter(self, tenant: str = "acme", **changes: Any) -> int:
        """A new open dead letter of ``tenant``: a lead.created event the router dead-lettered, with
        the origin topic this world created; its id."""
        envelope = Envelope(tenant, "lead.created", "site", LEAD)
        offset = next(_OFFSETS)
        row: dict[str, Any] = {
            "tenant_id": tenant, "destination": "crm", "delivery_id": f"d-{uuid.uuid4()}",
            "event_id": envelope.event_id, "original_topic": self.origin_topic, "original_partition": 0,
            "original_offset": offset, "error_class": "PermanentDeliveryError", "error_message": "400",
            "status_code": 400, "attempts": 1, "first_failure_at": datetime.now(UTC),
            "last_failure_at": datetime.now(UTC), "key": tenant.encode(), "value": ENVELOPES.encode(envelope.to_record()),
            "headers": {"crmbus-stage": "router"},
        } | changes  # fmt: skip
        DeliveryLog(self.engine, self.box).record([], [row])
        (found,) = DeadLetters(self.engine, box=self.box).list(
            tenant, ReplayFilter(delivery_ids=frozenset({row["delivery_id"]}))
        )
        return found.id

    def call(self, method: str, path: str, key: str | None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        headers |= kwargs.pop("headers", {})
        return requests.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)


@contextmanager
def running_admin(kafka_bootstrap: str, database_url: str, **overrides: Any) -> Iterator[World]:
    """``overrides``: settings beyond the harness's (``outbound_allow_loopback``, say)."""
    schema = f"a{uuid.uuid4().hex[:10]}"
    secret_key = Fernet.generate_key()
    settings = isolated_settings(
        kafka_bootstrap,
        database_url,
        schema,
        f"{schema}.",
        secret_key=secret_key.decode(),
        admin_rate_limit_burst=10_000,
        admin_rate_limit_per_s=10_000,
        **overrides,
    )
    engine = make_engine(parsed_url(settings), pool_size=2)
    upgrade(engine, schema=schema)
    box = SecretBox(secret_key)
    repositories: dict[str, Any] = {
        "tenants": Tenants(engine, "test"), "api_keys": ApiKeys(engine, "test"),
        "destinations": Endpoints(engine, box, "test"), "sources": InboundSources(engine, box, "test"),
        "event_types": EventTypes(engine, "test"), "events": EventArchive(engine, box, "test"),
    }  # fmt: skip
    repositories["routes"] = Routes(engine, "test", types=repositories["event_types"].catalogue)
    for tenant in ("acme", "globex"):
        repositories["tenants"].create(tenant, sandbox_url=None)
        repositories["destinations"].add(tenant, "hook", "webhook", "https://example.test/hook", secret="s3cret")
        repositories["event_types"].add(tenant, PEDIDO)
        repositories["sources"].add(tenant, "site")
    route = repositories["routes"].add(
        "acme", "lead.created", "hook", "crm.upsert_lead", mapping={"fields": {"nome": {"from": "name"}}}
    )
    _, admin_key = repositories["api_keys"].create(None, "ops", role="admin")
    world = World(
        "", schema, engine, repositories, admin_key, route_id=str(route.id), origin_topic=f"{schema}.origin", box=box
    )
    kafka = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in kafka.create_topics([NewTopic(world.origin_topic, 1, 1)]).values():
        future.result()
    for tenant in ("acme", "globex"):
        _, world.full[tenant] = repositories["api_keys"].create(
            tenant, "full", scopes=[s for s in SCOPES if s != "admin"]
        )
    root = web.Application()
    root.add_subapp("/v1/", admin_app(settings))
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(root)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(30)
    world.base_url = f"http://127.0.0.1:{port}"
    try:
        yield world
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
        for future in kafka.delete_topics([world.origin_topic], operation_timeout=30).values():
            future.result()
