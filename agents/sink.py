"""The sink: each delivery record of one destination topic, delivered once in effect.

Per batch: decode each ``Delivery``; skip what the idempotency table says is finished; ask the
circuit of (tenant, destination) whether to call; take a token of the destination's rate limit;
call the connector, many at once (bounded) or one after another per tenant when the destination
asks for order. Then, by outcome: delivered → remembered as finished; transient failure → the retry
tier ``streams.retry_policy.decide`` picks, or the DLQ when attempts or age run out; permanent
failure → the DLQ at once; circuit open → parked in a retry tier until it may close, no attempt
counted. Every attempt also leaves a ``DeliveryOutcome`` on the deliveries topic (archived to
PostgreSQL). Those choices are pure functions of ``streams.sink_decisions``; the sink does the
reading, calling, writing and counting around them.

Tenants share a batch fairly: each (tenant, destination) gets its own share of the calls open at
once, and no destination may hold the batch for long. A call that runs past the attempt deadline
is abandoned (a transient failure, retried from a tier) and the rest of that destination's
deliveries in the batch are parked; a delivery whose rate limit has no token within
``rate_limit_wait_s`` is parked until one is free. Parked deliveries spend no attempt; the batch
ends and the other tenants' deliveries flow.

An ``ordered`` destination's deliveries of one order (``streams.order_holds``) go one after
another, and while one of them waits in a retry tier the later ones are parked behind it, so order
holds across batches and retries, not only within a batch.

Two clocks are injected: wall time (epoch seconds) for what outlives the process or is compared
across workers (circuit states, record times, retry due times), and a monotonic clock for what
must not jump when the wall clock is stepped (call latencies, rate-limit refills).

As in the router, outputs are written and acknowledged by Kafka before finished ids are
remembered and before the batch is acknowledged: a crash repeats calls, which the destination's
``Idempotency-Key`` (the delivery id) absorbs, and loses none.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from agents.circuit_book import CircuitBook
from agents.config_cache import ConfigCache
from agents.order_holds import OrderHolds
from agents.outputs import FatalOutputError, Output, OutputWriter, dead_letter
from agents.rate_limits import RateLimits
from agents.records import Consumed
from agents.runtime.partitioned_table import PartitionedTable
from connectors.destinations import Delivered
from infra.core.metrics import DEAD_LETTERS, SINK_ATTEMPT_SECONDS, SINK_DELIVERIES, SINK_PARKED
from infra.db.endpoints import Destination
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams import circuit
from streams.dead_letter import REPLAY, dead_letter_headers, header
from streams.errors import DeliveryError, PermanentDeliveryError, PoisonMessageError, TransientDeliveryError
from streams.order_holds import after_settling, behind, order_key, waits_behind
from streams.retry_policy import DeadLetter, RetryPolicy, Tier
from streams.sink_decisions import (
    Outcome,
    circuit_key,
    fallback_action,
    in_flight_budgets,
    open_until,
    outcome_record,
    park,
    retry_policy,
    settle_failure,
)

log = logging.getLogger(__name__)

Call = Callable[[Destination, str, str, Mapping[str, Any]], Awaitable[Delivered]]


@dataclass(slots=True)
class _Item:
    record: Consumed
    delivery: dict[str, Any]
    destination: Destination
    circuit_key: bytes
    action: str
    fallback: bool = False  # sent through the destination's fallback while its circuit is open
    # never called: the circuit opened, the rate limit ran dry or the destination was slow while
    # the batch was under way; parked until then (epoch seconds)
    parked_until: float | None = None
    outcome: Delivered | DeliveryError | None = None
    latency_ms: float = 0.0
    timed_out: bool = False  # the call ran past the sink's attempt deadline and was abandoned
    order: bytes | None = None  # its order's hold key, when the destination is ``ordered``
    held: bool = False  # never called: an earlier delivery of its order in the batch did not get through


@dataclass(slots=True)
class _Pace:
    """Shared by the callers of one (tenant, destination) in a batch."""

    slow_until: float | None = None  # a call ran out of time: the group's other deliveries park until then


_OUTCOMES = ("delivered", "delivered_fallback", "retrying", "dead_lettered", "duplicate_skipped")


class Sink:
    def __init__(
        self,
        *,
        kind: str,
        deliveries: Callable[[str], AvroCodec],
        outcomes: AvroCodec,
        topics: TopicNames,
        config: ConfigCache,
        finished: PartitionedTable,
        circuits: CircuitBook,
        holds: OrderHolds,
        call: Call,
        writer: OutputWriter,
        max_in_flight: int,
        attempt_deadline_s: float = 10.0,
        rate_limit_wait_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.kind = kind
        self._codec_for, self._outcomes, self._topics, self._config = deliveries, outcomes, topics, config
        self._dlq, self._deliveries = topics.dlq, topics.deliveries
        self._finished, self._circuits, self._call, self._writer = finished, circuits, call, writer
        self._holds = holds
        self._max_in_flight = max_in_flight
        # The hard cap over every group's callers (more groups than max_in_flight get one each).
        self._slots = asyncio.Semaphore(max_in_flight)
        self._attempt_deadline_s, self._rate_limit_wait_s = attempt_deadline_s, rate_limit_wait_s
        self._limits = RateLimits(monotonic)
        self._policies: dict[str, tuple[Destination, RetryPolicy]] = {}
        # Metric children looked up once: ``labels()`` per delivery cost several per cent of the sink's CPU.
        self._counted = {outcome: SINK_DELIVERIES.labels(destination=kind, outcome=outcome) for outcome in _OUTCOMES}
        self._parked = SINK_PARKED.labels(destination=kind)
        self._attempt_seconds = SINK_ATTEMPT_SECONDS.labels(destination=kind)
        self._clock, self._monotonic, self._rand = clock, monotonic, rand

    async def handle(self, batch: Sequence[Consumed]) -> None:
        await self._config.ready.wait()
        outputs: list[Output] = []
        to_call: list[_Item] = []
        seen: set[str] = set()
        # Nothing waits between here and the calls: one reading of the clock serves the whole batch.
        now = self._clock()
        at = datetime.fromtimestamp(now, UTC)
        for record in batch:
            item = self._prepare(record, outputs, seen, now, at)
            if item is not None:
                to_call.append(item)
        await self._call_all(to_call)
        done: list[tuple[int, bytes]] = []
        now = self._clock()
        at = datetime.fromtimestamp(now, UTC)
        for item in to_call:
            self._settle(item, outputs, done, now, at)
        if await self._writer.write(outputs):
            raise FatalOutputError("Kafka refused a delivery outcome, retry or DLQ record")
        # With every outcome stored, the finished ids and circuit states may be made durable.
        state = [self._finished.put(partition, key, b"1") for partition, key in done]
        state += self._circuits.changelog() + self._holds.changelog()
        if await self._writer.write(state):
            raise FatalOutputError("Kafka refused a sink changelog record")

    # -- before the calls --------------------------------------------------------------------

    def _prepare(
        self, record: Consumed, outputs: list[Output], seen: set[str], now: float, at: datetime
    ) -> _Item | None:
        try:
            delivery = self._codec_for(record.origin.topic).decode(record.value)
        except PoisonMessageError as error:
            outputs.append(self._dead_letter(record, None, error, at, stage="sink.decode"))
            return None
        delivery_id = delivery["delivery_id"]
        if delivery_id in seen or self._finished.get(delivery_id.encode()) is not None:
            # Delivered before its hold was cleared (a crash in between): clear it now.
            self._note(
                record, order_key(delivery["tenant_id"], self.kind, delivery["ordering_key"]), delivery_id, None, now
            )
            self._counted["duplicate_skipped"].inc()
            outputs.append(self._outcome(delivery, None, "duplicate_skipped", delivery["attempt"], 0.0, at))
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
            outputs.append(self._dead_letter(record, delivery, missing, at, stage="sink.destination"))
            outputs.append(self._outcome(delivery, destination, "dead_lettered", delivery["attempt"], 0.0, at, missing))
            return None
        order: bytes | None = None
        if destination.config.get("ordered"):
            order = order_key(delivery["tenant_id"], self.kind, delivery["ordering_key"])
            hold = waits_behind(self._holds.get(order), delivery_id, now)
            # An earlier delivery of its order waits in a retry tier: go behind it. If that one
            # is back in this batch, this one follows it in the batch's queue instead.
            if hold is not None and hold.delivery_id not in seen:
                self._parked.inc()
                outputs.append(self._wait(record, delivery, *behind(hold)))
                return None
        key = circuit_key(delivery["tenant_id"], self.kind)
        decision, state = circuit.allow(self._circuits.get(key), now, self._circuits.config)
        self._circuits.set(record.origin.partition, key, state)
        if not decision.allowed:
            via = self._fallback(record, delivery, destination, now)
            if via is not None:
                via.order = order
                return via
            self._parked.inc()
            outputs.append(self._park(record, delivery, destination, decision.retry_at or now + 5, now, order))
            return None
        return _Item(record, delivery, destination, key, delivery["action"], order=order)

    def _fallback(
        self, record: Consumed, delivery: dict[str, Any], destination: Destination, now: float
    ) -> _Item | None:
        """While this destination's circuit is open, a notification may go through its configured
        fallback (e.g. Z-API → WAHA), if that one's own circuit lets it."""
        other = self._config.fallback_for(destination)
        action = None if other is None else fallback_action(delivery["action"], other.kind)
        if other is None or action is None:
            return None
        key = circuit_key(delivery["tenant_id"], other.kind)
        decision, state = circuit.allow(self._circuits.get(key), now, self._circuits.config)
        self._circuits.set(record.origin.partition, key, state)
        if not decision.allowed:
            return None
        return _Item(record, delivery, other, key, action, fallback=True)

    def _park(
        self,
        record: Consumed,
        delivery: dict[str, Any],
        destination: Destination,
        reopens_at: float,
        now: float,
        order: bytes | None,
    ) -> Output:
        """Not called (circuit open, throttled, slow): wait in the destination's retry tier that
        fits, without spending an attempt, holding its order if it has one."""
        parked = park(self._policy(destination), reopens_at=reopens_at, now=now)
        self._note(record, order, delivery["delivery_id"], (parked.tier, parked.not_before), now)
        return self._wait(record, delivery, parked.tier, parked.not_before)

    def _note(
        self, record: Consumed, order: bytes | None, delivery_id: str, waiting: tuple[Tier, datetime] | None, now: float
    ) -> None:
        """Keep ``order``'s hold as settling ``delivery_id`` leaves it (``after_settling``)."""
        if order is None:
            return
        hold = self._holds.get(order)
        settled = after_settling(hold, delivery_id, waiting, now)
        if settled != hold:
            self._holds.set(record.origin.partition, order, settled)

    def _policy(self, destination: Destination) -> RetryPolicy:
        """The destination's retry policy, read once per loaded destination (a reload brings a new object)."""
        known = self._policies.get(destination.id)
        if known is None or known[0] is not destination:
            policy, ignored = retry_policy(destination.config)
            if ignored is not None:
                log.warning("destination %s: retry config ignored: %s", destination.id, ignored)
            known = self._policies[destination.id] = (destination, policy)
        return known[1]

    # -- the calls ---------------------------------------------------------------------------

    async def _call_all(self, items: list[_Item]) -> None:
        """Each (tenant, destination) of the batch gets its share of the calls open at once
        (``in_flight_budgets``): its callers work through its own deliveries only, so a slow
        destination ties up its own share and the other tenants' deliveries go on beside it. The
        deliveries of an order go one after another; any other delivery goes alone."""
        groups: dict[tuple[bytes, str], dict[object, list[_Item]]] = {}
        for item in items:
            queues = groups.setdefault((item.circuit_key, item.destination.id), {})
            queues.setdefault(item.order if item.order is not None else id(item), []).append(item)
        budgets = in_flight_budgets({key: len(queues) for key, queues in groups.items()}, self._max_in_flight)
        runs: list[Awaitable[None]] = []
        for key, queues in groups.items():
            # A few callers share the group's queues: a task per item cost more than its call.
            pending, pace = iter(queues.values()), _Pace()
            runs.extend(self._caller(pending, pace) for _ in range(budgets[key]))
        await asyncio.gather(*runs)

    async def _caller(self, pending: Iterator[list[_Item]], pace: _Pace) -> None:
        """Call the group's queues one after another. In a queue, a delivery that does not get
        through (a permanent failure aside, which goes to the DLQ) holds the rest behind it. Once
        one of the group's calls ran out of time, the rest of the group is parked instead of
        waiting on a slow destination call after call."""
        for queue in pending:
            for index, item in enumerate(queue):
                await self._attempt(item, pace)
                if item.timed_out and pace.slow_until is None:
                    pace.slow_until = self._clock() + self._attempt_deadline_s
                if not isinstance(item.outcome, Delivered | PermanentDeliveryError):
                    for later in queue[index + 1 :]:
                        later.held = True
                    break

    async def _attempt(self, item: _Item, pace: _Pace | None = None) -> None:
        async with self._slots:
            if pace is not None and pace.slow_until is not None:  # the destination got slow meanwhile
                item.parked_until = pace.slow_until
                return
            reopens_at = open_until(self._circuits.get(item.circuit_key))
            if reopens_at is not None:  # opened by this batch's earlier calls: stop calling a dead destination
                via = (
                    None
                    if item.fallback
                    else self._fallback(item.record, item.delivery, item.destination, self._clock())
                )
                if via is None:
                    item.parked_until = reopens_at
                    return
                item.destination, item.circuit_key, item.action, item.fallback = (
                    via.destination, via.circuit_key, via.action, True
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
                        orjson.loads(item.delivery["payload"]),
                    )
            except TimeoutError:
                item.outcome = TransientDeliveryError(f"{self.kind}: no answer within {self._attempt_deadline_s:g} s")
            except DeliveryError as error:
                item.outcome = error
            except Exception as error:  # a connector bug must not stop the partition
                log.exception("connector failed unexpectedly")
                item.outcome = PermanentDeliveryError(f"{self.kind}: connector error {type(error).__name__}")
            item.timed_out = deadline.expired()
            item.latency_ms = (self._monotonic() - started) * 1000
            self._attempt_seconds.observe(item.latency_ms / 1000)
            # Recorded at once, so the calls still queued in this batch see the circuit open.
            # Only a transient failure says the destination is unwell; a 400 is an answer.
            healthy = not isinstance(item.outcome, TransientDeliveryError)
            state = circuit.record(self._circuits.get(item.circuit_key), self._clock(), healthy, self._circuits.config)
            self._circuits.set(item.record.origin.partition, item.circuit_key, state)

    # -- after the calls ---------------------------------------------------------------------

    def _settle(
        self, item: _Item, outputs: list[Output], done: list[tuple[int, bytes]], now: float, at: datetime
    ) -> None:
        delivery, outcome = item.delivery, item.outcome
        if item.parked_until is not None:
            self._parked.inc()
            outputs.append(self._park(item.record, delivery, item.destination, item.parked_until, now, item.order))
            return
        if item.held:  # behind the earlier delivery of its order that now waits (if none does: briefly)
            self._parked.inc()
            hold = waits_behind(self._holds.get(item.order or b""), delivery["delivery_id"], now)
            outputs.append(
                self._wait(item.record, delivery, *behind(hold))
                if hold is not None
                else self._park(item.record, delivery, item.destination, now, now, item.order)
            )
            return
        if isinstance(outcome, Delivered):
            self._note(item.record, item.order, delivery["delivery_id"], None, now)
            done.append((item.record.origin.partition, delivery["delivery_id"].encode()))
            self._counted["delivered_fallback" if item.fallback else "delivered"].inc()
            attempt = delivery["attempt"] + 1  # outcomes count attempts from 1
            outputs.append(
                self._outcome(delivery, item.destination, "delivered", attempt, item.latency_ms, at, answer=outcome)
            )
            return
        assert isinstance(outcome, DeliveryError)
        failure = settle_failure(self._policy(item.destination), delivery, outcome, now=at, rand=self._rand())
        failed, verdict = failure.delivery, failure.verdict
        self._note(
            item.record,
            item.order,
            delivery["delivery_id"],
            None if isinstance(verdict, DeadLetter) else (verdict.tier, verdict.not_before),
            now,
        )
        if isinstance(verdict, DeadLetter):
            self._counted["dead_lettered"].inc()
            outputs.append(self._dead_letter(item.record, failed, outcome, at, stage=f"sink.{verdict.reason}"))
            label: Outcome = "dead_lettered"
        else:
            self._counted["retrying"].inc()
            outputs.append(self._wait(item.record, failed, verdict.tier, verdict.not_before))
            label = "retrying"
        outputs.append(self._outcome(failed, item.destination, label, failed["attempt"], item.latency_ms, at, outcome))

    def _wait(self, record: Consumed, delivery: Mapping[str, Any], tier: Tier, not_before: datetime) -> Output:
        """``delivery`` into ``tier``'s topic, not to come back before ``not_before``."""
        topic = self._topics.retry(tier.name)
        return Output(topic, record.key, self._codec_for(topic).encode({**delivery, "not_before": not_before}))

    def _dead_letter(
        self, record: Consumed, delivery: Mapping[str, Any] | None, error: BaseException, at: datetime, *, stage: str
    ) -> Output:
        DEAD_LETTERS.labels(stage=stage, error_class=type(error).__name__).inc()
        status = error.status if isinstance(error, DeliveryError) else None
        headers = dead_letter_headers(
            record.origin, error, at, stage=stage, destination=self.kind,
            route_id=delivery["route_id"] if delivery else None,
            attempts=delivery["attempt"] if delivery else None,
            status_code=status,
            first_failure_at=delivery["first_failure_at"] if delivery else None,
        )  # fmt: skip
        return dead_letter(self._dlq, record, headers)

    def _outcome(
        self,
        delivery: Mapping[str, Any],
        destination: Destination | None,
        outcome: Outcome,
        attempt: int,
        latency_ms: float,
        at: datetime,
        error: DeliveryError | None = None,
        answer: Delivered | None = None,
    ) -> Output:
        record = outcome_record(
            delivery, outcome,
            # the destination actually called: a fallback is recorded as itself (e.g. waha)
            destination=destination.kind if destination is not None else self.kind,
            endpoint_id=destination.id if destination is not None else None,
            attempt=attempt, latency_ms=latency_ms, at=at, error=error,
            status=answer.status if answer is not None else None,
            response=answer.response_excerpt if answer is not None else None,
        )  # fmt: skip
        return Output(self._deliveries, delivery["tenant_id"].encode(), self._outcomes.encode(record))
