"""The composition root: the one module that turns Settings into engines, repositories, the secret
box, producers and codecs, and hands them to the ingress, the workers, the console and the CLI's
commands. The apps build nothing that reaches outside their process themselves.

Faust is heavy: the workers' app is imported only by ``worker_app``, so that the ingress, the
console and the other commands never load it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agents.delivery_records import DeliveryEncoder
from agents.jobs import Job, JobRunner
from agents.morning_report import report_job
from agents.probes import probe_job
from agents.reseal import reseal_job
from agents.resources import WorkerResources
from agents.sync import SyncRunner, sync_job
from connectors.http import HttpClients
from connectors.kafka.lag import ConsumerLag
from connectors.kafka.lane_records import GroupReader, TimeRangeReader
from connectors.kafka.producer import AsyncProducer, producer_config
from connectors.kafka.schema_registry import schema_ids
from connectors.kafka.security import librdkafka_client
from connectors.rest.pull import Puller
from connectors.ssrf import OutboundPolicy
from infra.control.event_replay import EventReplayer
from infra.control.replay import PAGE, Replayer
from infra.control.replays import Replays
from infra.control.subject_rights import SubjectRights, kafka_copies
from infra.core.live_catalogue import LiveCatalogue
from infra.core.secret_box import SecretBox
from infra.core.settings import Settings
from infra.core.subject_index import SubjectIndex
from infra.db.admin_requests import AdminRequests
from infra.db.api_keys import ApiKeys
from infra.db.console_sessions import ConsoleSessions
from infra.db.daily_report import DailyReports
from infra.db.dead_letters import DeadLetters
from infra.db.delivery_log import DeliveryLog
from infra.db.delivery_stats import DeliveryStats
from infra.db.endpoints import Endpoints
from infra.db.engine import Engine, database_url, make_engine, ping, scoped_engine
from infra.db.event_archive import EventArchive
from infra.db.event_trail import EventTrail
from infra.db.event_types import EventTypes
from infra.db.health_checks import HealthChecks
from infra.db.inbound_sources import InboundSources
from infra.db.job_runs import JobRuns
from infra.db.migrate import upgrade
from infra.db.partitions import Partitions, partitioned_tables
from infra.db.routes import Routes
from infra.db.sealed_columns import Resealer
from infra.db.signature_claims import SignatureClaims
from infra.db.subject_stores import subject_stores
from infra.db.sync_jobs import SyncJobs
from infra.db.tenants import Tenants
from ingress.admin import app as admin
from ingress.admin.state import AdminResources
from ingress.admin.state import Repositories as AdminRepositories
from ingress.api import app as ingress
from ingress.api.publisher import EventPublisher
from ingress.api.state import IngressResources
from ingress.console import app as console
from schemas.avro_schemas import SchemaIds, load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec, decode_written
from schemas.event_types import built_in_catalogue
from schemas.topic_names import TopicNames
from streams.delivery_sla import DeliverySla
from streams.lanes import Lanes
from streams.signatures import REPLAY_WINDOW_S
from streams.ticks import tick_of

if TYPE_CHECKING:
    import faust

_WORKER_OUTPUT_TIMEOUT_S = 30.0


class Repositories:
    """The repositories over one engine, acting as ``actor`` in the audit log. The secret box is
    made only when a repository that seals or opens secrets is first used: made from settings
    without ``CRMBUS_SECRET_KEY``, it creates the key file."""

    def __init__(self, engine: Engine, settings: Settings, actor: str = "cli") -> None:
        self.engine, self.settings, self.actor = engine, settings, actor

    @cached_property
    def box(self) -> SecretBox:
        return SecretBox.from_settings(self.settings)

    @cached_property
    def tenants(self) -> Tenants:
        return Tenants(self.engine, self.actor)

    @cached_property
    def api_keys(self) -> ApiKeys:
        # A tenant created for its first key starts with the seed flows, like 'crmbus tenants create'.
        return ApiKeys(self.engine, self.actor, sandbox_url=self.settings.sandbox_url)

    @cached_property
    def endpoints(self) -> Endpoints:
        return Endpoints(self.engine, self.box, self.actor)

    @cached_property
    def sources(self) -> InboundSources:
        return InboundSources(self.engine, self.box, self.actor)

    @cached_property
    def routes(self) -> Routes:
        return Routes(self.engine, self.actor, types=self.event_types.catalogue)

    @cached_property
    def event_types(self) -> EventTypes:
        return EventTypes(self.engine, self.actor)

    @cached_property
    def delivery_log(self) -> DeliveryLog:
        return DeliveryLog(self.engine)

    @cached_property
    def dead_letters(self) -> DeadLetters:
        return DeadLetters(self.engine, self.actor, box=self.box)

    @cached_property
    def resealer(self) -> Resealer:
        return Resealer(self.engine, self.box)

    @cached_property
    def subject_rights(self) -> SubjectRights:
        return subject_rights(self.settings, self.engine, self.box)(self.actor)

    @cached_property
    def daily_reports(self) -> DailyReports:
        return DailyReports(self.engine)

    @cached_property
    def event_archive(self) -> EventArchive:
        return EventArchive(self.engine, self.box, self.actor)

    def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        upgrade(self.engine)


@contextmanager
def repositories(settings: Settings, actor: str = "cli") -> Iterator[Repositories]:
    """The repositories of one command: their engine's connections are closed when the block ends."""
    with scoped_engine(database_url(settings)) as engine:
        yield Repositories(engine, settings, actor)


