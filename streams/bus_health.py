"""What the operator dashboard makes of its readings: workers' metrics, consumer lag, the open
DLQ, and the short list of things that need a look. Pure: the readings come in as values.

Nothing here carries personal data: tenant ids, destination kinds, error class names, topic
names and counts only.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Sample = tuple[str, Mapping[str, str], float]
"""One Prometheus sample: its name (``_total`` included for counters), its labels, its value."""

CIRCUITS_OPEN = "crmbus_circuits_open"
STALLS_UNBLOCKED = "crmbus_worker_stalls_unblocked_total"
SCHEDULED_PENDING = "crmbus_scheduled_pending"
ROUTES_LOADED = "crmbus_routes_loaded"

WorkerState = Literal["up", "starting", "unreachable"]


@dataclass(frozen=True, slots=True)
class WorkerMetrics:
    """What one worker's ``/metrics`` says about its health."""

    circuits_open: Mapping[str, int] = field(default_factory=dict)
    """Circuits (tenant, destination) open or half-open, by destination; only those above zero."""
    stalls_unblocked: int = 0
    scheduled_pending: int = 0
    routes_loaded: int = 0


@dataclass(frozen=True, slots=True)
class WorkerReading:
    """What the dashboard found at one worker's address."""

    address: str
    state: WorkerState
    metrics: WorkerMetrics | None = None
    """None when unreachable, or when its metrics page could not be read."""
    error: str | None = None
    """Why it is unreachable: the failure's class, or the HTTP status it answered."""


def worker_metrics(samples: Iterable[Sample]) -> WorkerMetrics:
    """The figures the dashboard shows, from every sample of a worker's metrics page."""
    circuits: dict[str, int] = {}
    stalls = pending = routes = 0
    for name, labels, value in samples:
        if name == CIRCUITS_OPEN and value > 0:
            destination = labels.get("destination", "?")
            circuits[destination] = circuits.get(destination, 0) + int(value)
        elif name == STALLS_UNBLOCKED:
            stalls += int(value)
        elif name == SCHEDULED_PENDING:
            pending += int(value)
        elif name == ROUTES_LOADED:
            routes = max(routes, int(value))
    return WorkerMetrics(dict(sorted(circuits.items())), stalls, pending, routes)


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """A consumer group's committed offset on one partition, and the partition's end."""

    topic: str
    partition: int
    committed: int
    high: int

    @property
    def lag(self) -> int:
        """Records written and not yet consumed; never negative (the end is read after the commit)."""
        return max(0, self.high - self.committed)


@dataclass(frozen=True, slots=True)
class GroupLag:
    """One consumer group: Kafka's state of it (``stable``, ``empty``, ``preparing_rebalancing``, ...) and its lag.

    Only partitions the group has committed on count: a partition it never committed on has no
    offset to measure from.
    """

    group: str
    state: str
    partitions: tuple[PartitionOffsets, ...] = ()

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)

    def by_topic(self) -> dict[str, int]:
        """Lag per topic, the largest first; topics without lag left out."""
        lags: dict[str, int] = {}
        for partition in self.partitions:
            lags[partition.topic] = lags.get(partition.topic, 0) + partition.lag
        return dict(sorted(((t, n) for t, n in lags.items() if n), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True, slots=True)
class DeadLetterGroup:
    """Open DLQ records sharing tenant, destination and error class; the oldest failed first."""

    tenant_id: str | None
    destination: str | None
    error_class: str
    open_records: int
    oldest_failed_at: datetime

    def age_s(self, now: datetime) -> float:
        """How long the oldest record has waited in the DLQ."""
        return max(0.0, (now - self.oldest_failed_at).total_seconds())

    def replay_command(self) -> str:
        """The ``crmbus dlq replay`` that selects these records (and no other tenant's or class's).

        A record without a destination failed before one was chosen (the router); the command
        then selects the tenant's records of that class at every destination.
        """
        words = ["crmbus", "dlq", "replay"]
        if self.tenant_id is not None:
            words += ["--tenant", self.tenant_id]
        if self.destination is not None:
            words += ["--destination", self.destination]
        words += ["--error-class", self.error_class]
        return shlex.join(words)


@dataclass(frozen=True, slots=True)
class Breach:
    tenant_id: str
    destination: str
    reasons: tuple[str, ...]


def attention(
    *,
    unavailable: Mapping[str, str],
    workers: Mapping[str, WorkerState],
    groups: Sequence[GroupLag],
    open_dead_letters: int,
    breaches: Sequence[Breach],
) -> list[str]:
    """What needs an operator's look, most fundamental first; empty when all is well.

    ``unavailable`` maps each source that did not answer well (PostgreSQL, Kafka) to how
    (``unreachable``, ``failing``); ``workers`` maps each worker's address to its state.
    """
    notes = [f"{source} {how}" for source, how in unavailable.items()]
    for address, state in workers.items():
        if state != "up":
            notes.append(f"worker {address} {state}")
    for group in groups:
        if group.state == "empty" and group.total:
            notes.append(f"consumer group {group.group} has no member and {group.total} records waiting")
    if open_dead_letters:
        notes.append(f"{open_dead_letters} open DLQ record{'s' if open_dead_letters != 1 else ''}")
    for breach in breaches:
        notes.append(f"SLA breached: {breach.tenant_id} → {breach.destination} ({'; '.join(breach.reasons)})")
    return notes
