"""schemathesis fuzzes the live ingress (real Kafka, real PostgreSQL) from its own OpenAPI document,
with every check on: no generated request may make it answer 5xx, every answer must be one the
document declares, and the server must accept what the document allows and refuse what it does not."""

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import schemathesis
from aiohttp import web
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.formats import STRING_FORMATS, unregister_string_format
from sqlalchemy import text

from connectors.kafka.admin import apply_catalogue
from infra.cli.wiring import ingress_app
from infra.db.api_keys import ApiKeys
from infra.db.engine import database_url as parsed_url
from infra.db.engine import make_engine
from infra.db.migrate import upgrade
from schemas.catalogue import load_catalogue
from streams.phone import AREA_CODES
from tests.builtin_types import CATALOGUE, TENANT
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


# What JSON Schema cannot state, the document names as a string format (and explains): these
# strategies generate the values each format admits, as the server checks them.
_UFS = sorted(["AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
               "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO"])  # fmt: skip


def _cpf(first_nine: str) -> str:
    digits = first_nine
    for position in (9, 10):
        total = sum(int(d) * w for d, w in zip(digits, range(position + 1, 1, -1), strict=False))
        digits += str(total * 10 % 11 % 10)
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


FORMATS = {
    "phone": st.builds("+55 {} 9{:04d}-{:04d}".format, st.sampled_from(sorted(AREA_CODES)),
                       st.integers(0, 9999), st.integers(0, 9999)),
    "cpf": st.text("0123456789", min_size=9, max_size=9).filter(lambda d: len(set(d)) > 1).map(_cpf),
    "cep": st.builds("{:05d}-{:03d}".format, st.integers(0, 99999), st.integers(0, 999)),
    "uf": st.sampled_from(_UFS + [uf.lower() for uf in _UFS]),
    # Instants the documented range admits (1970 to 2199 in UTC, occurred_at not in the future).
    "date-time": st.datetimes(datetime(2000, 1, 1), datetime(2025, 12, 31),
                              timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3))])).map(datetime.isoformat),
}  # fmt: skip


@pytest.fixture(scope="module")
def api_schema(live_ingress):
    base_url, _ = live_ingress
    builtin = {name: STRING_FORMATS[name] for name in FORMATS if name in STRING_FORMATS}
    for name, strategy in FORMATS.items():
        schemathesis.openapi.format(name, strategy)
    loaded = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    # The document says it: no string may hold NUL (docs/sending-events.md).
    loaded.config.generation.update(allow_x00=False)
    # A body too large is refused too: 413 before any field is read.
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    loaded.hook(map_case)
    yield loaded
    for name in FORMATS:
        unregister_string_format(name)
    for name, strategy in builtin.items():
        schemathesis.openapi.format(name, strategy)


def map_case(context, case):
    """Positive cases keep the rules the document states in prose: each type's cross-field rules
    (a service ends after it started), and an Idempotency-Key header equals the body's idempotency_key when both are sent (here: the
    header alone) and is not sent with CloudEvents."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    if (
        case.headers
        and "Idempotency-Key" in case.headers
        and (case.media_type or "").startswith("application/cloudevents")
    ):
        del case.headers["Idempotency-Key"]
    if not isinstance(case.body, dict):
        return case
    for event in case.body.get("events", [case.body]):
        payload = event.get("payload", event.get("data")) if isinstance(event, dict) else None
        found = CATALOGUE.get(TENANT, event.get("type", "")) if isinstance(payload, dict) else None
        for rule in found.rules if found is not None else ():
            if isinstance(payload.get(rule.than), str) and rule.later in payload:
                before = datetime.fromisoformat(payload[rule.than])
                payload[rule.later] = (before + timedelta(hours=4)).isoformat()
    if case.headers and "Idempotency-Key" in case.headers:
        case.body.pop("idempotency_key", None)
    return case


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None)
def test_every_generated_request_gets_an_answer_the_document_declares(case, live_ingress):
    """Every schemathesis check on (no server errors, status codes, content types, headers and
    bodies as documented, invalid data refused, valid data accepted, auth not ignored, ...)."""
    base_url, key = live_ingress
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {key}"})
