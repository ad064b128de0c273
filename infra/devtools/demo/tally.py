"""What ``crmbus demo`` expects at each destination, and how much of it has arrived.

The expectation comes from the tenant's own routes through ``streams.routes.fan_out``, the
function the router runs, so the demo checks the bus against its configuration rather than
against a list of its own. Arrivals are the sandbox's journal: a delivery counts once its
delivery id (the idempotency key) was applied there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from infra.devtools.sandbox import Received


@dataclass(frozen=True, slots=True)
class Expected:
    delivery_id: str
    destination: str
    kind: str  # the demo event's kind, e.g. "site lead"
    due: datetime | None  # a delayed action (the feedback request 2 h after a service)


@dataclass(frozen=True, slots=True)
class DestinationRow:
    destination: str
    expected: int
    delivered: int
    failed_attempts: int
    scheduled: int


@dataclass(frozen=True, slots=True)
class FlowRow:
    kind: str
    destinations: tuple[tuple[str, int, int], ...]  # (destination, delivered, expected now)
    scheduled: int


class Tally:
    def __init__(self, expected: Sequence[Expected]) -> None:
        self.expected = tuple(expected)
        self._now = [e for e in self.expected if e.due is None]
        self._ids = {e.delivery_id for e in self.expected}

    def _applied(self, received: Iterable[Received]) -> set[str | None]:
        return {r.idempotency_key for r in received if r.applied and r.idempotency_key in self._ids}

    def destinations(self, received: Sequence[Received]) -> list[DestinationRow]:
        applied = self._applied(received)
        failed = Counter(
            r.system for r in received if r.idempotency_key in self._ids and (r.status is None or r.status >= 400)
        )
        rows = []
        for destination in sorted({e.destination for e in self.expected}):
            mine = [e for e in self._now if e.destination == destination]
            rows.append(
                DestinationRow(
                    destination,
                    len(mine),
                    sum(1 for e in mine if e.delivery_id in applied),
                    failed[destination],
                    sum(1 for e in self.expected if e.destination == destination and e.due is not None),
                )
            )
        return rows

    def flows(self, received: Sequence[Received]) -> list[FlowRow]:
        applied = self._applied(received)
        rows = []
        for kind in dict.fromkeys(e.kind for e in self.expected):
            mine = [e for e in self._now if e.kind == kind]
            per_destination = tuple(
                (
                    destination,
                    sum(1 for e in mine if e.destination == destination and e.delivery_id in applied),
                    sum(1 for e in mine if e.destination == destination),
                )
                for destination in dict.fromkeys(e.destination for e in mine)
            )
            scheduled = sum(1 for e in self.expected if e.kind == kind and e.due is not None)
            rows.append(FlowRow(kind, per_destination, scheduled))
        return rows

    def missing(self, received: Sequence[Received]) -> list[Expected]:
        """Deliveries due now that have not arrived."""
        applied = self._applied(received)
        return [e for e in self._now if e.delivery_id not in applied]
