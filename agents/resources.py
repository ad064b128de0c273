"""What a worker uses beyond Kafka's consumer, built by the composition root (``infra.cli.wiring``):
the routes and destinations in PostgreSQL, the delivery log the archive writes, the schema ids the
codecs use, and its output producer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from agents.jobs import JobRunner
from connectors.kafka.producer import AsyncProducer
from infra.core.live_catalogue import LiveCatalogue
from infra.core.subject_index import SubjectIndex
from infra.db.delivery_log import DeliveryLog
from infra.db.endpoints import Destination
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
    """Digests the people a dead letter is about (``dead_letter.subjects``)."""
    schema_ids: SchemaIds
    open_producer: Callable[[], Awaitable[AsyncProducer]]
    """The process's one output producer, opened on the running loop."""
    jobs: JobRunner
    """The periodic jobs, run by the processes holding the archive role."""
