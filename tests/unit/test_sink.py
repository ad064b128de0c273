"""The sink's decisions for one batch, with the destination, the tables and Kafka faked."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from agents.circuit_book import CircuitBook
from agents.dedupe import DedupeStore
from agents.order_holds import OrderHolds
from agents.outputs import Output
from agents.records import Consumed
from agents.sink import Sink
from connectors.destinations import Delivered
from infra.db.endpoints import Destination
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams.circuit import CircuitConfig, CircuitState
from streams.dead_letter import ATTEMPTS, DELIVERY_ID, ERROR_MESSAGE, EVENT_ID, STAGE, STATUS_CODE, TENANT, Origin
from streams.errors import PermanentDeliveryError, TransientDeliveryError
from streams.sink_decisions import circuit_key

NOW = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
IDS = CatalogueSchemaIds()
DELIVERIES = AvroCodec(load_schema("delivery.v1.avsc"), "crmbus.deliver.crm-value", IDS)
OUTCOMES = AvroCodec(load_schema("delivery_outcome.v1.avsc"), "crmbus.deliveries-value", IDS)


class Table:
    def __init__(self):
        self.data = {}

    def get(self, key):
        return self.data.get(key)

    def put(self, partition, key, value):
        self.data[key] = value
        return Output("changelog", key, value, partition=partition)

    def delete(self, partition, key):
        self.data.pop(key, None)
        return Output("changelog", key, None, partition=partition)


class Config:
    def __init__(self, *destinations: Destination, fallback: Destination | None = None):
        self.ready = asyncio.Event()
        self.ready.set()
        self._destinations, self._fallback = destinations, fallback

    def destination_for(self, tenant_id, route_id, kind):
        return next((d for d in self._destinations if d.tenant_id == tenant_id and d.kind == kind), None)

    def fallback_for(self, destination):
        return self._fallback


class Writer:
    def __init__(self):
        self.written: list[Output] = []

    async def write(self, outputs):
        self.written.extend(outputs)
        return []


def crm(tenant: str = "acme", **config) -> Destination:
    return Destination(f"ep-crm-{tenant}", tenant, "crm", "crm", "https://crm.example.com.br", config, "token")


def delivery(n: int = 0, attempt: int = 0, tenant: str = "acme", ordering_key: str | None = None) -> Consumed:
    value = DELIVERIES.encode(
        {
            "delivery_id": f"d-{n}",
            "event_id": uuid.uuid4(),
            "tenant_id": tenant,
            "event_type": "lead.created",
            "destination": "crm",
            "route_id": "r-1",
            "action": "crm.upsert_lead",
            "payload": '{"name": "Maria"}',
            "attempt": attempt,
            "first_failure_at": NOW if attempt else None,
            "not_before": None,
            "correlation_id": None,
            "ordering_key": ordering_key,
        }
    )
    return Consumed(Origin("crmbus.deliver.crm", 2, 100 + n), tenant.encode(), value)


def sink(config: Config, answers, circuits: CircuitBook | None = None, **options) -> tuple[Sink, Writer, list[str]]:
    """A sink whose destination answers ``answers(delivery_id)`` (unless ``call`` is given), each call
    noted in the list returned."""
    writer, called = Writer(), []

    async def call(destination, delivery_id, action, payload):
        called.append(f"{destination.kind}:{action}:{delivery_id}")
        answer = answers(delivery_id)
        if isinstance(answer, Exception):
            raise answer
        return answer

    made = Sink(
        kind="crm",
        deliveries=lambda topic: DELIVERIES,
        outcomes=OUTCOMES,
        topics=TopicNames(""),
        config=config,
        finished=DedupeStore(Table(), ttl_s=86_400, clock=NOW.timestamp),
        circuits=circuits or CircuitBook(Table(), CircuitConfig()),
        writer=writer,
        clock=NOW.timestamp,
        rand=lambda: 0.5,
        **{"max_in_flight": 8, "holds": OrderHolds(Table()), "call": call, **options},
    )
    return made, writer, called


def topics(writer: Writer) -> list[str]:
    return [o.topic for o in writer.written if o.topic != "changelog"]


OK = Delivered(201, 12.0, '{"id": "lead_1"}')


def test_a_delivered_record_is_remembered_and_a_redelivery_calls_nobody():
    made, writer, called = sink(Config(crm()), lambda _: OK)
    asyncio.run(made.handle([delivery(1)]))
    asyncio.run(made.handle([delivery(1)]))
    assert called == ["crm:crm.upsert_lead:d-1"]
    outcomes = [OUTCOMES.decode(o.value)["outcome"] for o in writer.written if o.topic == "crmbus.deliveries"]
    assert outcomes == ["delivered", "duplicate_skipped"]


def test_a_destination_whose_secret_cannot_be_opened_dead_letters_its_deliveries_uncalled():
    sealed_elsewhere = Destination("ep-crm", "acme", "crm", "crm", "https://crm.example.com.br", {}, None, True)
    made, writer, called = sink(Config(sealed_elsewhere), lambda _: OK)
    asyncio.run(made.handle([delivery(1)]))
    assert called == []
    (letter,) = [o for o in writer.written if o.topic == "crmbus.dlq"]
    assert dict(letter.headers)[ERROR_MESSAGE].decode().endswith("cannot be opened with this CRMBUS_SECRET_KEY")


def test_a_paused_destination_is_not_called_its_deliveries_wait_in_a_retry_tier_without_an_attempt():
    paused = Destination("ep-crm", "acme", "crm", "crm", "https://crm.example.com.br", {}, "token", paused=True)
    made, writer, called = sink(Config(paused), lambda _: OK)
    asyncio.run(made.handle([delivery(1, attempt=1)]))
    assert called == []
    (waiting,) = [o for o in writer.written if o.topic != "changelog"]
    assert waiting.topic == "crmbus.retry.30s"
    record = DELIVERIES.decode(waiting.value)
    assert record["attempt"] == 1 and record["not_before"] >= NOW + timedelta(seconds=30)


def test_a_transient_failure_goes_to_the_retry_tier_its_attempt_calls_for():
    made, writer, _ = sink(Config(crm()), lambda _: TransientDeliveryError("503", status=503))
    asyncio.run(made.handle([delivery(1, attempt=2)]))
    (retry,) = [o for o in writer.written if o.topic.startswith("crmbus.retry.")]
    assert retry.topic == "crmbus.retry.2m"  # the third attempt failed: third tier
    record = DELIVERIES.decode(retry.value)
    assert record["attempt"] == 3 and record["first_failure_at"] == NOW and record["not_before"] > NOW


def test_a_permanent_failure_is_dead_lettered_with_its_status_and_attempts():
    made, writer, _ = sink(Config(crm()), lambda _: PermanentDeliveryError("400", status=400))
    record = delivery(1)
    asyncio.run(made.handle([record]))
    (letter,) = [o for o in writer.written if o.topic == "crmbus.dlq"]
    headers = dict(letter.headers)
    assert (headers[STAGE], headers[STATUS_CODE], headers[ATTEMPTS]) == (b"sink.permanent", b"400", b"1")
    assert (letter.key, letter.value) == (b"acme", record.value)  # the original bytes, untouched
    sent = DELIVERIES.decode(record.value)
    assert (headers[TENANT], headers[EVENT_ID], headers[DELIVERY_ID]) == (
        b"acme",
        str(sent["event_id"]).encode(),
        b"d-1",
    )  # the archive files the letter under them


def test_a_bad_retry_config_falls_back_to_the_defaults_instead_of_stopping_the_sink():
    made, writer, _ = sink(Config(crm(retry={"max_attempt": 3})), lambda _: TransientDeliveryError("503"))
    asyncio.run(made.handle([delivery(1)]))
    assert topics(writer) == ["crmbus.retry.5s", "crmbus.deliveries"]


def test_in_an_ordered_destination_a_failure_holds_the_later_deliveries_of_the_tenant_uncalled():
    answers = {"d-1": OK, "d-2": TransientDeliveryError("503"), "d-3": OK}
    made, writer, called = sink(Config(crm(ordered=True)), answers.__getitem__)
    asyncio.run(made.handle([delivery(1), delivery(2), delivery(3)]))
    assert called == ["crm:crm.upsert_lead:d-1", "crm:crm.upsert_lead:d-2"]
    retried = [DELIVERIES.decode(o.value) for o in writer.written if o.topic.startswith("crmbus.retry")]
    assert [(r["delivery_id"], r["attempt"]) for r in retried] == [("d-2", 1), ("d-3", 0)]  # d-3 spent nothing
    assert retried[0]["not_before"] == retried[1]["not_before"]  # and comes back right behind d-2


def test_an_open_circuit_parks_deliveries_without_calling_or_spending_an_attempt():
    circuits = CircuitBook(Table(), CircuitConfig(consecutive_failures=2))
    made, writer, called = sink(Config(crm()), lambda _: TransientDeliveryError("503"), circuits)
    asyncio.run(made.handle([delivery(1)]))
    asyncio.run(made.handle([delivery(2)]))
    writer.written.clear()
    asyncio.run(made.handle([delivery(3)]))
    assert called == ["crm:crm.upsert_lead:d-1", "crm:crm.upsert_lead:d-2"]
    (parked,) = writer.written
    assert parked.topic == "crmbus.retry.30s" and DELIVERIES.decode(parked.value)["attempt"] == 0


def test_a_delivery_parked_by_an_open_circuit_waits_in_a_tier_of_its_destinations_own_retry_policy():
    circuits = CircuitBook(Table(), CircuitConfig(consecutive_failures=1, open_s=30, max_open_s=30))  # opens for 30 s
    own_tiers = crm(retry={"tiers": ["5s", "2m", "10m"]})  # no 30 s tier: the 2 min one is the shortest to outlast it
    made, writer, called = sink(Config(own_tiers), lambda _: TransientDeliveryError("503"), circuits)
    asyncio.run(made.handle([delivery(1)]))
    writer.written.clear()
    asyncio.run(made.handle([delivery(2)]))
    assert called == ["crm:crm.upsert_lead:d-1"]
    (parked,) = writer.written
    record = DELIVERIES.decode(parked.value)
    assert parked.topic == "crmbus.retry.2m" and record["attempt"] == 0
    assert record["not_before"] == NOW + timedelta(seconds=30)  # when the circuit may let a call through


def test_a_circuit_that_opens_during_a_batch_parks_the_rest_in_a_tier_of_the_destinations_own_policy():
    circuits = CircuitBook(Table(), CircuitConfig(consecutive_failures=2))
    own_tiers = crm(retry={"tiers": ["5s", "2m"]})
    made, writer, called = sink(
        Config(own_tiers), lambda _: TransientDeliveryError("timed out"), circuits, max_in_flight=1
    )  # one call at a time, so the order is known
    asyncio.run(made.handle([delivery(n) for n in range(5)]))
    assert len(called) == 2
    assert topics(writer).count("crmbus.retry.2m") == 3


def test_while_the_circuit_is_open_a_text_goes_through_the_fallback_recorded_as_it():
    waha = Destination("ep-waha", "acme", "waha", "waha", "https://waha.example.com.br", {}, "key")
    circuits = CircuitBook(Table(), CircuitConfig(consecutive_failures=1))
    answers = {"d-1": TransientDeliveryError("503"), "d-2": OK}  # the crm fails; the fallback answers
    made, writer, called = sink(Config(crm(), fallback=waha), answers.__getitem__, circuits)
    asyncio.run(made.handle([delivery(1)]))
    text = Consumed(delivery(2).origin, b"acme", delivery(2).value)
    asyncio.run(made.handle([_as_text(text)]))
    assert called[-1] == "waha:waha.send_text:d-2"
    (outcome,) = [OUTCOMES.decode(o.value) for o in writer.written[-3:] if o.topic == "crmbus.deliveries"]
    assert (outcome["destination"], outcome["outcome"], outcome["endpoint_id"]) == ("waha", "delivered", "ep-waha")


def _as_text(record: Consumed, payload: str | None = None) -> Consumed:
    fields = DELIVERIES.decode(record.value)
    changed = {"action": "zapi.send_text", **({"payload": payload} if payload is not None else {})}
    return Consumed(record.origin, record.key, DELIVERIES.encode({**fields, **changed}))


class Chain(Config):
    """Destinations whose config ``fallback`` names the next, as the configuration cache reads them."""

    def __init__(self, first: Destination, *links: Destination):
        super().__init__(first)
        self._named = {link.name: link for link in (first, *links)}

    def fallback_for(self, destination):
        return self._named.get(destination.config.get("fallback"))


def link(kind: str, fallback: str | None = None, name: str | None = None, **config) -> Destination:
    config = {**config, **({"fallback": fallback} if fallback else {})}
    return Destination(f"ep-{kind}", "acme", name or kind, kind, f"https://{kind}.example.com.br", config, "key")


def open_circuit(circuits: CircuitBook, kind: str) -> None:
    circuits.set(2, circuit_key("acme", kind), CircuitState("open", opened_at=NOW.timestamp(), open_for_s=60))


TEXT = '{"phone": "5511987654321", "message": "Sua visita foi confirmada", "email": "ana@example.com.br"}'


def chain_sink(chain: Chain, *open_kinds: str):
    """A sink over ``chain`` whose first destination's circuit (and ``open_kinds``'s) are open."""
    circuits = CircuitBook(Table(), CircuitConfig())
    for kind in ("crm", *open_kinds):
        open_circuit(circuits, kind)
    payloads: list[dict] = []

    async def call(destination, delivery_id, action, payload):
        payloads.append(payload)
        return OK

    made, writer, _ = sink(chain, None, circuits, call=call)
    return made, writer, payloads


def test_with_the_fallbacks_circuit_open_too_a_text_goes_out_as_an_sms_of_the_next_in_the_chain():
    chain = Chain(crm(fallback="waha"), link("waha", "sms"), link("sms_twilio", name="sms"))
    made, writer, payloads = chain_sink(chain, "waha")

    asyncio.run(made.handle([_as_text(delivery(1), TEXT)]))

    assert payloads == [{"phone": "5511987654321", "message": "Sua visita foi confirmada"}]
    (outcome,) = [OUTCOMES.decode(o.value) for o in writer.written if o.topic == "crmbus.deliveries"]
    assert (outcome["destination"], outcome["outcome"]) == ("sms_twilio", "delivered")


def test_a_paused_fallback_is_passed_over_for_the_next_in_the_chain():
    paused = replace(link("waha", "sms"), paused=True)
    made, writer, payloads = chain_sink(Chain(crm(fallback="waha"), paused, link("sms_zenvia", name="sms")))

    asyncio.run(made.handle([_as_text(delivery(1), TEXT)]))

    assert payloads == [{"phone": "5511987654321", "message": "Sua visita foi confirmada"}]
    (outcome,) = [OUTCOMES.decode(o.value) for o in writer.written if o.topic == "crmbus.deliveries"]
    assert outcome["destination"] == "sms_zenvia"


def test_a_text_falls_back_to_the_email_destinations_fallback_template():
    chain = Chain(crm(fallback="email"), link("email", fallback_template="aviso_whatsapp"))
    made, _, payloads = chain_sink(chain)

    asyncio.run(made.handle([_as_text(delivery(1), TEXT)]))

    assert payloads == [
        {"to": "ana@example.com.br", "template": "aviso_whatsapp", "params": {"message": "Sua visita foi confirmada"}}
    ]


def test_a_text_whose_email_fallback_has_no_template_waits_for_its_own_circuit_uncalled():
    made, writer, payloads = chain_sink(Chain(crm(fallback="email"), link("email")))

    asyncio.run(made.handle([_as_text(delivery(1), TEXT)]))

    assert payloads == []
    assert [topic.startswith("crmbus.retry.") for topic in topics(writer)] == [True]


def test_a_chain_configured_in_a_loop_is_followed_once_round_and_then_waits():
    chain = Chain(crm(fallback="waha"), link("waha", "zapi"), link("zapi", "waha"))
    made, writer, payloads = chain_sink(chain, "waha", "zapi")

    asyncio.run(made.handle([_as_text(delivery(1), TEXT)]))

    assert payloads == []
    assert [topic.startswith("crmbus.retry.") for topic in topics(writer)] == [True]


def test_a_circuit_that_opens_during_a_batch_stops_the_calls_still_queued_in_it():
    circuits = CircuitBook(Table(), CircuitConfig(consecutive_failures=2))
    made, writer, called = sink(
        Config(crm()), lambda _: TransientDeliveryError("timed out"), circuits, max_in_flight=1
    )  # one call at a time, so the order is known
    asyncio.run(made.handle([delivery(n) for n in range(10)]))
    assert len(called) == 2
    parked = [o for o in writer.written if o.topic == "crmbus.retry.30s"]
    assert len(parked) == 8 and {DELIVERIES.decode(o.value)["attempt"] for o in parked} == {0}


def test_a_batch_calls_every_delivery_with_at_most_max_in_flight_calls_open_at_once():
    open_calls, most_open, called = 0, 0, []

    async def counting_call(destination, delivery_id, action, payload):
        nonlocal open_calls, most_open
        open_calls += 1
        most_open = max(most_open, open_calls)
        await asyncio.sleep(0)  # let the other callers in while this one is open
        called.append(f"{destination.kind}:{action}:{delivery_id}")
        open_calls -= 1
        return OK

    made, _, _ = sink(Config(crm()), None, call=counting_call)  # max_in_flight=8

    asyncio.run(made.handle([delivery(n) for n in range(50)]))

    assert sorted(called) == sorted(f"crm:crm.upsert_lead:d-{n}" for n in range(50))
    assert most_open == 8


# -- fairness: one tenant's slow or throttled destination ------------------------------------------


def records_in(writer: Writer, prefix: str) -> list[dict]:
    return [DELIVERIES.decode(o.value) for o in writer.written if o.topic.startswith(prefix)]


def test_a_slow_tenant_uses_only_its_share_of_the_calls_open_at_once_while_the_others_are_called():
    slow, fast = [delivery(n, tenant="slow") for n in range(20)], [delivery(100 + n, tenant="fast") for n in range(4)]
    fast_done, open_slow, most_open_slow, called = asyncio.Event(), 0, 0, []

    async def call(destination, delivery_id, action, payload):
        nonlocal open_slow, most_open_slow
        if destination.tenant_id == "slow":
            open_slow += 1
            most_open_slow = max(most_open_slow, open_slow)
            await fast_done.wait()  # the slow destination answers only once every fast one was called
            open_slow -= 1
        called.append(delivery_id)
        if sum(d.startswith("d-1") and len(d) == 5 for d in called) == 4:
            fast_done.set()
        return OK

    made, _, _ = sink(Config(crm("slow"), crm("fast")), None, max_in_flight=8, call=call)
    asyncio.run(made.handle(slow + fast))
    assert called[:4] == ["d-100", "d-101", "d-102", "d-103"]
    assert len(called) == 24
    assert most_open_slow == 4, "the slow tenant's share of 8 slots with one other tenant in the batch"


def test_a_call_past_the_attempt_deadline_is_retried_and_the_rest_of_its_destination_parked():
    slow, fast = [delivery(n, tenant="slow") for n in range(5)], [delivery(100 + n, tenant="fast") for n in range(3)]
    never, called = asyncio.Event(), []

    async def call(destination, delivery_id, action, payload):
        called.append(delivery_id)
        if destination.tenant_id == "slow":
            await never.wait()  # a destination that never answers
        return OK

    made, writer, _ = sink(
        Config(crm("slow"), crm("fast")), None, attempt_deadline_s=0.05, call=call, max_in_flight=1
    )  # one call at a time, so the order is known
    asyncio.run(made.handle(slow + fast))
    assert called == ["d-0", "d-100", "d-101", "d-102"]  # the slow one once, then only the fast ones
    waiting = {r["delivery_id"]: r for r in records_in(writer, "crmbus.retry.5s")}
    assert (waiting.pop("d-0")["attempt"], len(waiting)) == (1, 4)  # the abandoned call counts as an attempt
    assert {(r["attempt"], r["not_before"]) for r in waiting.values()} == {(0, NOW + timedelta(seconds=0.05))}
    outcomes = [OUTCOMES.decode(o.value) for o in writer.written if o.topic == "crmbus.deliveries"]
    assert sorted((o["delivery_id"], o["outcome"]) for o in outcomes) == [
        ("d-0", "retrying"), ("d-100", "delivered"), ("d-101", "delivered"), ("d-102", "delivered")
    ]  # fmt: skip


def test_a_throttled_destination_parks_what_it_cannot_take_soon_without_spending_an_attempt():
    limited = crm(rate_limit={"per_s": 0.5, "burst": 2})
    made, writer, called = sink(
        Config(limited), lambda _: OK, rate_limit_wait_s=1.0, monotonic=lambda: 0.0, max_in_flight=1
    )  # one call at a time, so the order is known
    asyncio.run(made.handle([delivery(n) for n in range(4)]))
    assert called == ["crm:crm.upsert_lead:d-0", "crm:crm.upsert_lead:d-1"]  # the burst; the next token is 2 s off
    parked = records_in(writer, "crmbus.retry.")
    assert [(r["delivery_id"], r["attempt"]) for r in parked] == [("d-2", 0), ("d-3", 0)]
    assert {r["not_before"] for r in parked} == {NOW + timedelta(seconds=2)}


def test_a_short_wait_for_a_rate_limit_token_is_waited_out_in_the_batch():
    limited = crm(rate_limit={"per_s": 1000, "burst": 1})
    made, writer, called = sink(Config(limited), lambda _: OK, rate_limit_wait_s=1.0)
    asyncio.run(made.handle([delivery(n) for n in range(3)]))
    assert len(called) == 3 and records_in(writer, "crmbus.retry.") == []
