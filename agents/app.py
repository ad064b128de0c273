"""The Faust app of a crmbus worker: topics, tables, agents, timers and pages, wired from Settings.

Agents are thin: each takes a batch straight from its channel's queue (``agents.runtime.take``;
concurrency 1, faust-streaming's offset gaps with more), hands it to its handler — ``Router``
per lane, ``Scheduler``, ``Sink`` per destination, ``RetryReleaser`` per retry tier,
``Archive`` — and acknowledges the batch only once the handler returns, that is once every output
is acknowledged by Kafka; the consumer commits only acknowledged offsets, without holes
(``agents.runtime.consumer``). Outputs go through one confluent-kafka producer per process (acks=all,
idempotent), not Faust's per-send path, which costs several times more CPU per record. Tables
use explicit changelog partitions (``PartitionedTable``) because a batch mixes partitions.

If a batch can neither be written nor dead-lettered, the process exits at once with status 70
without acknowledging: the batch is read again after a restart. Carrying on would let later
acknowledgements commit past it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol, cast

import faust
from faust.types import TableT

from agents.archive import Archive
from agents.config_cache import ConfigCache
from agents.dedupe import DedupeStore
from agents.outputs import OutputWriter
from agents.records import Consumed
from agents.resources import WorkerResources
from agents.retry import RetryReleaser
from agents.router import DeliveryEncoder, Router, RouterTopics
from agents.runtime.consumer import FetchBatching, StrictConsumer, WorkerApp
from agents.runtime.partitioned_table import PartitionedTable
from agents.runtime.stall_guard import Progress, Reading, StallDetector
from agents.runtime.take import acknowledge, take
from agents.scheduler import Scheduler
from agents.sink import CircuitBook, Sink, SinkTopics
from connectors.destinations import Connector, Delivered, HttpClients, connector_for
from connectors.kafka.producer import AsyncProducer
from connectors.ssrf import OutboundPolicy
from infra.core.metrics import STALLS_UNBLOCKED, exposition
from infra.core.settings import WORKER_ROLES, Settings
from infra.db.endpoints import Destination
from schemas.avro_schemas import load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from streams.circuit import CircuitConfig
from streams.lanes import DEFAULT, HIGH, LOW
from streams.retry_policy import TIERS, Tier, tier_topic
from streams.routes import DESTINATIONS

log = logging.getLogger("crmbus.agents")

EXIT_FATAL = 70
_DEDUPE_SWEEP_S = 600.0
_QUIET_LOGGERS = ("faust", "aiokafka", "mode", "kafka")


async def or_exit(work: Awaitable[object]) -> None:
    """Await ``work``; on any failure, stop the process now, leaving the batch unacknowledged."""
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here must stop the process unacknowledged
        log.critical("worker stopping without acknowledging its batch: %s: %s", type(exc).__name__, exc)
        logging.shutdown()
        os._exit(EXIT_FATAL)


class Wiring:
    """What the agents share in one process, opened once the loop runs."""

    def __init__(
        self,
        settings: Settings,
        app: faust.App,
        tables: Mapping[str, TableT[bytes, bytes]],
        resources: WorkerResources,
    ) -> None:
        self.settings = settings
        self.app = app
        self.resources = resources
        self.topics = RouterTopics(settings.topic_prefix)
        self.ids = resources.schema_ids
        self.routes = ConfigCache(
            resources.load_routes, resources.load_destinations, resources.routes_fingerprint, settings.routes_poll_s
        )
        self.tables = {name: PartitionedTable(table) for name, table in tables.items()}
        self.recovered = asyncio.Event()
        if not tables:  # nothing to restore: retry and archive roles alone
            self.recovered.set()
        self._dedupe: DedupeStore | None = None
        self._circuits: CircuitBook | None = None
        self._producer: AsyncProducer | None = None
        policy = OutboundPolicy.from_allow_list(
            settings.outbound_allow_list, allow_loopback=settings.outbound_allow_loopback
        )
        self.clients = HttpClients(policy)  # opens connections only when a sink first calls out
        self._opening = asyncio.Lock()
        self.scheduler: Scheduler | None = None
        self.progress: Progress[Any] = Progress()
        self._codecs: dict[tuple[str, str], AvroCodec] = {}

    def codec(self, schema_file: str, topic: str) -> AvroCodec:
        """One codec per (schema, topic), made once: agents ask for one per record."""
        codec = self._codecs.get((schema_file, topic))
        if codec is None:
            codec = self._codecs[(schema_file, topic)] = AvroCodec(load_schema(schema_file), f"{topic}-value", self.ids)
        return codec

    async def writer(self) -> OutputWriter:
        async with self._opening:
            if self._producer is None:
                self._producer = await self.resources.open_producer()
            return OutputWriter(self._producer)

    @property
    def dedupe(self) -> DedupeStore:
        if self._dedupe is None:
            self._dedupe = DedupeStore(self.tables["router-dedupe"], self.settings.dedupe_ttl_s)
        return self._dedupe

    @property
    def circuits(self) -> CircuitBook:
        if self._circuits is None:
            self._circuits = CircuitBook(self.tables["circuits"], CircuitConfig())
        return self._circuits

    async def router(self, lane: str) -> Router:
        return Router(
            lane=lane,
            envelopes=self.codec("envelope.v1.avsc", self.settings.topic_prefix + DEFAULT),
            deliveries=DeliveryEncoder(lambda topic: self.codec("delivery.v1.avsc", topic)),
            topics=self.topics,
            routes=self.routes,
            dedupe=self.dedupe,
            writer=await self.writer(),
        )

    async def the_scheduler(self) -> Scheduler:
        if self.scheduler is None:
            self.scheduler = Scheduler(
                table=self.tables["scheduled"],
                deliveries=self.codec("delivery.v1.avsc", self.topics.scheduled),
                topics=self.topics,
                writer=await self.writer(),
            )
        return self.scheduler

    def delivery_codec(self, topic: str) -> AvroCodec:
        return self.codec("delivery.v1.avsc", topic)

    async def sink(self, kind: str) -> Sink:
        clients = self.clients
        # One connector per destination until a reload replaces the Destination object: building
        # one (URL checks included) per delivery cost 5 % of a sink's CPU.
        made: dict[str, tuple[Destination, Connector]] = {}

        async def call(
            destination: Destination, delivery_id: str, action: str, payload: Mapping[str, Any]
        ) -> Delivered:
            cached = made.get(destination.id)
            if cached is None or cached[0] is not destination:
                connector = connector_for(
                    destination.kind, url=destination.url, config=destination.config, secret=destination.secret,
                    client=clients, endpoint_id=destination.id,
                )  # fmt: skip
                cached = made[destination.id] = (destination, connector)
            return await cached[1].deliver(delivery_id, action, payload)

        return Sink(
            kind=kind,
            deliveries=self.delivery_codec,
            outcomes=self.codec("delivery_outcome.v1.avsc", self.settings.topic_prefix + "crmbus.deliveries"),
            topics=SinkTopics(self.settings.topic_prefix),
            config=self.routes,
            finished=self.tables["sink-finished"],
            circuits=self.circuits,
            call=call,
            writer=await self.writer(),
            max_in_flight=self.settings.sink_max_in_flight,
        )

    async def archive(self) -> Archive:
        return Archive(
            log_=self.resources.delivery_log,
            outcomes=self.codec("delivery_outcome.v1.avsc", self.settings.topic_prefix + "crmbus.deliveries"),
            dlq_topic=self.settings.topic_prefix + "crmbus.dlq",
        )

    async def releaser(self, tier: Tier) -> RetryReleaser:
        topic = tier_topic(tier, self.settings.topic_prefix)

        def mine() -> set[Any]:
            return {tp for tp in self.app.consumer.assignment() if tp.topic == topic}

        return RetryReleaser(
            tier=tier.name,
            deliveries=self.delivery_codec,
            prefix=self.settings.topic_prefix,
            writer=await self.writer(),
            hold=lambda: self.app.consumer.pause_partitions(mine()),
            resume=lambda: self.app.consumer.resume_partitions(mine()),
        )

    @property
    def ready(self) -> bool:
        return self.routes.ready.is_set() and self.recovered.is_set() and not self.app.rebalancing

    async def close(self) -> None:
        """End the destinations' connections cleanly: HTTP sessions closed, SMTP sessions QUIT."""
        await self.clients.close()


