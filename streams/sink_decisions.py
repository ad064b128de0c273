"""What the sink decides about a delivery, apart from calling anyone or writing anything.

A delivery meets, in order: its destination's circuit (call, or *park* in a retry tier until the
circuit may let calls through, spending no attempt), possibly one of its *fallback chain* that can
do the same job while the circuit is open (a WhatsApp message through another provider, an SMS, an
e-mail: ``streams.fallback_messages`` says what it becomes there), the call, and
then its *settling*: delivered; or, after a failure, a retry tier or the DLQ, as the destination's
own retry policy says. Each attempt leaves an outcome record.

The sink (``agents.sink`` and its ``agents.sink_*`` modules) reads the tables, calls the
connectors and writes to Kafka; the choices are made here, pure: the caller passes the clock and
the random draw.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from streams.circuit import CircuitState
from streams.errors import DeliveryError, InvalidRouteError, TransientDeliveryError
from streams.redact import safe_excerpt
from streams.retry_policy import DeadLetter, Retry, RetryPolicy, Tier, decide

MAX_FALLBACKS = 3
"""How far along its fallback chain a delivery may go (Z-API → WAHA → SMS → e-mail)."""

Outcome = Literal["delivered", "retrying", "dead_lettered", "duplicate_skipped"]

K = TypeVar("K", bound=Hashable)
D = TypeVar("D")


def circuit_key(tenant_id: str, kind: str) -> bytes:
    """The circuit-table key of ``tenant_id``'s destination of ``kind``: one circuit per (tenant, kind)."""
    return f"{tenant_id}\x1f{kind}".encode()


def circuit_kind(key: bytes) -> str:
    """The destination kind of a ``circuit_key``."""
    return key.partition(b"\x1f")[2].decode()


def open_until(state: CircuitState) -> float | None:
    """Until when (epoch seconds) an open circuit lets no call through; None when it is not open.

    Asked before each call of a batch: a circuit that the batch's earlier calls opened stops the
    calls still queued behind them."""
    return state.opened_at + state.open_for_s if state.state == "open" else None


def says_healthy(outcome: object) -> bool:
    """Whether an attempt's ``outcome`` (an answer, or the error it ended in) counts as healthy on
    its destination's circuit: only a transient failure says the destination is unwell; a 400 is
    an answer."""
    return not isinstance(outcome, TransientDeliveryError)


def replayed(delivery: Mapping[str, Any]) -> dict[str, Any]:
    """``delivery`` replayed from the DLQ: its attempts start afresh, and it is no longer timed
    against its SLA (the hours it waited for an operator say nothing of the bus's speed)."""
    return {**delivery, "attempt": 0, "first_failure_at": None, "ready_at": None}