@asynccontextmanager
async def replayer(settings: Settings, actor: str = "cli", *, page: int = PAGE) -> AsyncIterator[Replayer]:
    """The DLQ replay engine of one command, on the running loop: an acks=all producer and the
    archive; the producer flushes and closes at the end, then the engine's connections."""
    config = producer_config(librdkafka_client(settings), settings.kafka_delivery_timeout_s, settings.kafka_linger_ms)
    with scoped_engine(database_url(settings)) as engine:
        async with AsyncProducer(config) as producer:
            letters = DeadLetters(engine, actor, lease=replay_lease(settings), box=SecretBox.from_settings(settings))
            yield Replayer(letters, producer, actor, page=page)


def subject_rights(settings: Settings, engine: Engine, box: SecretBox) -> Callable[[str], SubjectRights]:
    """LGPD export and erasure over every store of personal data, acting for an audit actor."""
    stores = subject_stores(engine, box, partial(decode_written, ids=schema_ids(settings)))
    kafka = kafka_copies(load_catalogue().with_prefix(settings.topic_prefix))
    return partial(SubjectRights, engine, stores, SubjectIndex.from_settings(settings), kafka)


@asynccontextmanager
async def event_replayer(settings: Settings, actor: str = "cli") -> AsyncIterator[EventReplayer]:
    """The time-range replay engine of one command, on the running loop: the lanes read by time,
    the event archive, and an acks=all producer that flushes and closes at the end."""
    config = producer_config(librdkafka_client(settings), settings.kafka_delivery_timeout_s, settings.kafka_linger_ms)
    with scoped_engine(database_url(settings)) as engine:
        async with AsyncProducer(config) as producer:
            archive = EventArchive(engine, SecretBox.from_settings(settings), actor)
            yield replaying_events(settings, schema_ids(settings), archive, producer)


def replaying_events(
    settings: Settings, ids: SchemaIds, archive: EventArchive, producer: AsyncProducer
) -> EventReplayer:
    """A time-range replay engine over ``archive`` (acting as its actor), sending with ``producer``."""
    envelope = load_schema("envelope.v1.avsc")
    codecs = {topic: AvroCodec(envelope, f"{topic}-value", ids) for topic in TopicNames(settings.topic_prefix).lanes}
    return EventReplayer(archive, partial(TimeRangeReader, librdkafka_client(settings)), producer, codecs)


def replay_lease(settings: Settings) -> timedelta:
    """How long a running replay's heartbeat keeps a resume out (``CRMBUS_REPLAY_LEASE_S``)."""
    return timedelta(seconds=settings.replay_lease_s)


def ingress_app(settings: Settings) -> web.Application:
    """The ingress (events API, webhooks, operations pages) of one process."""
    return ingress.build_app(settings, partial(ingress_resources, settings))


