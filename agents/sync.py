"""Sync jobs: pull a tenant's records from one system page by page, deliver each like a routed event.

One periodic job (``agents.jobs``), ``sync``, wakes every ``CRMBUS_SYNC_CHECK_S`` on whichever
worker claims its tick, and looks at every enabled sync job (``infra.db.sync_jobs``). Each one
whose schedule's tick (``streams.sync_jobs.Schedule``) has not run is claimed on its own in
``job_runs`` as (``sync:<id>``, tick): however many workers look, the tick runs once, and a run
whose worker was killed is taken over by the next look after the lease (``CRMBUS_JOBS_LEASE_S``).

A run, from the job's stored position (None: the start) and stored watermark:

1. ``page = await puller.page(watermark, position)``
2. each record becomes a delivery record exactly as the router makes one (``streams.routes.fan_out``
   over a route built from the job's destination, ``agents.router.DeliveryEncoder``), with an event
   id derived from (tenant, job, record id, record version): the same on every run;
3. the page's records are produced to the deliver topic of the destination's kind and acknowledged
   (acks=all), then the page's position is stored in PostgreSQL;
4. until the page's position is None: then the watermark moves and the position is cleared.

A crash between 3 and the store re-sends that page on resume, under the same delivery ids: the
sink's idempotency skips them. A crash before 3 re-sends nothing twice and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from agents.delivery_records import DeliveryEncoder
from agents.jobs import Job
from connectors.http import HttpClients
from connectors.kafka.producer import AsyncProducer
from connectors.limits import Timeouts
from connectors.rest.auth import Auth, auth_from
from infra.core.metrics import JOB_CONSECUTIVE_FAILURES, JOB_LAST_SUCCESS, JOB_RUN_SECONDS, JOB_RUNS, SYNC_RECORDS
from infra.db.endpoints import Destination
from infra.db.job_runs import JobRuns
from infra.db.sync_jobs import SyncJobs, SyncJobView
from schemas.topic_names import TopicNames
from streams.envelope import Envelope
from streams.errors import ConfigurationError
from streams.mapping import compile_mapping
from streams.pagination import Page, PullSpec
from streams.route_filter import compile_filter
from streams.routes import Route, fan_out
from streams.sync_jobs import SYNC_EVENT_TYPE, claim_name, pull_spec, record_event_id, record_identity, sync_route_id
from streams.ticks import tick_of

log = logging.getLogger(__name__)

DEFAULT_NAMES = frozenset({"servico-faturamento", "agenda-operacao", "cuidadores-crm"})


def metric_job(name: str) -> str:
    """The ``job`` label of a sync job's metrics: the default jobs by name, every other as one
    (tenants name their own jobs: their names are not bounded; PostgreSQL keeps the detail)."""
    return f"sync:{name}" if name in DEFAULT_NAMES else "sync:other"


class Pages(Protocol):
    """A REST list read page by page (``connectors.rest.pull.Puller``)."""

    async def page(self, watermark: Mapping[str, Any] | None, position: Mapping[str, Any] | None) -> Page: ...


MakePuller = Callable[[str, PullSpec, Auth, HttpClients, Timeouts], Pages]
"""(the source endpoint's base URL, the job's pull spec, auth, clients, timeouts) -> its pages."""


@dataclass(frozen=True, slots=True)
class SyncRunner:
    jobs: SyncJobs
    runs: JobRuns
    load_destinations: Callable[[], list[Destination]]
    open_clients: Callable[[], AbstractAsyncContextManager[HttpClients]]
    open_producer: Callable[[], AbstractAsyncContextManager[AsyncProducer]]
    make_puller: MakePuller
    encoder: DeliveryEncoder
    topics: TopicNames
    heartbeat_s: float

    async def run_due(self, now: datetime | None = None) -> dict[str, Any]:
        """Claim and run every enabled sync job whose tick has not run; what ran, by outcome."""
        moment = now or datetime.now(UTC)
        jobs = await asyncio.to_thread(self.jobs.load_enabled)
        ran = {"succeeded": 0, "failed": 0}
        for job in jobs:
            tick = job.schedule.tick(moment)
            if await asyncio.to_thread(self.runs.claim, claim_name(job.id), tick):
                ran[await self.run_claimed(job, tick)] += 1
        await self.publish_failures()
        return ran

    async def run_claimed(self, job: SyncJobView, tick: datetime) -> str:
        """Run ``job`` for the ``tick`` this process claimed, heartbeating; record its outcome."""
        began, label = time.monotonic(), metric_job(job.name)
        beating = asyncio.create_task(self._heartbeat(claim_name(job.id), tick))
        records, error = 0, None
        try:
            async for delivered in self._pull(job):
                records += delivered
        except Exception as exc:  # noqa: BLE001 - a job's failure is recorded; the others go on
            error = type(exc).__name__
            log.warning("sync job failed", extra={"sync_job": str(job.id), "tenant": job.tenant_id, "error": error})
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        outcome = "succeeded" if error is None else "failed"
        await asyncio.to_thread(self.jobs.finish, job.id, error=error, records=records)
        details = {"records": records} if error is None else {"records": records, "error": error}
        await asyncio.to_thread(self.runs.finish, claim_name(job.id), tick, outcome, details)  # type: ignore[arg-type]
        JOB_RUN_SECONDS.labels(job=label).observe(time.monotonic() - began)
        JOB_RUNS.labels(job=label, outcome=outcome).inc()
        SYNC_RECORDS.labels(job=label).inc(records)
        if error is None:
            JOB_LAST_SUCCESS.labels(job=label).set(time.time())
        return outcome

    async def publish_failures(self) -> None:
        """Set each sync label's consecutive failures from PostgreSQL (the most of any tenant's job
        it covers): every worker that looks publishes the same figure, whichever ran the job."""
        by_label: dict[str, int] = {}
        for name, failures in (await asyncio.to_thread(self.jobs.failures_by_name)).items():
            label = metric_job(name)
            by_label[label] = max(by_label.get(label, 0), failures)
        for label, failures in by_label.items():
            JOB_CONSECUTIVE_FAILURES.labels(job=label).set(failures)

    async def _pull(self, job: SyncJobView) -> AsyncIterator[int]:
        """Deliver ``job``'s pages from its stored position; yields each page's record count."""
        destinations = await asyncio.to_thread(self.load_destinations)
        source = _named(destinations, job.tenant_id, job.source["endpoint"], "source.endpoint")
        target = _named(destinations, job.tenant_id, job.destination["endpoint"], "destination.endpoint")
        route = _route(job, target)
        topic = self.topics.deliver(target.kind)
        spec = pull_spec(job.source)
        position, watermark = job.position, job.watermark
        async with self.open_clients() as clients, self.open_producer() as producer:
            auth = auth_from(source.config, source.secret, clients, base_url=clients.policy.check_url(source.url))
            puller = self.make_puller(source.url, spec, auth, clients, Timeouts.from_config(source.config))
            id_field = spec.id_field
            while True:
                page = await puller.page(watermark, position)
                records = [
                    (topic, self._encoded(job, route, topic, record, id_field), job.tenant_id.encode(), None, None)
                    for record in page.records
                ]
                refused = [error for error in await producer.send_many(records) if error is not None]
                if refused:
                    raise refused[0]
                await asyncio.to_thread(self.jobs.save_page, job.id, page.position, dict(page.watermark))
                yield len(records)
                if page.position is None:
                    return
                position = page.position

    def _encoded(self, job: SyncJobView, route: Route, topic: str, record: Mapping[str, Any], id_field: str) -> bytes:
        record_id, version = record_identity(record, id_field)
        envelope = Envelope(
            tenant_id=job.tenant_id, type=SYNC_EVENT_TYPE, source=f"sync:{job.id}", payload=record,
            event_id=record_event_id(job.tenant_id, job.id, record_id, version), ordering_key=record_id,
        )  # fmt: skip
        plan = fan_out(envelope, [route])
        if plan.failures:
            raise plan.failures[0].error
        return self.encoder.encode(topic, envelope, plan.deliveries[0])

    async def _heartbeat(self, job: str, tick: datetime) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            await asyncio.to_thread(self.runs.heartbeat, job, tick)


def _named(destinations: Sequence[Destination], tenant_id: str, name: Any, place: str) -> Destination:
    for destination in destinations:
        if destination.tenant_id == tenant_id and destination.name == name:
            if destination.secret_unreadable:
                raise ConfigurationError(f"{place}: its secret cannot be opened with this CRMBUS_SECRET_KEY")
            return destination
    raise ConfigurationError(f"{place} names no enabled destination of the tenant")


def _route(job: SyncJobView, target: Destination) -> Route:
    """The route a synced record takes: like a tenant's route for one event type, built from the
    job's destination (its endpoint, action and mapping)."""
    return Route(
        id=sync_route_id(job.id, target.id), tenant_id=job.tenant_id, event_type=SYNC_EVENT_TYPE,
        destination=target.kind, endpoint_id=target.id, action=str(job.destination["action"]),
        filter=compile_filter({}), mapping=compile_mapping(job.destination.get("mapping", {})),
    )  # fmt: skip


def sync_job(runner: SyncRunner, *, check_s: float) -> Job:
    """The periodic job that runs every due sync job, every ``check_s``."""

    async def run(tick: datetime) -> dict[str, Any]:
        return await runner.run_due()

    return Job("sync", partial(tick_of, every_s=check_s), run)