def _changelog(app: faust.App, name: str, partitions: int, retention_s: float | None = None) -> Any:
    """A table's changelog ``<name>-changelog`` as Faust would make it, but with bytes keys and
    values (Faust's Table takes no serializer arguments), named the same whichever roles a process
    runs (a deployment can split them later and keep its state), and, with ``retention_s``,
    compacted and also expired."""
    return app.topic(
        f"{name}-changelog",
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        compacting=True,
        deleting=retention_s is not None,
        retention=retention_s,
        acks=False,
        internal=True,
        maxsize=131_072,
        allow_empty=True,
    )


def _raw_topic(app: faust.App, names: str | tuple[str, ...]) -> Any:
    topics = (names,) if isinstance(names, str) else names
    return app.topic(*topics, key_serializer="raw", value_serializer="raw")


_HOT_ROLES = frozenset({"router", "sinks"})  # on every event's way


def fetch_batching(settings: Settings) -> FetchBatching:
    """How a worker's consumer fetches: within ``CRMBUS_WORKER_FETCH_MAX_WAIT_MS`` when it runs a
    role on every event's way; a process running only background roles (retry tiers, scheduler,
    archive) lets the broker gather for as long as its agents fill batches, a fraction of the
    fetches, on both sides."""
    wait_ms = settings.worker_fetch_max_wait_ms
    if not _HOT_ROLES.intersection(settings.worker_roles):
        wait_ms = max(wait_ms, round(settings.worker_background_batch_wait_s * 1000))
    return FetchBatching(settings.worker_fetch_min_bytes, wait_ms)


