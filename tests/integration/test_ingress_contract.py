"""schemathesis fuzzes the live ingress (real Kafka, real PostgreSQL) from its own OpenAPI document:
no generated request may make it answer 5xx, and every answer must be one the document declares."""

import asyncio
import threading
import uuid

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance
from sqlalchemy import text

from connectors.kafka.admin import apply_catalogue
from infra.cli.wiring import ingress_app
from infra.db.api_keys import ApiKeys
from infra.db.engine import database_url as parsed_url
from infra.db.engine import make_engine
from infra.db.migrate import upgrade
from schemas.catalogue import load_catalogue
from tests.conftest import free_port
from tests.integration.ingress_harness import isolated_settings


@pytest.fixture(scope="module")
def live_ingress(kafka_bootstrap, kafka_admin, database_url):
    name = f"t{uuid.uuid4().hex[:10]}"
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(f"{name}."), replication_factor=1)
    settings = isolated_settings(kafka_bootstrap, database_url, name, f"{name}.")
    engine = make_engine(parsed_url(settings), pool_size=1)
    upgrade(engine, schema=name)
    _, key = ApiKeys(engine).create("acme", "fuzz")
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(ingress_app(settings))
    started = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(30)
    yield f"http://127.0.0.1:{port}", key
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()
    doomed = [t for t in kafka_admin.list_topics(timeout=10).topics if t.startswith(f"{name}.")]
    for future in kafka_admin.delete_topics(doomed, operation_timeout=30).values():
        future.result()


@pytest.fixture(scope="module")
def api_schema(live_ingress):
    base_url, _ = live_ingress
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_makes_the_ingress_fail(case, live_ingress):
    base_url, key = live_ingress
    case.call_and_validate(
        base_url=base_url,
        headers={"Authorization": f"Bearer {key}"},
        checks=[not_a_server_error, status_code_conformance],
    )
