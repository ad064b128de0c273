"""What a worker uses beyond Kafka's consumer, built by the composition root (``infra.cli.wiring``):
the routes and destinations in PostgreSQL, the delivery log and event archive the archive role
writes, the schema ids the codecs use, and its output producer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from agents.jobs import JobRunner
from connectors.kafka.lane_records import GroupReader
from connectors.kafka.producer import AsyncProducer
from infra.core.live_catalogue import LiveCatalogue
from infra.core.subject_index import SubjectIndex
from infra.db.delivery_log import DeliveryLog
from infra.db.endpoints import Destination
from infra.db.event_archive import EventArchive
from infra.db.health_checks import HealthChecks
from schemas.avro_schemas import SchemaIds
from streams.routes import Route


@dataclass(frozen=True, slots=True)
class WorkerResources:
    load_routes: Callable[[], Sequence[Route]]
    """Every enabled route, compiled (blocking: called in a thread)."""
    load_destinations: Callable[[], Sequence[Destination]]
    """Every enabled destination, its secret opened (blocking)."""
    routes_fingerprint: Callable[[], str]
    """A digest that moves whenever either of the two loads may return something else (blocking)."""
    types: LiveCatalogue
    """The event types: built-in and tenants' own, refreshed in the background by the router role."""
    delivery_log: DeliveryLog
    """With the secret box: it seals the dead letters it archives."""
    subjects: SubjectIndex
    """Keyed digests of the people a dead letter or an archived event is about (their ``subjects``)."""
    schema_ids: SchemaIds
    open_producer: Callable[[], Awaitable[AsyncProducer]]
    """The process's one output producer, opened on the running loop."""
    jobs: JobRunner
    """The periodic jobs, run by the processes holding the archive role."""
    health: HealthChecks
    """The proactive checks' results, which the archive role's timer sets the health gauges from."""
    event_archive: EventArchive
    """The accepted events' history, written by the archive role's event archiver."""
    open_event_reader: Callable[[], GroupReader]
    """The event archiver's own consumer group on the lanes (blocking: called in a thread)."""
