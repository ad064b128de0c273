"""A sync job's run against the real Kafka and PostgreSQL: each page's records become delivery
records on the destination kind's deliver topic, with ids that stay the same when a page is
sent again; the position is stored after each page, so a run that dies mid-way resumes where it
stopped (no gap), and the watermark only moves once a run read everything.

The REST puller is stood in for by a list of pages (``connectors.rest.pull`` has its own tests);
what is under test is the runner: claim, produce, store, resume."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer
from cryptography.fernet import Fernet

from agents.delivery_records import DeliveryEncoder
from agents.sync import SyncRunner
from connectors.http import HttpClients
from connectors.kafka.admin import apply_catalogue
from connectors.kafka.producer import AsyncProducer, producer_config
from connectors.kafka.schema_registry import CatalogueSchemaIds
from connectors.ssrf import OutboundPolicy
from infra.core.secret_box import SecretBox
from infra.db.endpoints import Endpoints
from infra.db.job_runs import JobRuns
from infra.db.sync_jobs import SyncJobs
from infra.db.tenants import Tenants
from schemas.avro_schemas import load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams.deadlines import wait_until
from streams.pagination import Page
from streams.routes import delivery_id
from streams.sync_jobs import record_event_id, sync_route_id

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 5, 14, 30, tzinfo=UTC)


class Pages:
    """Pages of ``per_page`` services from ``rows``; raises at page ``fail_at`` (a source that dies mid-run)."""

    def __init__(self, rows: list[dict[str, Any]], per_page: int, fail_at: int | None = None) -> None:
        self.rows, self.per_page, self.fail_at = rows, per_page, fail_at
        self.asked: list[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]] = []

    async def page(self, watermark: Mapping[str, Any] | None, position: Mapping[str, Any] | None) -> Page:
        self.asked.append((watermark, position))
        offset = int(position["offset"]) if position else 0
        if self.fail_at is not None and offset // self.per_page == self.fail_at:
            raise ConnectionError("the source went away")
        chunk = self.rows[offset : offset + self.per_page]
        after = offset + len(chunk)
        seen = max([row["updated_at"] for row in self.rows[:after]] or [""])
        return Page(list(chunk), {"offset": after} if after < len(self.rows) else None, {"updated_since": seen})


@pytest.fixture
def world(kafka_bootstrap, kafka_admin, migrated, unique, topic_prefix):
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)
    tenant = f"t-{unique[-8:]}"
    box = SecretBox(Fernet.generate_key())
    Tenants(migrated, actor="test").create(tenant, "Clínica Teste", sandbox_url=None)
    endpoints = Endpoints(migrated, box, actor="test")
    endpoints.add(tenant, "operacao", "webhook", "http://127.0.0.1:9/operacao", secret="source-token")
    endpoints.add(tenant, "faturamento", "financeiro", "http://127.0.0.1:9/financeiro", secret="fin-token")
    job = SyncJobs(migrated).add(
        tenant, "faturas-teste",
        source={"endpoint": "operacao", "path": "/v1/services"},
        destination={"endpoint": "faturamento", "action": "financeiro.create_invoice",
                     "mapping": {"fields": {"service_id": {"from": "id"}, "amount": {"from": "amount_cents"}}}},
        schedule={"cron": "0 6 * * *"}, enabled=True,
    )  # fmt: skip
    return tenant, job, endpoints, topic_prefix, kafka_bootstrap


def _runner(migrated, endpoints, prefix, bootstrap, pages: Pages, owner: str = "test:1") -> SyncRunner:
    ids = CatalogueSchemaIds()

    @contextlib.asynccontextmanager
    async def producer() -> AsyncIterator[AsyncProducer]:
        async with AsyncProducer(producer_config({"bootstrap.servers": bootstrap}, 30.0, 5.0)) as opened:
            yield opened

    return SyncRunner(
        jobs=SyncJobs(migrated),
        runs=JobRuns(migrated, owner, lease=timedelta(seconds=60)),
        load_destinations=endpoints.load_enabled,
        open_clients=lambda: HttpClients(OutboundPolicy(allow_loopback=True)),
        open_producer=producer,
        make_puller=lambda base_url, spec, auth, clients, timeouts: pages,
        encoder=DeliveryEncoder(lambda topic: AvroCodec(load_schema("delivery.v2.avsc"), f"{topic}-value", ids)),
        topics=TopicNames(prefix),
        heartbeat_s=5.0,
    )


def _deliveries(bootstrap: str, topic: str, expected: int) -> list[dict[str, Any]]:
    codec = AvroCodec(load_schema("delivery.v2.avsc"), f"{topic}-value", CatalogueSchemaIds())
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            found.append(codec.decode(message.value()))
        return len(found) >= expected

    try:
        wait_until(enough, 30, f"{expected} deliveries on {topic}")
    finally:
        consumer.close()
    return found


def _services(count: int) -> list[dict[str, Any]]:
    return [
        {"id": f"s-{n}", "updated_at": f"2026-12-05T10:{n:02d}:00Z", "amount_cents": 1000 + n} for n in range(count)
    ]


def test_a_run_delivers_every_record_once_with_ids_of_its_own_and_moves_the_watermark(world, migrated):
    tenant, job, endpoints, prefix, bootstrap = world
    pages = Pages(_services(7), per_page=3)
    runner = _runner(migrated, endpoints, prefix, bootstrap, pages)

    assert asyncio.run(runner.run_due(NOW)) == {"succeeded": 1, "failed": 0}
    assert asyncio.run(runner.run_due(NOW + timedelta(hours=1))) == {"succeeded": 0, "failed": 0}  # same tick

    found = _deliveries(bootstrap, f"{prefix}crmbus.deliver.financeiro", 7)
    assert [orjson.loads(d["payload"]) for d in found] == [
        {"service_id": f"s-{n}", "amount": 1000 + n} for n in range(7)
    ]
    event = record_event_id(tenant, job.id, "s-0", "2026-12-05T10:00:00Z")
    [target] = [d for d in endpoints.load_enabled() if d.tenant_id == tenant and d.name == "faturamento"]
    assert found[0]["route_id"] == sync_route_id(job.id, target.id)  # the sink sends to this endpoint
    assert found[0]["delivery_id"] == delivery_id(event, found[0]["route_id"])
    assert {d["action"] for d in found} == {"financeiro.create_invoice"}
    assert [position for _, position in pages.asked] == [None, {"offset": 3}, {"offset": 6}]
    stored = SyncJobs(migrated).get(tenant, "faturas-teste")
    assert (stored.position, stored.watermark) == (None, {"updated_since": "2026-12-05T10:06:00Z"})
    assert (stored.last_outcome, stored.last_records, stored.consecutive_failures) == ("succeeded", 7, 0)


def test_a_run_that_dies_mid_way_resumes_at_its_stored_position_with_the_old_watermark(world, migrated):
    tenant, _job, endpoints, prefix, bootstrap = world
    rows = _services(7)
    failing = Pages(rows, per_page=3, fail_at=2)
    assert asyncio.run(_runner(migrated, endpoints, prefix, bootstrap, failing).run_due(NOW)) == {
        "succeeded": 0, "failed": 1,
    }  # fmt: skip
    stored = SyncJobs(migrated).get(tenant, "faturas-teste")
    assert (stored.position, stored.watermark, stored.consecutive_failures) == ({"offset": 6}, None, 1)

    resumed = Pages(rows, per_page=3)
    next_day = NOW + timedelta(days=1)
    assert asyncio.run(_runner(migrated, endpoints, prefix, bootstrap, resumed).run_due(next_day))["succeeded"] == 1
    assert resumed.asked == [(None, {"offset": 6})]
    found = _deliveries(bootstrap, f"{prefix}crmbus.deliver.financeiro", 7)
    assert sorted(orjson.loads(d["payload"])["service_id"] for d in found) == [f"s-{n}" for n in range(7)]
    assert len({d["delivery_id"] for d in found}) == 7
    assert SyncJobs(migrated).get(tenant, "faturas-teste").watermark == {"updated_since": "2026-12-05T10:06:00Z"}