def build_app(settings: Settings, resources: WorkerResources, index: int = 0) -> faust.App:
    """The worker app for process ``index`` (its web port is ``worker_web_port + index``), on the
    resources the composition root (``infra.cli.wiring``) built."""
    for name in _QUIET_LOGGERS:  # they build DEBUG records per send even when nobody reads them
        logging.getLogger(name).setLevel(logging.WARNING)
    prefix = settings.topic_prefix
    datadir = settings.state_path / "faust" / f"{prefix}worker-{index}"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    catalogue = load_catalogue()
    partitions = catalogue[DEFAULT].partitions
    roles = settings.worker_roles
    # One consumer group per set of roles: a process running only sinks must not take lanes.
    group = "" if roles == WORKER_ROLES else "-" + "-".join(roles)
    app = WorkerApp(
        f"{prefix}crmbus-worker{group}",
        fetch_batching=fetch_batching(settings),
        broker=[f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")],
        store="memory://",
        autodiscover=False,
        topic_partitions=partitions,
        topic_replication_factor=settings.kafka_replication_factor,
        table_standby_replicas=0,
        web_enabled=True,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        web_port=settings.worker_web_port + index,
        datadir=str(datadir),
        broker_max_poll_records=settings.worker_batch_max,
        stream_buffer_maxsize=settings.worker_batch_max * 4,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        key_serializer="raw",
        value_serializer="raw",
        worker_redirect_stdouts=False,
    )
    kept_for = {
        "router-dedupe": ("router", "Idempotency keys acted on, per tenant.", settings.dedupe_ttl_s + 3600),
        "scheduled": ("scheduler", "Delayed actions not yet due, by delivery id.", None),
        "sink-finished": ("sinks", "Delivery ids a destination took: a redelivery is not sent again.", 7 * 86400.0),
        "circuits": ("sinks", "Circuit breaker state per (tenant, destination).", None),
    }
    tables = {
        name: app.Table(
            name,
            partitions=partitions,
            changelog_topic=_changelog(app, f"{prefix}crmbus-worker-{name}", partitions, retention_s=kept),
            help=purpose,
        )
        for name, (role, purpose, kept) in kept_for.items()
        if role in roles
    }
    wiring = Wiring(settings, app, tables, resources)

    async def on_recovered() -> None:
        if "scheduled" in tables:
            (await wiring.the_scheduler()).rebuild()
        wiring.recovered.set()

    for table in tables.values():
        table.on_recover(on_recovered)

    # Routing and delivery are on every event's way: they wait little to fill a batch. The retry
    # tiers, the scheduler and the archive hold records for seconds anyway: fuller batches cost
    # less (one PostgreSQL transaction per archive batch).
    hot = settings.worker_batch_wait_s
    background = settings.worker_background_batch_wait_s
    if "router" in roles:
        for lane in (HIGH, DEFAULT, LOW):
            _batch_agent(app, wiring, prefix + lane, f"router:{lane}", partial(wiring.router, lane), hot)
    if "sinks" in roles:
        for kind in DESTINATIONS:
            _batch_agent(app, wiring, f"{prefix}crmbus.deliver.{kind}", f"sink:{kind}", partial(wiring.sink, kind), hot)
    if "retry" in roles:
        for tier in TIERS:
            topic = tier_topic(tier, prefix)
            _batch_agent(app, wiring, topic, f"retry:{tier.name}", partial(wiring.releaser, tier), background)
    if "scheduler" in roles:
        _batch_agent(app, wiring, wiring.topics.scheduled, "scheduler", wiring.the_scheduler, background)
    if "archive" in roles:
        archived = (prefix + "crmbus.deliveries", prefix + "crmbus.dlq")
        _batch_agent(app, wiring, archived, "archive", wiring.archive, background)

    async def release_due() -> None:
        if not wiring.ready:
            return
        scheduler = await wiring.the_scheduler()
        mine = {tp.partition for tp in app.consumer.assignment() if tp.topic == wiring.topics.scheduled}
        await or_exit(scheduler.release_due(mine))

    async def keep_routes_fresh() -> None:
        await wiring.routes.run()

    async def sweep_dedupe() -> None:
        wiring.dedupe.sweep()

    detector: StallDetector[Any] = StallDetector()
    generation = [app.consumer_generation_id]

    async def unblock_stalls() -> None:
        """Seek back partitions whose fetched records Faust dropped (see ``agents.runtime.stall_guard``)."""
        consumer = cast(StrictConsumer, app.consumer)
        await consumer.settle_commit_bases()
        if not wiring.ready or generation[0] != app.consumer_generation_id:
            generation[0] = app.consumer_generation_id
            detector.forget()
            return
        committed = _committed(app)
        mine = [tp for tp in app.consumer.assignment() if tp.topic in sources]
        ends = await app.consumer.highwaters(*mine) if mine else {}
        readings = {}
        for tp in mine:
            position = await app.consumer.position(tp)
            known = [o for o in (wiring.progress.handled_next(tp), committed.get(tp)) if o is not None]
            if position is not None:
                idle = wiring.progress.idle(tp.topic)
                readings[tp] = Reading(position, max(known, default=None), idle, ends.get(tp), consumer.head_hole(tp))
        await _read_again(app, detector.observe(readings), "left records its agent never got", prefix)

    async def close_connections(sender: Any, **_: Any) -> None:
        await wiring.close()

    # Sent once the agents have stopped. (mode types a handler with mypy_extensions' argument
    # kinds, which a plain function does not match.)
    app.on_before_shutdown.connect(close_connections)  # type: ignore[arg-type]
    sources = {topic for agent in app.agents.values() for topic in agent.channel.topics}
    app.task(keep_routes_fresh)
    app.timer(settings.worker_stall_check_s)(unblock_stalls)
    if "scheduler" in roles:
        app.timer(settings.scheduler_tick_s)(release_due)
    if "router" in roles:
        app.timer(_DEDUPE_SWEEP_S)(sweep_dedupe)

    @app.page("/health")
    async def health(view: Any, request: Any) -> Any:
        """200 once routes are loaded and partitions assigned and restored; 503 before."""
        status = {"status": "ok" if wiring.ready else "starting", "routes": len(wiring.routes.book)}
        return view.json(status, status=200 if wiring.ready else 503)

    @app.page("/metrics")
    async def metrics(view: Any, request: Any) -> Any:
        body, content_type = exposition()
        return view.bytes(body, headers={"Content-Type": content_type})  # aiohttp refuses a charset here

    return app


class _Handler(Protocol):
    async def handle(self, batch: Sequence[Consumed]) -> None: ...


def _batch_agent(
    app: faust.App,
    wiring: Wiring,
    topic: str | tuple[str, ...],
    name: str,
    make: Callable[[], Awaitable[_Handler]],
    within_s: float,
) -> None:
    """An agent on ``topic`` that hands each batch (filled for at most ``within_s``) to a handler
    and acknowledges it once handled."""
    settings = wiring.settings

    topics = (topic,) if isinstance(topic, str) else topic
    progress = wiring.progress

    async def consume(stream: Any) -> None:
        handler = await make()
        async for events in take(stream, settings.worker_batch_max, within_s):
            progress.begin(topics)
            await or_exit(handler.handle([Consumed.of(event) for event in events]))
            acknowledge(stream, events)
            offsets: dict[Any, list[int]] = {}
            for event in events:
                offsets.setdefault(event.message.tp, []).append(event.message.offset)
            holes = progress.end(topics, offsets, app.consumer_generation_id, _committed(app))
            await _read_again(app, holes, "skipped records", settings.topic_prefix)

    app.agent(_raw_topic(app, topic), name=name, concurrency=1)(consume)


async def _read_again(app: faust.App, partitions: Mapping[Any, int], what: str, prefix: str) -> None:
    """Seek each partition back to its offset: records Faust fetched never reached the agent."""
    for tp, offset in partitions.items():
        log.warning("Faust %s on %s[%d]; reading again from offset %d", what, tp.topic, tp.partition, offset)
        STALLS_UNBLOCKED.labels(topic=tp.topic.removeprefix(prefix)).inc()
        app.consumer.on_buffer_drop(tp)  # back among the partitions Faust fetches, if a full buffer took it out
        app.consumer.resume_partitions([tp])
        await app.consumer.seek(tp, offset)


def _committed(app: faust.App) -> Mapping[Any, int | None]:
    """Faust's own record of each partition's committed offset."""
    committed: Mapping[Any, int | None] = cast(Any, app.consumer)._committed_offset
    return committed
