"""What became of an accepted event, as ``GET /v1/events/{id}`` tells it. Pure.

The router records one decision per event on ``crmbus.deliveries`` (beside the sinks' attempt
outcomes), which the archive keeps in PostgreSQL:

    routed         it planned ``planned`` deliveries (delayed ones included)
    no_route       none of the tenant's routes matched
    deduplicated   its idempotency key was seen before: it produced nothing more

From the decision and the attempts archived so far, an event's status is one of ``STATUSES``:
``routed`` (planned, no attempt yet), ``delivering`` (some deliveries still pending or retrying),
``delivered`` (every planned delivery made), ``failed`` (every delivery settled, at least one in
the DLQ), ``no_route`` or ``deduplicated``. Before the router has taken an event there is nothing
to tell: the ingress answers 404 and says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Decision = Literal["routed", "no_route", "deduplicated"]
DECISIONS: frozenset[str] = frozenset({"routed", "no_route", "deduplicated"})
Status = Literal["routed", "no_route", "deduplicated", "delivering", "delivered", "failed"]
STATUSES: tuple[Status, ...] = ("routed", "no_route", "deduplicated", "delivering", "delivered", "failed")

# webhook_deliveries.status values that end a delivery.
_DONE = frozenset({"delivered", "duplicate"})
_FAILED = "dead_lettered"


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    decision: Decision
    planned: int
    failed_routes: int
    decided_at: datetime


def decision_record(
    *,
    event_id: Any,
    tenant_id: str,
    event_type: str,
    decision: Decision,
    planned: int,
    failed_routes: int,
    at: datetime,
) -> dict[str, Any]:
    """The ``DeliveryOutcome`` (v2) record of the router's decision for one event."""
    return {
        "delivery_id": "",
        "event_id": event_id,
        "tenant_id": tenant_id,
        "event_type": event_type,
        "route_id": "",
        "destination": "",
        "endpoint_id": None,
        "attempt": 0,
        "outcome": decision,
        "status_code": None,
        "latency_ms": 0.0,
        "error_class": None,
        "at": at,
        "response_excerpt": None,
        "planned": planned,
        "failed_routes": failed_routes,
    }


def event_status(decision: RoutingDecision | None, attempts: Iterable[tuple[str, str]]) -> Status | None:
    """The status of an event from its decision and its (delivery id, attempt status) pairs; None
    when there is neither (the router has not taken it, or it is not this tenant's)."""
    done: set[str] = set()
    failed: set[str] = set()
    pending: set[str] = set()
    for delivery_id, status in attempts:
        if status in _DONE:
            done.add(delivery_id)
        elif status == _FAILED:
            failed.add(delivery_id)
        else:
            pending.add(delivery_id)
    failed -= done
    pending -= done | failed
    if decision is None:  # archived before the router recorded decisions: the attempts alone
        if not (done or failed or pending):
            return None
        return "delivering" if pending else "failed" if failed else "delivered"
    if decision.decision != "routed":
        return decision.decision
    settled = len(done) + len(failed)
    if settled < decision.planned:
        return "delivering" if done or failed or pending else "routed"
    return "failed" if failed or decision.failed_routes else "delivered"
