"""The Faust app of a crmbus worker, composed from Settings, and what its agents share (``Wiring``).

``build_app`` puts the pieces together, each in its own module: the Faust app and its consumer
(``agents.worker_app``), the tables (``agents.tables``), the agents of each role
(``agents.roles``), the background timers (``agents.timers``) and the web pages
(``agents.pages``). Every workaround over Faust, aiokafka or mode internals lives in
``agents.runtime``.

Outputs go through one confluent-kafka producer per process (acks=all, idempotent), not Faust's
per-send path, which costs several times more CPU per record. Tables use explicit changelog
partitions (``PartitionedTable``) because a batch mixes partitions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
from typing import Any, cast

import faust
from faust.types import TableT

from agents.archive import Archive, subjects_of
from agents.circuit_book import CircuitBook
from agents.config_cache import ConfigCache
from agents.dedupe import DedupeStore
from agents.delivery_records import DeliveryEncoder
from agents.event_archive import EventArchiver
from agents.order_holds import OrderHolds
from agents.outputs import OutputWriter
from agents.pages import add_pages
from agents.resources import WorkerResources
from agents.retry import RetryReleaser
from agents.roles import add_agents
from agents.router import Router
from agents.runtime.consumer import StrictConsumer
from agents.runtime.partitioned_table import PartitionedTable
from agents.runtime.stall_guard import Progress
from agents.scheduler import Scheduler
from agents.sink import Sink
from agents.tables import add_tables, when_restored
from agents.timers import add_timers
from agents.worker_app import worker_app
from connectors.destinations import Connector, Delivered, HttpClients, connector_for
from connectors.kafka.producer import AsyncProducer
from connectors.ssrf import OutboundPolicy
from infra.core.settings import Settings
from infra.db.endpoints import Destination
from schemas.avro_schemas import load_schema
from schemas.codec import AvroCodec, decode_written
from schemas.event_types import built_in_types
from schemas.public_topics import PublicEncoder
from schemas.topic_names import TopicNames
from streams.circuit import CircuitConfig
from streams.retry_policy import Tier
from streams.sla_classes import SlaThresholds


def build_app(settings: Settings, resources: WorkerResources, index: int = 0) -> faust.App:
    """The worker app for process ``index`` (its web port is ``worker_web_port + index``), on the
    resources the composition root (``infra.cli.wiring``) built."""
    app = worker_app(settings, index)
    tables = add_tables(app, settings)
    wiring = Wiring(settings, app, tables, resources)
    when_restored(tables, wiring)
    add_agents(app, wiring)

    async def close_connections(sender: Any, **_: Any) -> None:
        await wiring.close()

    # Sent once the agents have stopped. (mode types a handler with mypy_extensions' argument
    # kinds, which a plain function does not match.)
    app.on_before_shutdown.connect(close_connections)  # type: ignore[arg-type]
    add_timers(app, wiring)
    add_pages(app, wiring)
    return app


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
        self.topics = TopicNames(settings.topic_prefix)
        self.ids = resources.schema_ids
        self.routes = ConfigCache(
            resources.load_routes, resources.load_destinations, resources.routes_fingerprint, settings.routes_poll_s
        )
        self.tables = {name: PartitionedTable(table) for name, table in tables.items()}
        self.recovered = asyncio.Event()
        if not tables:  # nothing to restore: retry and archive roles alone
            self.recovered.set()
        self._dedupe: DedupeStore | None = None
        self._finished: DedupeStore | None = None
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
        self.public = PublicEncoder(self.ids, self.topics.prefix)

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
    def consumer(self) -> StrictConsumer:
        return cast(StrictConsumer, self.app.consumer)  # the transport's (agents.worker_app)

    @property
    def dedupe(self) -> DedupeStore:
        if self._dedupe is None:
            self._dedupe = DedupeStore(self.tables["router-dedupe"], self.settings.dedupe_ttl_s)
        return self._dedupe

    @property
    def finished(self) -> DedupeStore:
        if self._finished is None:
            self._finished = DedupeStore(self.tables["sink-finished"], self.settings.sink_finished_ttl_s)
        return self._finished

    @property
    def circuits(self) -> CircuitBook:
        if self._circuits is None:
            self._circuits = CircuitBook(self.tables["circuits"], CircuitConfig())
        return self._circuits

    async def router(self, lane: str) -> Router:
        return Router(
            lane=lane,
            envelopes=self.codec("envelope.v1.avsc", self.topics.default),
            deliveries=DeliveryEncoder(lambda topic: self.codec("delivery.v2.avsc", topic)),
            decisions=self.codec("delivery_outcome.v2.avsc", self.topics.deliveries),
            public=self.public,
            topics=self.topics,
            routes=self.routes,
            types=self.resources.types,
            dedupe=self.dedupe,
            writer=await self.writer(),
        )

    async def the_scheduler(self) -> Scheduler:
        if self.scheduler is None:
            self.scheduler = Scheduler(
                table=self.tables["scheduled"],
                deliveries=self.codec("delivery.v2.avsc", self.topics.scheduled),
                topics=self.topics,
                writer=await self.writer(),
            )
        return self.scheduler

    def delivery_codec(self, topic: str) -> AvroCodec:
        return self.codec("delivery.v2.avsc", topic)

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
            outcomes=self.codec("delivery_outcome.v2.avsc", self.topics.deliveries),
            topics=self.topics,
            config=self.routes,
            finished=self.finished,
            circuits=self.circuits,
            holds=OrderHolds(self.tables["sink-held"]),
            call=call,
            writer=await self.writer(),
            max_in_flight=self.settings.sink_max_in_flight,
            attempt_deadline_s=self.settings.sink_attempt_deadline_s,
            rate_limit_wait_s=self.settings.sink_rate_limit_wait_s,
            sla=SlaThresholds(
                self.settings.sla_task_automation_s, self.settings.sla_whatsapp_s, self.settings.sla_notifications_s
            ),
            built_in_types=frozenset(event_type.name for event_type in built_in_types()),
        )

    async def archive(self) -> Archive:
        return Archive(
            log_=self.resources.delivery_log,
            outcomes=self.codec("delivery_outcome.v2.avsc", self.topics.deliveries),
            dlq_topic=self.topics.dlq,
            subjects_of=partial(
                subjects_of,
                decode=partial(decode_written, ids=self.resources.schema_ids),
                types=lambda: self.resources.types.current,
                index=self.resources.subjects,
            ),
        )

    def event_archiver(self) -> EventArchiver:
        return EventArchiver(
            open_reader=self.resources.open_event_reader,
            archive=self.resources.event_archive,
            envelopes=self.codec("envelope.v1.avsc", self.topics.default),
            types=self.resources.types,
            subjects=self.resources.subjects,
            lanes=dict(zip(self.topics.lanes, ("high", "default", "low"), strict=True)),
            max_records=self.settings.worker_batch_max,
            wait_s=self.settings.worker_background_batch_wait_s,
        )

    async def releaser(self, tier: Tier) -> RetryReleaser:
        topic = self.topics.retry(tier.name)

        def mine() -> set[Any]:
            return {tp for tp in self.app.consumer.assignment() if tp.topic == topic}

        return RetryReleaser(
            tier=tier.name,
            deliveries=self.delivery_codec,
            topics=self.topics,
            writer=await self.writer(),
            hold=lambda: self.consumer.hold_partitions(mine()),
            resume=lambda: self.consumer.release_partitions(mine()),
        )

    @property
    def ready(self) -> bool:
        return self.routes.ready.is_set() and self.recovered.is_set() and not self.app.rebalancing

    async def close(self) -> None:
        """End the destinations' connections cleanly: HTTP sessions closed, SMTP sessions QUIT."""
        await self.clients.close()
