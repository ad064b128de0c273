"""One attempt of one delivery at its destination: asked of the circuit again just before the call
(the batch's earlier calls may have opened it), a token of the destination's rate limit taken, the
connector called under the attempt deadline, and the outcome recorded on the circuit at once.

A delivery not called is parked instead (``Attempt.parked_until``), spending no attempt: its
circuit opened meanwhile and no fallback of its chain may stand in, or no rate-limit token is
free within ``rate_limit_wait_s``. A call that runs past ``attempt_deadline_s`` is abandoned: a transient
failure (``Attempt.timed_out``), retried from a tier.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from agents.circuit_book import CircuitBook
from agents.config_cache import ConfigCache
from agents.rate_limits import RateLimits
from agents.records import Consumed
from connectors.destinations import CONNECTORS, Delivered
from infra.core.metrics import SINK_ATTEMPT_SECONDS
from infra.db.endpoints import Destination
from streams import circuit
from streams.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from streams.fallback_messages import stand_in
from streams.sink_decisions import circuit_key, fallback_chain, open_until, says_healthy

log = logging.getLogger(__name__)

Call = Callable[[Destination, str, str, Mapping[str, Any]], Awaitable[Delivered]]


@dataclass(slots=True)
class Attempt:
    """A delivery of the batch to be called, and what came of it."""

    record: Consumed
    delivery: dict[str, Any]
    destination: Destination
    circuit_key: bytes
    action: str
    fallback: bool = False  # sent through the destination's fallback while its circuit is open
    payload: Mapping[str, Any] | None = None  # what a fallback is sent in place of the delivery's payload
    # never called: the circuit opened, the rate limit ran dry or the destination was slow while
    # the batch was under way; parked until then (epoch seconds)
    parked_until: float | None = None
    outcome: Delivered | DeliveryError | None = None
    latency_ms: float = 0.0
    timed_out: bool = False  # the call ran past the sink's attempt deadline and was abandoned
    order: bytes | None = None  # its order's hold key, when the destination is ``ordered``
    held: bool = False  # never called: an earlier delivery of its order in the batch did not get through


class Attempts:
    """Makes the attempts of one sink (destination ``kind``)."""

    def __init__(
        self,
        *,
        kind: str,
        config: ConfigCache,
        circuits: CircuitBook,
        call: Call,
        attempt_deadline_s: float,
        rate_limit_wait_s: float,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        self._kind, self._config, self._circuits, self._call = kind, config, circuits, call
        self._attempt_deadline_s, self._rate_limit_wait_s = attempt_deadline_s, rate_limit_wait_s
        self._limits = RateLimits(monotonic)
        self._attempt_seconds = SINK_ATTEMPT_SECONDS.labels(destination=kind)
        self._clock, self._monotonic = clock, monotonic

    def fallback(
        self, record: Consumed, delivery: dict[str, Any], destination: Destination, now: float
    ) -> Attempt | None:
        """While this destination's circuit is open, a message may go through the first of its
        fallback chain (e.g. Z-API → WAHA → SMS) that can carry it and whose own circuit lets it."""
        chain = fallback_chain(destination, self._config.fallback_for, lambda link: link.id)
        usable = [link for link in chain if not (link.paused or link.secret_unreadable)]
        if not usable:
            return None
        try:
            payload = orjson.loads(delivery["payload"])
        except orjson.JSONDecodeError:
            return None  # its own destination's call says what is wrong with it
        for other in usable:
            connector = CONNECTORS.get(other.kind)
            instead = stand_in(
                delivery["action"], payload, other.kind, other.config, connector.ACTIONS if connector else ()
            )
            if instead is None:
                continue
            key = circuit_key(delivery["tenant_id"], other.kind)
            decision, state = circuit.allow(self._circuits.get(key), now, self._circuits.config)
            self._circuits.set(record.origin.partition, key, state)
            if decision.allowed:
                return Attempt(record, delivery, other, key, instead.action, fallback=True, payload=instead.payload)
        return None

    async def make(self, item: Attempt) -> None:
        """Attempt ``item`` (or park it), leaving what came of it on ``item``."""
        reopens_at = open_until(self._circuits.get(item.circuit_key))
        if reopens_at is not None:  # opened by this batch's earlier calls: stop calling a dead destination
            via = None if item.fallback else self.fallback(item.record, item.delivery, item.destination, self._clock())
            if via is None:
                item.parked_until = reopens_at
                return
            item.destination, item.circuit_key, item.action, item.fallback, item.payload = (
                via.destination, via.circuit_key, via.action, True, via.payload
            )  # fmt: skip
        token = self._limits.reserve(item.destination, self._rate_limit_wait_s)
        if token.wait_s is None:  # throttled for longer than is worth holding the batch for
            item.parked_until = self._clock() + token.retry_after_s
            return
        if token.wait_s > 0:
            await asyncio.sleep(token.wait_s)
        started = self._monotonic()
        deadline = asyncio.timeout(self._attempt_deadline_s)
        try:
            async with deadline:
                item.outcome = await self._call(
                    item.destination,
                    item.delivery["delivery_id"],
                    item.action,
                    item.payload if item.payload is not None else orjson.loads(item.delivery["payload"]),
                )
        except TimeoutError:
            item.outcome = TransientDeliveryError(f"{self._kind}: no answer within {self._attempt_deadline_s:g} s")
        except DeliveryError as error:
            item.outcome = error
        except Exception as error:  # a connector bug must not stop the partition
            log.exception("connector failed unexpectedly")
            item.outcome = PermanentDeliveryError(f"{self._kind}: connector error {type(error).__name__}")
        item.timed_out = deadline.expired()
        item.latency_ms = (self._monotonic() - started) * 1000
        self._attempt_seconds.observe(item.latency_ms / 1000)
        # Recorded at once, so the calls still queued in this batch see the circuit open.
        healthy = says_healthy(item.outcome)
        state = circuit.record(self._circuits.get(item.circuit_key), self._clock(), healthy, self._circuits.config)
        self._circuits.set(item.record.origin.partition, item.circuit_key, state)
