"""The router: each event in, its fan-out out — deliveries, delayed actions, public copy — and
its decision (routed, no route, deduplicated) on ``crmbus.deliveries`` for ``GET /v1/events/{id}``.

One call handles one batch. Decisions are ``streams``' pure functions (``fan_out``, the dedupe
key, the DLQ headers); this module only decodes, writes and remembers. The order is what makes
it safe: outputs are written and acknowledged first, then the idempotency keys are remembered,
then (in the agent) the inputs are acknowledged. A crash anywhere in between re-reads the
inputs and writes their outputs again with the same delivery ids: duplicates the sinks absorb,
never a loss.

Keys: DLQ records keep the input record's key (by tenant, or by tenant and entity:
``streams.partitioning``), so a replay takes the entity's partition again. Everything else is
keyed by tenant under both partitionings. Deliveries, delayed ones included: the sinks keep a
circuit, a rate limit and the order holds per (tenant, destination) in one process only if all
of a tenant's deliveries to a destination share a partition. Public copies: their topics are
keyed by tenant id, a contract with their consumers. Each entity's records still arrive in order,
since one router at a time routes that entity, writing its outputs in order.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from agents.config_cache import ConfigCache
from agents.dedupe import DedupeStore, dedupe_key
from agents.delivery_records import DeliveryEncoder
from agents.outputs import FatalOutputError, Output, OutputWriter, Refused, dead_letter
from agents.records import Consumed
from infra.core.live_catalogue import LiveCatalogue
from infra.core.metrics import DEAD_LETTERS, LANE_WAIT, ROUTER_BATCH, ROUTER_EVENTS, ROUTER_OUTPUTS
from schemas.codec import AvroCodec
from schemas.public_topics import PublicEncoder
from schemas.topic_names import TopicNames
from streams.dead_letter import REDELIVER, REPLAY, ROUTE_ID, dead_letter_headers, header
from streams.envelope import Envelope
from streams.errors import PoisonMessageError, SchemaMismatchError
from streams.event_catalogue import EventCatalogue
from streams.event_status import Decision, decision_record
from streams.partitioning import keyed_entity
from streams.routes import delivery_id, fan_out


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _UnknownType(Exception):
    """An envelope's type is not in the catalogue this process holds (yet)."""