def in_flight_budgets(demand: Mapping[K, int], total: int) -> dict[K, int]:
    """How many calls each (tenant, destination) of a batch may have open at once, given how many
    deliveries each has in the batch (``demand``) and the sink's ``total``.

    The total is shared out evenly, a group never getting more than it can use and what one cannot
    use going to the others; every group gets at least one call, even when there are more groups
    than ``total`` (the sink's own cap then still bounds the calls open at once). One tenant's slow
    destination so ties up its own share, never the slots of the other tenants in the batch.
    """
    if total < 1:
        raise ValueError(f"total must be at least 1, got {total}")
    budgets = {key: 0 for key in demand}
    wanting = [key for key, wanted in demand.items() if wanted > 0]
    left = total
    while left > 0 and wanting:
        share = max(1, left // len(wanting))
        still: list[K] = []
        for key in wanting:
            given = min(share, demand[key] - budgets[key], left)
            budgets[key] += given
            left -= given
            if budgets[key] < demand[key]:
                still.append(key)
        wanting = still
    return {key: max(budget, 1) if demand[key] > 0 else 0 for key, budget in budgets.items()}


def fallback_chain(
    first: D, next_of: Callable[[D], D | None], identity: Callable[[D], Hashable], limit: int = MAX_FALLBACKS
) -> list[D]:
    """The fallbacks of ``first`` in the order to try them: ``next_of(first)``, then its own, …,
    at most ``limit`` of them, ending before one met already (a chain configured in a loop, or
    back to ``first``, is not followed round)."""
    chain: list[D] = []
    seen = {identity(first)}
    link = next_of(first)
    while link is not None and len(chain) < limit and identity(link) not in seen:
        seen.add(identity(link))
        chain.append(link)
        link = next_of(link)
    return chain


def retry_policy(destination_config: Mapping[str, Any]) -> tuple[RetryPolicy, str | None]:
    """The retry policy a destination's config asks for under ``retry``, and why that config was
    ignored if it was: an invalid one gives the defaults rather than stopping the sink."""
    try:
        return RetryPolicy.from_config(destination_config.get("retry") or {}), None
    except (InvalidRouteError, TypeError, ValueError) as error:
        return RetryPolicy(), str(error)


@dataclass(frozen=True, slots=True)
class Park:
    """Send the delivery, its attempts unchanged, to ``tier``'s topic, not to come back before ``not_before``."""

    tier: Tier
    not_before: datetime


def park(policy: RetryPolicy, *, reopens_at: float, now: float) -> Park:
    """Where and until when a delivery waits while its destination's circuit is closed to it
    (``reopens_at`` and ``now`` are epoch seconds).

    The tier is the shortest of the destination's policy that lasts the whole wait, so the record
    never sits at the head of a shorter tier, holding up every record behind it. For the same
    reason a wait longer than the policy's longest tier is cut to that tier, as ``decide`` cuts a
    Retry-After: the delivery comes back sooner and, if the circuit is still open, is parked again.
    """
    longest = policy.tiers[-1]
    tier = next((t for t in policy.tiers if t.delay_s >= reopens_at - now), longest)
    return Park(tier, datetime.fromtimestamp(min(reopens_at, now + longest.delay_s), UTC))


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt settled: retry or dead-letter, and ``delivery`` as it goes on, its
    ``attempt`` counting this attempt and its ``first_failure_at`` set (both its retry record and
    its DLQ headers carry them)."""

    verdict: Retry | DeadLetter
    delivery: dict[str, Any]


def settle_failure(
    policy: RetryPolicy, delivery: Mapping[str, Any], error: DeliveryError, *, now: datetime, rand: float
) -> Failure:
    """What follows a failed attempt of ``delivery`` (a ``Delivery`` record: ``attempt`` is the
    number of attempts before this one; ``first_failure_at`` None until it first fails) under its
    destination's ``policy``. ``rand`` is a uniform draw from [0, 1] for the jitter."""
    attempt = delivery["attempt"] + 1
    first = delivery["first_failure_at"] or now
    verdict = decide(policy, attempt=attempt, first_failure_at=first, now=now, error=error, rand=rand)
    return Failure(verdict, {**delivery, "attempt": attempt, "first_failure_at": first})


def outcome_record(
    delivery: Mapping[str, Any],
    outcome: Outcome,
    *,
    destination: str,
    endpoint_id: str | None,
    attempt: int,
    latency_ms: float,
    at: datetime,
    error: DeliveryError | None = None,
    status: int | None = None,
    response: str | None = None,
) -> dict[str, Any]:
    """The ``DeliveryOutcome`` record of an attempt of ``delivery`` (or of its skipping).

    ``destination`` is the kind actually called, so a delivery sent through a fallback is recorded
    as that fallback; ``attempt`` counts the attempts made, this one included. ``status`` and
    ``response`` are a destination's answer; without an answer the status is the error's.
    The response is kept only as a redacted excerpt.
    """
    return {
        "delivery_id": delivery["delivery_id"],
        "event_id": delivery["event_id"],
        "tenant_id": delivery["tenant_id"],
        "event_type": delivery["event_type"],
        "route_id": delivery["route_id"],
        "destination": destination,
        "endpoint_id": endpoint_id,
        "attempt": attempt,
        "outcome": outcome,
        "status_code": status if status is not None else (error.status if error is not None else None),
        "latency_ms": latency_ms,
        "error_class": type(error).__name__ if error is not None else None,
        "at": at,
        "response_excerpt": safe_excerpt(response) if response is not None else None,
    }