@asynccontextmanager
async def ingress_resources(settings: Settings) -> AsyncIterator[IngressResources]:
    """The ingress's producer, codec and PostgreSQL pool, opened on the running loop; at the end
    the producer flushes and closes, then the pool."""
    engine = make_engine(database_url(settings), pool_size=4)
    lanes = Lanes.configure(
        TopicNames(settings.topic_prefix).lanes, settings.high_priority_types, settings.low_priority_types
    )
    codec = AvroCodec(load_schema("envelope.v1.avsc"), f"{lanes.topics[1]}-value", schema_ids(settings))
    client = librdkafka_client(settings)
    config = producer_config(client, settings.kafka_delivery_timeout_s, settings.kafka_linger_ms)
    claims = SignatureClaims.at(database_url(settings), REPLAY_WINDOW_S)
    types = live_catalogue(settings, engine)
    checks = HealthChecks(engine)
    async with AsyncProducer(config) as producer:
        yield IngressResources(
            producer=producer,
            publisher=EventPublisher(producer, codec, lanes, types),
            types=types,
            principal=ApiKeys(engine).principal,
            source=InboundSources(engine, SecretBox.from_settings(settings)).resolve,
            history=DeliveryLog(engine).history,
            ping_database=partial(ping, engine),
            claim_signature=claims.claim,
            release_signature=claims.release,
            health_checks=checks.rows,
            session_event=checks.session_event,
        )
    claims.close()
    engine.dispose()


def live_catalogue(settings: Settings, engine: Engine) -> LiveCatalogue:
    """The built-in event types and the tenants' own from PostgreSQL, refreshed like routes."""
    types = EventTypes(engine, actor="reader")
    return LiveCatalogue(built_in_catalogue(), types.load_active, types.fingerprint, settings.routes_poll_s)


def dashboard_app(settings: Settings) -> web.Application:
    """``crmbus dashboard``'s process: the operator console, with the admin API mounted at ``/v1/``
    (operators' surfaces share one process, port and exposure; the producers' ingress stays apart)."""
    app = console_app(settings)
    app.add_subapp("/v1/", admin_app(settings))
    return app


def admin_app(settings: Settings) -> web.Application:
    """The admin API, its paths relative to where it is mounted."""
    return admin.build_app(settings, partial(admin_resources, settings))


@asynccontextmanager
async def admin_resources(settings: Settings) -> AsyncIterator[AdminResources]:
    """The admin API's PostgreSQL pool, and the acks=all producer its replays send with; at the
    end the producer flushes and closes, then the pool."""
    engine = make_engine(database_url(settings).update_query_dict({"connect_timeout": "3"}), pool_size=4)
    box = SecretBox.from_settings(settings)
    ids = schema_ids(settings)
    rights = subject_rights(settings, engine, box)
    config = producer_config(librdkafka_client(settings), settings.kafka_delivery_timeout_s, settings.kafka_linger_ms)

    def repositories(actor: str) -> AdminRepositories:
        event_types = EventTypes(engine, actor)
        return AdminRepositories(
            tenants=Tenants(engine, actor),
            api_keys=ApiKeys(engine, actor),
            sources=InboundSources(engine, box, actor),
            destinations=Endpoints(engine, box, actor),
            routes=Routes(engine, actor, types=event_types.catalogue),
            event_types=event_types,
            dead_letters=DeadLetters(engine, actor, box=box),
            deliveries=DeliveryLog(engine),
            events=EventArchive(engine, box, actor),
            subjects=rights(actor),
            sync_jobs=SyncJobs(engine, actor),
        )

    runs = JobRuns(engine, f"{socket.gethostname()}:{os.getpid()}", lease=timedelta(seconds=settings.jobs_lease_s))
    syncs = sync_runner(settings, engine, Endpoints(engine, box, "sync"), runs)
    async with AsyncProducer(config) as producer:
        yield AdminResources(
            principal=ApiKeys(engine).principal,
            repositories=repositories,
            requests=AdminRequests(engine),
            replayer=lambda actor: Replayer(
                DeadLetters(engine, actor, lease=replay_lease(settings), box=box), producer, actor
            ),
            event_replayer=lambda actor: replaying_events(settings, ids, EventArchive(engine, box, actor), producer),
            decode=partial(decode_written, ids=ids),
            job_runs=runs,
            run_sync=syncs.run_claimed,
        )
    engine.dispose()