class Router:
    def __init__(
        self,
        *,
        lane: str,
        envelopes: AvroCodec,
        deliveries: DeliveryEncoder,
        decisions: AvroCodec,
        public: PublicEncoder,
        topics: TopicNames,
        routes: ConfigCache,
        types: LiveCatalogue,
        dedupe: DedupeStore,
        writer: OutputWriter,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._lane, self._envelopes, self._deliveries, self._decisions = lane, envelopes, deliveries, decisions
        self._topics, self._routes, self._dedupe, self._writer = topics, routes, dedupe, writer
        self._public, self._types = public, types
        self._clock = clock
        self._lane_wait = LANE_WAIT.labels(lane=lane)
        self._waits: list[float] = []  # this batch's events' seconds in the lane (replays left out)

    async def handle(self, batch: Sequence[Consumed]) -> None:
        """Route ``batch``; returns once every output is acknowledged and every key remembered."""
        started = time.monotonic()
        await self._routes.ready.wait()
        now = self._clock()
        try:
            outputs, owners, remember, outcomes = self._route_all(batch, now, final=False)
        except _UnknownType:
            # Maybe a type registered a moment ago, which the ingress saw first: look again,
            # then route the whole batch anew (nothing was written yet), in its order.
            await self._types.refresh_for_unknown(at_most_every_s=0.0)
            outputs, owners, remember, outcomes = self._route_all(batch, now, final=True)
        refused = await self._writer.write(outputs)
        if refused:
            await self._dead_letter_refused(batch, outputs, owners, refused)
        # Only now, with every output acknowledged, may the keys be remembered (and made durable).
        if await self._writer.write([self._dedupe.remember(partition, key) for partition, key in remember]):
            raise FatalOutputError("Kafka refused a dedupe changelog record")
        for outcome, count in outcomes.items():  # one metric update per kind and batch, not per record
            if outcome.startswith("out:"):
                ROUTER_OUTPUTS.labels(kind=outcome[4:]).inc(count)
            elif outcome.startswith("dlq:"):
                _, stage, error_class = outcome.split(":")
                DEAD_LETTERS.labels(stage=stage, error_class=error_class).inc(count)
                ROUTER_OUTPUTS.labels(kind="dlq").inc(count)
            else:
                ROUTER_EVENTS.labels(lane=self._lane, outcome=outcome).inc(count)
        for wait in self._waits:
            self._lane_wait.observe(wait)
        ROUTER_BATCH.observe(time.monotonic() - started)

    def _route_all(
        self, batch: Sequence[Consumed], now: datetime, *, final: bool
    ) -> tuple[list[Output], list[int], list[tuple[int, bytes]], Counter[str]]:
        """Every output of ``batch``, the input each belongs to, the keys to remember and the
        outcomes to count. Not ``final``: raises ``_UnknownType`` at a type not in the catalogue."""
        outputs: list[Output] = []
        owners: list[int] = []  # index in batch of the input each output belongs to
        remember: list[tuple[int, bytes]] = []
        outcomes: Counter[str] = Counter()
        in_batch: set[bytes] = set()
        catalogue = self._types.current
        self._waits = []
        for index, record in enumerate(batch):
            produced = self._route_one(record, now, in_batch, remember, outcomes, catalogue, final)
            outputs.extend(produced)
            owners.extend([index] * len(produced))
        return outputs, owners, remember, outcomes

    def _route_one(
        self,
        record: Consumed,
        now: datetime,
        in_batch: set[bytes],
        remember: list[tuple[int, bytes]],
        outcomes: Counter[str],
        catalogue: EventCatalogue,
        final: bool,
    ) -> list[Output]:
        try:
            envelope = Envelope.from_record(self._envelopes.decode(record.value))
        except PoisonMessageError as error:
            outcomes["dead_lettered"] += 1
            return [self._dead_letter(record, error, "router.decode", outcomes=outcomes)]
        event_type = catalogue.get(envelope.tenant_id, envelope.type, envelope.schema_version)
        if event_type is None:
            if not final:
                raise _UnknownType
            # No route can match it: say so, do not drop it unseen.
            outcomes["dead_lettered"] += 1
            unknown = SchemaMismatchError("event type unknown to crmbus")
            return [self._dead_letter(record, unknown, "router.type", outcomes=outcomes, envelope=envelope)]
        replay = header(record.headers, REPLAY) is not None
        if not replay:
            self._waits.append(max(0.0, (now - envelope.received_at).total_seconds()))
        entity = keyed_entity(envelope.tenant_id, envelope.ordering_key, record.key)
        key = dedupe_key(envelope.tenant_id, envelope.dedupe_key, entity)
        if not replay and (key in in_batch or self._dedupe.seen(key)):
            outcomes["duplicate"] += 1
            outcomes["out:decision"] += 1
            return [self._decision(envelope, "deduplicated", now)]
        in_batch.add(key)
        remember.append((record.origin.partition, key))
        routes = self._routes.book.routes_for(envelope.tenant_id, envelope.type)
        only_route = header(record.headers, ROUTE_ID) if replay else None
        if only_route is not None:
            routes = tuple(route for route in routes if route.id == only_route)
        plan = fan_out(envelope, routes, header(record.headers, REDELIVER) if replay else None)
        outputs: list[Output] = []
        by_tenant = envelope.tenant_id.encode()
        for planned in plan.deliveries:
            later = planned.not_before is not None and planned.not_before > now
            topic = self._topics.scheduled if later else self._topics.deliver(planned.route.destination)
            outputs.append(Output(topic, by_tenant, self._deliveries.encode(topic, envelope, planned)))
            outcomes["out:scheduled" if later else "out:deliver"] += 1
        for failure in plan.failures:
            outputs.append(
                self._dead_letter(
                    record,
                    failure.error,
                    "router.mapping",
                    route_id=failure.route.id,
                    destination=failure.route.destination,
                    outcomes=outcomes,
                    envelope=envelope,
                )
            )
        if only_route is None:  # the public copy; a replay of one route does not repeat it
            try:
                public = self._public.encode(envelope, event_type, record.value or b"")
            except SchemaMismatchError as error:
                outputs.append(self._dead_letter(record, error, "router.public", outcomes=outcomes, envelope=envelope))
            else:
                if public is not None:
                    outputs.append(Output(public.topic, by_tenant, public.value))
                    outcomes["out:public"] += 1
        if only_route is None:  # a replay of one route decides nothing new about the event
            decided: Decision = "routed" if plan.deliveries or plan.failures else "no_route"
            outputs.append(self._decision(envelope, decided, now, len(plan.deliveries), len(plan.failures)))
            outcomes["out:decision"] += 1
        outcomes["dead_lettered" if plan.failures else "routed" if plan.deliveries else "unrouted"] += 1
        return outputs

    def _decision(
        self, envelope: Envelope, decision: Decision, now: datetime, planned: int = 0, failed: int = 0
    ) -> Output:
        value = decision_record(
            event_id=envelope.event_id, tenant_id=envelope.tenant_id, event_type=envelope.type,
            decision=decision, planned=planned, failed_routes=failed, at=now,
        )  # fmt: skip
        # Keyed by tenant, like the sinks' outcomes on the same topic.
        return Output(self._topics.deliveries, envelope.tenant_id.encode(), self._decisions.encode(value))

    def _dead_letter(
        self,
        record: Consumed,
        error: BaseException,
        stage: str,
        route_id: str | None = None,
        destination: str | None = None,
        outcomes: Counter[str] | None = None,
        envelope: Envelope | None = None,
    ) -> Output:
        """A DLQ record of ``record``; counted in ``outcomes`` when given, else in the metrics now.
        With its decoded ``envelope`` the record's headers also name its tenant, event and (for a
        route's failure) the delivery's deterministic id."""
        if outcomes is not None:
            outcomes[f"dlq:{stage}:{type(error).__name__}"] += 1
        else:
            DEAD_LETTERS.labels(stage=stage, error_class=type(error).__name__).inc()
            ROUTER_OUTPUTS.labels(kind="dlq").inc()
        headers = dead_letter_headers(
            record.origin, error, self._clock(), stage=stage, route_id=route_id, destination=destination,
            tenant_id=envelope.tenant_id if envelope is not None else None,
            event_id=envelope.event_id if envelope is not None else None,
            delivery_id=delivery_id(envelope.event_id, route_id) if envelope is not None and route_id else None,
        )  # fmt: skip
        return dead_letter(self._topics.dlq, record, headers)

    async def _dead_letter_refused(
        self, batch: Sequence[Consumed], outputs: Sequence[Output], owners: Sequence[int], refused: Sequence[Refused]
    ) -> None:
        """An input with an output Kafka refused for good goes to the DLQ whole (its other outputs
        may be out already: a replay repeats them under the same delivery ids). If the DLQ itself
        refuses, the worker must stop without acknowledging."""
        owner_of = {id(output): index for output, index in zip(outputs, owners, strict=True)}
        letters: dict[int, Output] = {}
        for item in refused:
            if item.output.topic == self._topics.dlq:
                raise FatalOutputError(f"the DLQ refused a record: {item.error.code}")
            index = owner_of[id(item.output)]
            letters.setdefault(index, self._dead_letter(batch[index], item.error, "router.produce"))
        if await self._writer.write(list(letters.values())):
            raise FatalOutputError("the DLQ refused a record")
