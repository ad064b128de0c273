"""The sink: each delivery record of one destination topic, delivered once in effect.

Per batch: decode each ``Delivery``; skip what the idempotency table says is finished; ask the
circuit of (tenant, destination) whether to call; wait for the destination's rate limit; call the
connector, many at once (bounded) or one after another per tenant when the destination asks for
order. Then, by outcome: delivered → remembered as finished; transient failure → the retry tier
``streams.retry_policy.decide`` picks, or the DLQ when attempts or age run out; permanent failure
→ the DLQ at once; circuit open → parked in a retry tier until it may close, no attempt counted.
Every attempt also leaves a ``DeliveryOutcome`` on ``crmbus.deliveries`` (archived to PostgreSQL).

As in the router, outputs are written and acknowledged by Kafka before finished ids are
remembered and before the batch is acknowledged: a crash repeats calls, which the destination's
``Idempotency-Key`` (the delivery id) absorbs, and loses none.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from agents.config_cache import ConfigCache
from agents.outputs import FatalOutputError, Output, OutputWriter
from agents.records import Consumed
from agents.runtime.partitioned_table import PartitionedTable
from connectors.destinations import Delivered
from infra.core.metrics import CIRCUITS_OPEN, DEAD_LETTERS, SINK_ATTEMPT_SECONDS, SINK_DELIVERIES, SINK_PARKED
from infra.db.endpoints import Destination
from schemas.codec import AvroCodec
from streams import circuit
from streams.circuit import CircuitConfig, CircuitState
from streams.dead_letter import REPLAY, dead_letter_headers, header
from streams.errors import (
    DeliveryError,
    InvalidRouteError,
    PermanentDeliveryError,
    PoisonMessageError,
    TransientDeliveryError,
)
from streams.rate_limit import Limit, TokenBucket
from streams.redact import safe_excerpt
from streams.retry_policy import DeadLetter, RetryPolicy, decide, tier_topic

log = logging.getLogger("crmbus.agents.sink")

Call = Callable[[Destination, str, str, Mapping[str, Any]], Awaitable[Delivered]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SinkTopics:
    prefix: str

    @property
    def dlq(self) -> str:
        return self.prefix + "crmbus.dlq"

    @property
    def outcomes(self) -> str:
        return self.prefix + "crmbus.deliveries"


class CircuitBook:
    """Circuit states per (tenant, destination), kept in a changelog-backed table."""

    def __init__(self, table: PartitionedTable, config: CircuitConfig) -> None:
        self._table, self.config = table, config
        self._states: dict[bytes, CircuitState] = {}
        self._changed: dict[bytes, int] = {}

    def get(self, key: bytes) -> CircuitState:
        state = self._states.get(key)
        if state is None:
            stored = self._table.get(key)
            state = CircuitState.from_bytes(stored) if stored is not None else CircuitState()
            self._states[key] = state
        return state

    def set(self, partition: int, key: bytes, state: CircuitState) -> None:
        if state != self._states.get(key):
            self._states[key] = state
            self._changed[key] = partition

    def changelog(self) -> list[Output]:
        """The changelog records of the states changed since the last call."""
        changed, self._changed = self._changed, {}
        if changed:
            unwell = Counter(
                key.partition(b"\x1f")[2].decode() for key, s in self._states.items() if s.state != "closed"
            )
            for kind in {key.partition(b"\x1f")[2].decode() for key in self._states}:
                CIRCUITS_OPEN.labels(destination=kind).set(unwell[kind])
        return [self._table.put(partition, key, self._states[key].to_bytes()) for key, partition in changed.items()]


def _retry_policy(destination: Destination) -> RetryPolicy:
    """The destination's retry settings; a bad config falls back to the defaults, never stops the sink."""
    try:
        return RetryPolicy.from_config(destination.config.get("retry") or {})
    except (InvalidRouteError, TypeError, ValueError) as exc:
        log.warning("destination %s: retry config ignored: %s", destination.id, exc)
        return RetryPolicy()