def console_app(settings: Settings) -> web.Application:
    """The operator console: its pages, after sign-in with an API key."""
    return console.build_app(settings, partial(console_resources, settings))


@asynccontextmanager
async def console_resources(settings: Settings) -> AsyncIterator[console.ConsoleResources]:
    """The console's PostgreSQL pool, lag reader and, for retries and replays, an acks=all
    producer; at the end the producer flushes and closes, then the pool."""
    # A database that drops packets must not hold a page for minutes: connect within 3 s.
    engine = make_engine(database_url(settings).update_query_dict({"connect_timeout": "3"}), pool_size=2)
    lag = ConsumerLag(
        librdkafka_client(settings), group_prefix=f"{settings.topic_prefix}crmbus-", topic_prefix=settings.topic_prefix
    )
    idle = timedelta(seconds=settings.console_session_idle_s)
    lifetime = timedelta(seconds=settings.console_session_max_s)
    config = producer_config(librdkafka_client(settings), settings.kafka_delivery_timeout_s, settings.kafka_linger_ms)
    box = SecretBox.from_settings(settings)
    async with AsyncProducer(config) as producer:

        def replaying(actor: str) -> Replayer:
            return Replayer(DeadLetters(engine, actor, lease=replay_lease(settings), box=box), producer, actor)

        replays = Replays(replaying)
        try:
            yield console.ConsoleResources(
                stats=DeliveryStats(engine),
                lag=lag,
                sessions=ConsoleSessions(engine, idle, lifetime),
                principal=ApiKeys(engine).principal,
                history=DeliveryLog(engine),
                trail=EventTrail(engine),
                dead_letters=DeadLetters(engine, actor="reader", box=box),
                endpoints=partial(Endpoints, engine, box),
                replayer=replaying,
                replays=replays,
                health=HealthChecks(engine),
            )
        finally:
            await replays.close()  # replays under way stop between two pages, interrupted
    engine.dispose()


def worker_resources(settings: Settings) -> WorkerResources:
    """What a worker process reads and writes beyond its consumer: one engine for its routes,
    destinations and delivery log, the schema ids, and how to open its output producer."""
    engine = make_engine(database_url(settings))
    event_types = EventTypes(engine, actor="worker")

    def fingerprint() -> str:  # a type's new revision may let a skipped route compile
        return f"{routes.fingerprint()}/{event_types.fingerprint()}"

    # The routes are checked against the types as PostgreSQL holds them when they are read.
    routes = Routes(engine, actor="worker", types=event_types.catalogue)
    health = HealthChecks(engine)
    box = SecretBox.from_settings(settings)
    destinations = Endpoints(engine, box, actor="worker")
    lanes = list(TopicNames(settings.topic_prefix).lanes)
    runs = JobRuns(engine, f"{socket.gethostname()}:{os.getpid()}", lease=timedelta(seconds=settings.jobs_lease_s))
    return WorkerResources(
        load_routes=routes.load_enabled,
        load_destinations=destinations.load_enabled,
        routes_fingerprint=fingerprint,
        types=live_catalogue(settings, engine),
        delivery_log=DeliveryLog(engine, box),
        event_archive=EventArchive(engine, box),
        subjects=SubjectIndex.from_settings(settings),
        open_event_reader=lambda: GroupReader(librdkafka_client(settings), event_archive_group(settings), lanes),
        schema_ids=schema_ids(settings),
        open_producer=partial(_open_worker_producer, settings),
        health=health,
        jobs=JobRunner(
            runs,
            jobs=[
                retention_job(settings, engine),
                probe_job(
                    destinations.load_enabled, health, outbound_policy(settings), every_s=settings.health_probe_s
                ),
                *_morning_report(settings, engine, destinations),
                reseal_job(Resealer(engine, box), settings.reseal_every_s, settings.reseal_pages),
                sync_job(sync_runner(settings, engine, destinations, runs), check_s=settings.sync_check_s),
            ],
            heartbeat_s=settings.jobs_lease_s / 4,
        ),
    )


