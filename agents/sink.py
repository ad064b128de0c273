"""The sink: each delivery record of one destination topic, delivered once in effect.

Per batch: decode each ``Delivery``; skip what the idempotency table says is finished; ask the
circuit of (tenant, destination) whether to call; then have the batch's calls made, each
(tenant, destination) within its share (``agents.sink_budgets``), each attempt with its rate-limit
token and deadline (``agents.sink_attempts``). Then, by outcome: delivered → remembered as
finished; transient failure → the retry tier ``streams.retry_policy.decide`` picks, or the DLQ when
attempts or age run out; permanent failure → the DLQ at once; circuit open, throttled or slow →
parked in a retry tier until it may go on, no attempt counted; a destination an operator paused,
likewise until resumed. Every attempt also leaves a
``DeliveryOutcome`` on the deliveries topic (archived to PostgreSQL; the records are made by
``agents.sink_outputs``). Those choices are pure functions of ``streams.sink_decisions``; the sink
does the reading, calling, writing and counting around them.

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

import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from agents.circuit_book import CircuitBook
from agents.config_cache import ConfigCache
from agents.dedupe import DedupeStore
from agents.order_holds import OrderHolds
from agents.outputs import FatalOutputError, Output, OutputWriter
from agents.records import Consumed
from agents.sink_attempts import Attempt, Attempts, Call
from agents.sink_budgets import BatchBudgets
from agents.sink_outputs import SinkOutputs
from agents.sink_timing import DeliveryTiming
from connectors.destinations import Delivered
from infra.core.metrics import SINK_DELIVERIES, SINK_PARKED
from infra.db.endpoints import Destination
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams import circuit
from streams.dead_letter import REPLAY, header
from streams.errors import DeliveryError, PermanentDeliveryError, PoisonMessageError
from streams.order_holds import behind, order_key
from streams.retry_policy import DeadLetter, RetryPolicy
from streams.sink_decisions import Outcome, circuit_key, park, replayed, retry_policy, settle_failure
from streams.sla_classes import SlaThresholds

log = logging.getLogger(__name__)

PAUSED_RECHECK_S = 30.0
"""A paused destination's deliveries wait in the retry tier that fits this, then look again."""
_DEFAULT_SLA = SlaThresholds()
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
        finished: DedupeStore,
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
        sla: SlaThresholds = _DEFAULT_SLA,
        built_in_types: frozenset[str] = frozenset(),
    ) -> None:
        self.kind = kind
        self._codec_for, self._config = deliveries, config
        self._finished, self._circuits, self._holds, self._writer = finished, circuits, holds, writer
        self._attempts = Attempts(
            kind=kind, config=config, circuits=circuits, call=call,
            attempt_deadline_s=attempt_deadline_s, rate_limit_wait_s=rate_limit_wait_s,
            clock=clock, monotonic=monotonic,
        )  # fmt: skip
        self._budgets = BatchBudgets(
            attempt=self._attempts.make, max_in_flight=max_in_flight, slow_for_s=attempt_deadline_s, clock=clock
        )
        self._out = SinkOutputs(kind=kind, deliveries=deliveries, outcomes=outcomes, topics=topics)
        self._policies: dict[str, tuple[Destination, RetryPolicy]] = {}
        # Metric children looked up once: ``labels()`` per delivery cost several per cent of the sink's CPU.
        self._counted = {outcome: SINK_DELIVERIES.labels(destination=kind, outcome=outcome) for outcome in _OUTCOMES}
        self._parked = SINK_PARKED.labels(destination=kind)
        self._timing = DeliveryTiming(kind, sla, built_in_types)
        self._clock, self._rand = clock, rand

    async def handle(self, batch: Sequence[Consumed]) -> None:
        await self._config.ready.wait()
        outputs: list[Output] = []
        to_call: list[Attempt] = []
        seen: set[str] = set()
        # Nothing waits between here and the calls: one reading of the clock serves the whole batch.
        now = self._clock()
        at = datetime.fromtimestamp(now, UTC)
        for record in batch:
            item = self._prepare(record, outputs, seen, now, at)
            if item is not None:
                to_call.append(item)
        await self._budgets.call(to_call)
        done: list[tuple[int, bytes]] = []
        now = self._clock()
        at = datetime.fromtimestamp(now, UTC)
        for item in to_call:
            self._settle(item, outputs, done, now, at)
        if await self._writer.write(outputs):
            raise FatalOutputError("Kafka refused a delivery outcome, retry or DLQ record")
        # With every outcome stored, the finished ids and circuit states may be made durable.
        state = [self._finished.remember(partition, key) for partition, key in done]
        state += self._circuits.changelog() + self._holds.changelog()
        if await self._writer.write(state):
            raise FatalOutputError("Kafka refused a sink changelog record")

    # -- before the calls --------------------------------------------------------------------

    def _prepare(
        self, record: Consumed, outputs: list[Output], seen: set[str], now: float, at: datetime
    ) -> Attempt | None:
        try:
            delivery = self._codec_for(record.origin.topic).decode(record.value)
        except PoisonMessageError as error:
            outputs.append(self._out.dead_letter(record, None, error, at, stage="sink.decode"))
            return None
        delivery_id = delivery["delivery_id"]
        if delivery_id in seen or self._finished.seen(delivery_id.encode()):
            # Delivered before its hold was cleared (a crash in between): clear it now.
            held = order_key(delivery["tenant_id"], self.kind, delivery["ordering_key"])
            self._holds.settle(record.origin.partition, held, delivery_id, None, now)
            self._counted["duplicate_skipped"].inc()
            outputs.append(self._out.outcome(delivery, None, "duplicate_skipped", delivery["attempt"], 0.0, at))
            return None
        seen.add(delivery_id)
        if header(record.headers, REPLAY) is not None:
            delivery = replayed(delivery)
        destination = self._config.destination_for(delivery["tenant_id"], delivery["route_id"], self.kind)
        if destination is None or destination.secret_unreadable:
            missing = PermanentDeliveryError(
                f"tenant has no enabled {self.kind} destination"
                if destination is None
                else f"the {self.kind} destination's secret cannot be opened with this CRMBUS_SECRET_KEY"
            )
            outputs.append(self._out.dead_letter(record, delivery, missing, at, stage="sink.destination"))
            outputs.append(
                self._out.outcome(delivery, destination, "dead_lettered", delivery["attempt"], 0.0, at, missing)
            )
            return None
        order: bytes | None = None
        if destination.config.get("ordered"):
            order = order_key(delivery["tenant_id"], self.kind, delivery["ordering_key"])
            hold = self._holds.ahead(order, delivery_id, now)
            # An earlier delivery of its order waits in a retry tier: go behind it. If that one
            # is back in this batch, this one follows it in the batch's queue instead.
            if hold is not None and hold.delivery_id not in seen:
                self._parked.inc()
                outputs.append(self._out.wait(record, delivery, *behind(hold)))
                return None
        if destination.paused:  # an operator's hold: no attempt, no fallback, until resumed
            self._parked.inc()
            outputs.append(self._park(record, delivery, destination, now + PAUSED_RECHECK_S, now, order))
            return None
        key = circuit_key(delivery["tenant_id"], self.kind)
        decision, state = circuit.allow(self._circuits.get(key), now, self._circuits.config)
        self._circuits.set(record.origin.partition, key, state)
        if not decision.allowed:
            via = self._attempts.fallback(record, delivery, destination, now)
            if via is not None:
                via.order = order
                return via
            self._parked.inc()
            outputs.append(self._park(record, delivery, destination, decision.retry_at or now + 5, now, order))
            return None
        return Attempt(record, delivery, destination, key, delivery["action"], order=order)

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
        self._holds.settle(
            record.origin.partition, order, delivery["delivery_id"], (parked.tier, parked.not_before), now
        )
        return self._out.wait(record, delivery, parked.tier, parked.not_before)

    def _policy(self, destination: Destination) -> RetryPolicy:
        """The destination's retry policy, read once per loaded destination (a reload brings a new object)."""
        known = self._policies.get(destination.id)
        if known is None or known[0] is not destination:
            policy, ignored = retry_policy(destination.config)
            if ignored is not None:
                log.warning("destination %s: retry config ignored: %s", destination.id, ignored)
            known = self._policies[destination.id] = (destination, policy)
        return known[1]

    # -- after the calls ---------------------------------------------------------------------

    def _settle(
        self, item: Attempt, outputs: list[Output], done: list[tuple[int, bytes]], now: float, at: datetime
    ) -> None:
        delivery, outcome, partition = item.delivery, item.outcome, item.record.origin.partition
        if item.parked_until is not None:
            self._parked.inc()
            outputs.append(self._park(item.record, delivery, item.destination, item.parked_until, now, item.order))
            return
        if item.held:  # behind the earlier delivery of its order that now waits (if none does: briefly)
            self._parked.inc()
            hold = self._holds.ahead(item.order or b"", delivery["delivery_id"], now)
            outputs.append(
                self._out.wait(item.record, delivery, *behind(hold))
                if hold is not None
                else self._park(item.record, delivery, item.destination, now, now, item.order)
            )
            return
        if isinstance(outcome, Delivered):
            self._holds.settle(partition, item.order, delivery["delivery_id"], None, now)
            done.append((partition, delivery["delivery_id"].encode()))
            self._counted["delivered_fallback" if item.fallback else "delivered"].inc()
            self._timing.delivered(delivery, item.destination.kind, now)
            attempt = delivery["attempt"] + 1  # outcomes count attempts from 1
            outputs.append(
                self._out.outcome(delivery, item.destination, "delivered", attempt, item.latency_ms, at, answer=outcome)
            )
            return
        assert isinstance(outcome, DeliveryError)
        failure = settle_failure(self._policy(item.destination), delivery, outcome, now=at, rand=self._rand())
        failed, verdict = failure.delivery, failure.verdict
        waiting = None if isinstance(verdict, DeadLetter) else (verdict.tier, verdict.not_before)
        self._holds.settle(partition, item.order, delivery["delivery_id"], waiting, now)
        if isinstance(verdict, DeadLetter):
            self._counted["dead_lettered"].inc()
            outputs.append(self._out.dead_letter(item.record, failed, outcome, at, stage=f"sink.{verdict.reason}"))
            label: Outcome = "dead_lettered"
        else:
            self._counted["retrying"].inc()
            outputs.append(self._out.wait(item.record, failed, verdict.tier, verdict.not_before))
            label = "retrying"
        outputs.append(
            self._out.outcome(failed, item.destination, label, failed["attempt"], item.latency_ms, at, outcome)
        )