class RateLimits:
    """A token bucket per destination, from its config ``rate_limit: {per_s, burst}``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._clock = clock

    async def wait(self, destination: Destination) -> None:
        settings = destination.config.get("rate_limit")
        if not isinstance(settings, Mapping):
            return
        try:
            limit = Limit(float(settings.get("per_s", 10)), float(settings.get("burst", settings.get("per_s", 10))))
        except (TypeError, ValueError):
            log.warning("destination %s: rate_limit config ignored", destination.id)
            return
        bucket = self._buckets.get(destination.id)
        if bucket is None or bucket.limit != limit:
            bucket = self._buckets[destination.id] = TokenBucket(limit, limit.burst, self._clock())
        while not (decision := bucket.take(self._clock())).allowed:
            await asyncio.sleep(decision.retry_after_s)


@dataclass(slots=True)
class _Item:
    record: Consumed
    delivery: dict[str, Any]
    destination: Destination
    circuit_key: bytes
    action: str
    fallback: bool = False  # sent through the destination's fallback while its circuit is open
    held: bool = False  # never called: an earlier delivery of the same ordered queue failed
    parked_until: float | None = None  # never called: the circuit opened while the batch was under way
    outcome: Delivered | DeliveryError | None = None
    latency_ms: float = 0.0


_FALLBACK_ACTIONS = {"send_text"}  # what a WhatsApp fallback can do on another provider
_OUTCOMES = ("delivered", "delivered_fallback", "retrying", "dead_lettered", "duplicate_skipped")


class Sink:
    def __init__(
        self,
        *,
        kind: str,
        deliveries: Callable[[str], AvroCodec],
        outcomes: AvroCodec,
        topics: SinkTopics,
        config: ConfigCache,
        finished: PartitionedTable,
        circuits: CircuitBook,
        call: Call,
        writer: OutputWriter,
        max_in_flight: int,
        clock: Callable[[], datetime] = _utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.kind = kind
        self._codec_for, self._outcomes, self._topics, self._config = deliveries, outcomes, topics, config
        self._finished, self._circuits, self._call, self._writer = finished, circuits, call, writer
        self._max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)  # shared by the free callers and the ordered queues
        self._limits = RateLimits()
        # Metric children looked up once: ``labels()`` per delivery cost several per cent of the sink's CPU.
        self._counted = {outcome: SINK_DELIVERIES.labels(destination=kind, outcome=outcome) for outcome in _OUTCOMES}
        self._parked = SINK_PARKED.labels(destination=kind)
        self._attempt_seconds = SINK_ATTEMPT_SECONDS.labels(destination=kind)
        self._clock, self._rand = clock, rand

    async def handle(self, batch: Sequence[Consumed]) -> None:
        await self._config.ready.wait()
        outputs: list[Output] = []
        to_call: list[_Item] = []
        seen: set[str] = set()
        for record in batch:
            item = self._prepare(record, outputs, seen)
            if item is not None:
                to_call.append(item)
        await self._call_all(to_call)
        done: list[tuple[int, bytes]] = []
        for item in to_call:
            self._settle(item, outputs, done)
        if await self._writer.write(outputs):
            raise FatalOutputError("Kafka refused a delivery outcome, retry or DLQ record")
        # With every outcome stored, the finished ids and circuit states may be made durable.
        state = [self._finished.put(partition, key, b"1") for partition, key in done] + self._circuits.changelog()
        if await self._writer.write(state):
            raise FatalOutputError("Kafka refused a sink changelog record")

    # -- before the calls --------------------------------------------------------------------

    def _prepare(self, record: Consumed, outputs: list[Output], seen: set[str]) -> _Item | None:
        try:
            delivery = self._codec_for(record.origin.topic).decode(record.value)
        except PoisonMessageError as error:
            outputs.append(self._dead_letter(record, None, error, stage="sink.decode"))
            return None
        delivery_id = delivery["delivery_id"]
        if delivery_id in seen or self._finished.get(delivery_id.encode()) is not None:
            self._counted["duplicate_skipped"].inc()
            outputs.append(self._outcome(delivery, None, "duplicate_skipped", 0.0))
            return None
        seen.add(delivery_id)
        if header(record.headers, REPLAY) is not None:  # a replay starts its attempts afresh
            delivery = {**delivery, "attempt": 0, "first_failure_at": None}
        destination = self._config.destination_for(delivery["tenant_id"], delivery["route_id"], self.kind)
        if destination is None or destination.secret_unreadable:
            missing = PermanentDeliveryError(
                f"tenant has no enabled {self.kind} destination"
                if destination is None
                else f"the {self.kind} destination's secret cannot be opened with this CRMBUS_SECRET_KEY"
            )
            outputs.append(self._dead_letter(record, delivery, missing, stage="sink.destination"))
            outputs.append(self._outcome(delivery, destination, "dead_lettered", 0.0, missing))
            return None
        circuit_key = f"{delivery['tenant_id']}\x1f{self.kind}".encode()
        decision, state = circuit.allow(self._circuits.get(circuit_key), time.time(), self._circuits.config)
        self._circuits.set(record.origin.partition, circuit_key, state)
        if not decision.allowed:
            via = self._fallback(record, delivery, destination)
            if via is not None:
                return via
            self._parked.inc()
            outputs.append(self._park(record, delivery, decision.retry_at or time.time() + 5))
            return None
        return _Item(record, delivery, destination, circuit_key, delivery["action"])

    def _fallback(self, record: Consumed, delivery: dict[str, Any], destination: Destination) -> _Item | None:
        """While this destination's circuit is open, a notification may go through its configured
        fallback (e.g. Z-API → WAHA), if that one's own circuit lets it."""
        other = self._config.fallback_for(destination)
        verb = delivery["action"].partition(".")[2]
        if other is None or verb not in _FALLBACK_ACTIONS:
            return None
        key = f"{delivery['tenant_id']}\x1f{other.kind}".encode()
        decision, state = circuit.allow(self._circuits.get(key), time.time(), self._circuits.config)
        self._circuits.set(record.origin.partition, key, state)
        if not decision.allowed:
            return None
        return _Item(record, delivery, other, key, f"{other.kind}.{verb}", fallback=True)

    def _park(self, record: Consumed, delivery: dict[str, Any], retry_at: float) -> Output:
        """Circuit open: wait in the retry tier that fits, without spending an attempt."""
        due = datetime.fromtimestamp(retry_at, UTC)
        wait = max(0.0, retry_at - time.time())
        policy = RetryPolicy()
        tier = next((t for t in policy.tiers if t.delay_s >= wait), policy.tiers[-1])
        topic = tier_topic(tier, self._topics.prefix)
        return Output(topic, record.key, self._encode(topic, {**delivery, "not_before": due}))

    # -- the calls ---------------------------------------------------------------------------

    async def _call_all(self, items: list[_Item]) -> None:
        ordered: defaultdict[bytes, list[_Item]] = defaultdict(list)
        free: list[_Item] = []
        for item in items:
            (ordered[item.circuit_key] if item.destination.config.get("ordered") else free).append(item)
        # At most max_in_flight callers share the free items: a task per item cost more than its call.
        pending = iter(free)

        async def caller() -> None:
            for item in pending:
                await self._attempt(item)

        callers = [caller() for _ in range(min(len(free), self._max_in_flight))]
        await asyncio.gather(*callers, *(self._in_order(q) for q in ordered.values()))

    async def _in_order(self, queue: list[_Item]) -> None:
        """One after another; after a failure the rest wait behind it (retried later, in order)."""
        for index, item in enumerate(queue):
            await self._attempt(item)
            if not isinstance(item.outcome, Delivered):
                for later in queue[index + 1 :]:
                    later.outcome = TransientDeliveryError(f"{self.kind}: held behind an earlier failed delivery")
                    later.held = True
                return

    async def _attempt(self, item: _Item) -> None:
        async with self._slots:
            state = self._circuits.get(item.circuit_key)
            if state.state == "open":  # opened by this batch's earlier calls: stop calling a dead destination
                via = None if item.fallback else self._fallback(item.record, item.delivery, item.destination)
                if via is None:
                    item.parked_until = state.opened_at + state.open_for_s
                    return
                item.destination, item.circuit_key, item.action, item.fallback = (
                    via.destination, via.circuit_key, via.action, True
                )  # fmt: skip
            await self._limits.wait(item.destination)
            started = time.perf_counter()
            try:
                item.outcome = await self._call(
                    item.destination, item.delivery["delivery_id"], item.action, orjson.loads(item.delivery["payload"])
                )
            except DeliveryError as error:
                item.outcome = error
            except Exception as error:  # a connector bug must not stop the partition
                log.exception("connector failed unexpectedly")
                item.outcome = PermanentDeliveryError(f"{self.kind}: connector error {type(error).__name__}")
            item.latency_ms = (time.perf_counter() - started) * 1000
            self._attempt_seconds.observe(item.latency_ms / 1000)
            # Recorded at once, so the calls still queued in this batch see the circuit open.
            # Only a transient failure says the destination is unwell; a 400 is an answer.
            healthy = not isinstance(item.outcome, TransientDeliveryError)
            now = time.time()
            state = circuit.record(self._circuits.get(item.circuit_key), now, healthy, self._circuits.config)
            self._circuits.set(item.record.origin.partition, item.circuit_key, state)

    # -- after the calls ---------------------------------------------------------------------

    def _settle(self, item: _Item, outputs: list[Output], done: list[tuple[int, bytes]]) -> None:
        delivery, outcome, partition = item.delivery, item.outcome, item.record.origin.partition
        if item.parked_until is not None:
            self._parked.inc()
            outputs.append(self._park(item.record, delivery, item.parked_until))
            return
        if isinstance(outcome, Delivered):
            done.append((partition, delivery["delivery_id"].encode()))
            label = "delivered_fallback" if item.fallback else "delivered"
            self._counted[label].inc()
            made = {**delivery, "attempt": delivery["attempt"] + 1}  # outcomes count attempts from 1
            outputs.append(self._outcome(made, item.destination, "delivered", item.latency_ms, answer=outcome))
            return
        assert isinstance(outcome, DeliveryError)
        now = self._clock()
        first = delivery["first_failure_at"] or now
        attempt = delivery["attempt"] + 1
        policy = _retry_policy(item.destination)
        verdict = decide(policy, attempt=attempt, first_failure_at=first, now=now, error=outcome, rand=self._rand())
        failed = {**delivery, "attempt": attempt, "first_failure_at": first}
        if isinstance(verdict, DeadLetter):
            self._counted["dead_lettered"].inc()
            outputs.append(self._dead_letter(item.record, failed, outcome, stage=f"sink.{verdict.reason}"))
            outputs.append(self._outcome(failed, item.destination, "dead_lettered", item.latency_ms, outcome))
            return
        self._counted["retrying"].inc()
        topic = tier_topic(verdict.tier, self._topics.prefix)
        outputs.append(
            Output(topic, item.record.key, self._encode(topic, {**failed, "not_before": verdict.not_before}))
        )
        outputs.append(self._outcome(failed, item.destination, "retrying", item.latency_ms, outcome))

    def _encode(self, topic: str, delivery: Mapping[str, Any]) -> bytes:
        return self._codec_for(topic).encode(delivery)

    def _dead_letter(
        self, record: Consumed, delivery: Mapping[str, Any] | None, error: BaseException, *, stage: str
    ) -> Output:
        DEAD_LETTERS.labels(stage=stage, error_class=type(error).__name__).inc()
        status = error.status if isinstance(error, DeliveryError) else None
        headers = dead_letter_headers(
            record.origin, error, self._clock(), stage=stage, destination=self.kind,
            route_id=delivery["route_id"] if delivery else None,
            attempts=delivery["attempt"] if delivery else None,
            status_code=status,
            first_failure_at=delivery["first_failure_at"] if delivery else None,
        )  # fmt: skip
        return Output(self._topics.dlq, record.key, record.value, headers)

    def _outcome(
        self,
        delivery: Mapping[str, Any],
        destination: Destination | None,
        outcome: str,
        latency_ms: float,
        error: DeliveryError | None = None,
        answer: Delivered | None = None,
    ) -> Output:
        value = self._outcomes.encode(
            {
                "delivery_id": delivery["delivery_id"],
                "event_id": delivery["event_id"],
                "tenant_id": delivery["tenant_id"],
                "event_type": delivery["event_type"],
                "route_id": delivery["route_id"],
                # the destination actually called: a fallback is recorded as itself (e.g. waha)
                "destination": destination.kind if destination is not None else self.kind,
                "endpoint_id": destination.id if destination is not None else None,
                "attempt": delivery["attempt"],
                "outcome": outcome,
                "status_code": answer.status if answer is not None else (error.status if error is not None else None),
                "latency_ms": latency_ms,
                "error_class": type(error).__name__ if error is not None else None,
                "at": self._clock(),
                "response_excerpt": safe_excerpt(answer.response_excerpt) if answer is not None else None,
            }
        )
        return Output(self._topics.outcomes, delivery["tenant_id"].encode(), value)