def sync_runner(settings: Settings, engine: Engine, destinations: Endpoints, runs: JobRuns) -> SyncRunner:
    """The sync jobs' runner: each run pulls over REST with its own HTTP pools and sends with its
    own acks=all producer, flushed and closed when the run ends."""
    ids = schema_ids(settings)
    delivery = load_schema("delivery.v2.avsc")
    config = producer_config(librdkafka_client(settings), settings.kafka_delivery_timeout_s, settings.kafka_linger_ms)
    return SyncRunner(
        jobs=SyncJobs(engine),
        runs=runs,
        load_destinations=destinations.load_enabled,
        open_clients=lambda: HttpClients(outbound_policy(settings)),
        open_producer=lambda: AsyncProducer(config),
        make_puller=lambda url, spec, auth, clients, timeouts: Puller(
            base_url=url, spec=spec, auth=auth, clients=clients, timeouts=timeouts
        ),
        encoder=DeliveryEncoder(lambda topic: AvroCodec(delivery, f"{topic}-value", ids)),
        topics=TopicNames(settings.topic_prefix),
        heartbeat_s=settings.jobs_lease_s / 4,
    )


def partitions(settings: Settings, engine: Engine) -> Partitions:
    """The daily partitions of every history table, with their retention from ``settings``."""
    return Partitions(engine, partitioned_tables(settings), ahead_days=settings.retention_ahead_days)


def job_runs_pruned(settings: Settings, engine: Engine, now: datetime, *, dry_run: bool = False) -> int:
    """Delete (or, with ``dry_run``, count) the job runs older than ``CRMBUS_RETENTION_JOB_RUNS_DAYS``."""
    runs = JobRuns(engine, "retention", lease=timedelta(seconds=settings.jobs_lease_s))
    return runs.prune(now - timedelta(days=settings.retention_job_runs_days), dry_run=dry_run)


def retention_job(settings: Settings, engine: Engine) -> Job:
    """Every ``CRMBUS_RETENTION_EVERY_S``: make the days ahead, drop the expired ones, prune old job runs."""
    tables = partitions(settings, engine)

    async def run(tick: datetime) -> dict[str, Any]:
        done = await asyncio.to_thread(tables.run, tick)
        pruned = await asyncio.to_thread(job_runs_pruned, settings, engine, tick)
        return {**{table.table: table.details() for table in done}, "job_runs": {"deleted": pruned}}

    return Job("retention", partial(tick_of, every_s=settings.retention_every_s), run)


def _morning_report(settings: Settings, engine: Engine, destinations: Endpoints) -> list[Job]:
    at = settings.daily_report_time
    if at is None:
        return []
    reports = DailyReports(engine)
    return [report_job(destinations.load_enabled, reports, report_sla(settings), outbound_policy(settings), at=at)]


def report_sla(settings: Settings) -> DeliverySla:
    """The SLA a daily report judges each destination's day by: the console's (``CRMBUS_DASHBOARD_SLA_*``)."""
    return DeliverySla(settings.dashboard_sla_p95_ms, settings.dashboard_sla_success_rate)


def outbound_policy(settings: Settings) -> OutboundPolicy:
    """Which addresses destinations' calls may reach (``CRMBUS_OUTBOUND_*``)."""
    return OutboundPolicy.from_allow_list(settings.outbound_allow_list, allow_loopback=settings.outbound_allow_loopback)


def event_archive_group(settings: Settings) -> str:
    """The event archiver's consumer group: its own, so it never shares the router's fetches."""
    return f"{settings.topic_prefix}crmbus-event-archive"


async def _open_worker_producer(settings: Settings) -> AsyncProducer:
    # 5 ms, not the ingress's 2: measured end to end at 250 events/s, 2 ms nearly doubled
    # the broker's CPU (more, smaller produce requests) and lowered the saturating rate.
    config = producer_config(librdkafka_client(settings), _WORKER_OUTPUT_TIMEOUT_S, linger_ms=5.0)
    return await AsyncProducer(config).__aenter__()


def worker_app(settings: Settings, index: int = 0) -> faust.App:
    """The Faust app of worker process ``index``."""
    from agents.app import build_app  # Faust is heavy: only the workers load it

    return build_app(settings, worker_resources(settings), index)
