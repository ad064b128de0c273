"""The sink's decisions: park, fall back, settle a failure with the destination's own policy, and
the outcome record of an attempt."""

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from connectors.destinations import Delivered
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.codec import AvroCodec
from streams.circuit import CircuitState
from streams.errors import PermanentDeliveryError, TransientDeliveryError
from streams.retry_policy import TIERS, DeadLetter, Retry, RetryPolicy, Tier
from streams.sink_decisions import (
    MAX_FALLBACKS,
    circuit_key,
    circuit_kind,
    fallback_chain,
    in_flight_budgets,
    open_until,
    outcome_record,
    park,
    replayed,
    retry_policy,
    says_healthy,
    settle_failure,
)

T0 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
NOW = T0.timestamp()
MIDDLE = 0.5  # the draw that leaves a delay unjittered
TIER = {tier.name: tier for tier in TIERS}


def policy(*tiers: str, **fields) -> RetryPolicy:
    return RetryPolicy(tiers=tuple(TIER[name] for name in tiers) if tiers else TIERS, **fields)


def delivery(attempt: int = 0, first_failure_at: datetime | None = None) -> dict:
    return {
        "delivery_id": "d-1",
        "event_id": uuid.UUID(int=1),
        "tenant_id": "acme",
        "event_type": "lead.created",
        "destination": "zapi",
        "route_id": "r-1",
        "action": "zapi.send_text",
        "payload": "{}",
        "attempt": attempt,
        "first_failure_at": first_failure_at,
        "not_before": None,
        "correlation_id": None,
        "ordering_key": None,
    }


# -- circuits --------------------------------------------------------------------------------


def test_each_tenant_has_its_own_circuit_per_destination_kind():
    assert circuit_key("acme", "zapi") != circuit_key("globex", "zapi")
    assert circuit_key("acme", "zapi") != circuit_key("acme", "waha")
    assert circuit_kind(circuit_key("acme", "zapi")) == "zapi"


def test_an_open_circuit_lets_no_call_through_until_its_opening_ends():
    assert open_until(CircuitState("open", opened_at=NOW, open_for_s=30.0)) == NOW + 30


def test_a_closed_or_half_open_circuit_is_not_open():
    assert open_until(CircuitState()) is None
    assert open_until(CircuitState("half_open", opened_at=NOW, open_for_s=30.0)) is None


def test_only_a_transient_failure_counts_against_a_destinations_circuit():
    assert not says_healthy(TransientDeliveryError("503", status=503))
    assert says_healthy(PermanentDeliveryError("400", status=400))  # an answer, however unwelcome
    assert says_healthy(Delivered(201, 12.0, "{}"))


def test_a_replayed_delivery_starts_its_attempts_afresh_untimed_against_its_sla():
    tired = delivery(attempt=7, first_failure_at=T0)
    assert replayed(tired) == {**tired, "attempt": 0, "first_failure_at": None, "ready_at": None}
    assert tired["attempt"] == 7  # the record read is left as it was


# -- in-flight budgets -------------------------------------------------------------------------


def test_tenants_in_a_batch_share_the_calls_open_at_once_evenly():
    assert in_flight_budgets({"acme": 100, "globex": 100}, 8) == {"acme": 4, "globex": 4}


def test_what_one_tenant_cannot_use_goes_to_the_others():
    assert in_flight_budgets({"acme": 100, "globex": 1, "initech": 2}, 8) == {"acme": 5, "globex": 1, "initech": 2}


def test_a_tenant_alone_in_a_batch_may_use_every_slot():
    assert in_flight_budgets({"acme": 100}, 8) == {"acme": 8}


def test_no_tenant_gets_more_slots_than_it_has_deliveries():
    assert in_flight_budgets({"acme": 3}, 8) == {"acme": 3}


def test_with_more_tenants_than_slots_each_still_gets_one():
    budgets = in_flight_budgets({f"t{n}": 5 for n in range(12)}, 8)
    assert set(budgets.values()) == {1}


@given(st.dictionaries(st.text(max_size=3), st.integers(0, 200), max_size=20), st.integers(1, 128))
def test_budgets_stay_within_the_total_and_within_each_tenants_need(demand, total):
    budgets = in_flight_budgets(demand, total)
    wanting = [key for key, wanted in demand.items() if wanted > 0]
    assert all(1 <= budgets[key] <= demand[key] for key in wanting)
    assert all(budgets[key] == 0 for key in demand if key not in wanting)
    assert sum(budgets.values()) <= max(total, len(wanting))
    if len(wanting) <= total:
        assert sum(budgets.values()) == min(total, sum(demand.values())), "no slot left idle that someone needs"


# -- park ------------------------------------------------------------------------------------


def test_a_parked_delivery_waits_in_the_shortest_tier_of_its_destinations_policy_that_outlasts_the_circuit():
    parked = park(policy("5s", "2m", "10m"), reopens_at=NOW + 30, now=NOW)
    assert (parked.tier, parked.not_before) == (Tier("2m", 120), T0 + timedelta(seconds=30))


def test_with_the_default_policy_a_30_second_opening_parks_in_the_30_second_tier():
    assert park(RetryPolicy(), reopens_at=NOW + 30, now=NOW).tier == Tier("30s", 30)


def test_a_wait_longer_than_the_policys_longest_tier_is_cut_to_that_tier():
    parked = park(policy("5s", "30s"), reopens_at=NOW + 300, now=NOW)
    assert (parked.tier, parked.not_before) == (Tier("30s", 30), T0 + timedelta(seconds=30))


def test_a_circuit_that_may_already_let_calls_through_parks_in_the_shortest_tier_until_then():
    parked = park(policy("30s", "2m"), reopens_at=NOW - 1, now=NOW)
    assert (parked.tier, parked.not_before) == (Tier("30s", 30), T0 - timedelta(seconds=1))


# -- fall back -------------------------------------------------------------------------------


def follow(links: dict[str, str]):
    return lambda name: links.get(name)


def test_the_fallback_chain_follows_each_destinations_fallback_in_order():
    assert fallback_chain("zapi", follow({"zapi": "waha", "waha": "sms"}), str) == ["waha", "sms"]


def test_a_destination_without_a_fallback_has_an_empty_chain():
    assert fallback_chain("zapi", follow({}), str) == []


def test_a_chain_configured_in_a_loop_ends_before_the_first_destination_met_again():
    assert fallback_chain("zapi", follow({"zapi": "waha", "waha": "zapi"}), str) == ["waha"]
    assert fallback_chain("zapi", follow({"zapi": "waha", "waha": "sms", "sms": "waha"}), str) == ["waha", "sms"]


def test_a_chain_is_at_most_max_fallbacks_long():
    links = {str(n): str(n + 1) for n in range(10)}
    assert fallback_chain("0", follow(links), str) == [str(n) for n in range(1, MAX_FALLBACKS + 1)]


# -- the destination's retry policy ----------------------------------------------------------


def test_a_destination_retries_as_its_own_retry_config_says():
    assert retry_policy({"retry": {"max_attempts": 3, "tiers": ["30s", "1h"]}}) == (
        policy("30s", "1h", max_attempts=3),
        None,
    )


def test_a_destination_without_a_retry_config_retries_with_the_defaults():
    assert retry_policy({"ordered": True}) == (RetryPolicy(), None)


def test_an_invalid_retry_config_gives_the_defaults_and_says_why():
    chosen, ignored = retry_policy({"retry": {"max_attempt": 3}})
    assert chosen == RetryPolicy()
    assert ignored is not None and ignored.startswith("max_attempt: not a retry setting")


def test_a_retry_config_that_is_not_a_mapping_gives_the_defaults():
    chosen, ignored = retry_policy({"retry": 5})
    assert chosen == RetryPolicy() and ignored is not None


# -- settle a failure ------------------------------------------------------------------------


def test_a_first_failure_counts_the_attempt_and_starts_the_age_clock_now():
    failure = settle_failure(RetryPolicy(), delivery(), TransientDeliveryError("503"), now=T0, rand=MIDDLE)
    assert failure.verdict == Retry(Tier("5s", 5), T0 + timedelta(seconds=5))
    assert (failure.delivery["attempt"], failure.delivery["first_failure_at"]) == (1, T0)


def test_a_later_failure_keeps_the_time_of_the_first():
    first = T0 - timedelta(hours=1)
    failure = settle_failure(RetryPolicy(), delivery(2, first), TransientDeliveryError("503"), now=T0, rand=MIDDLE)
    assert failure.verdict == Retry(Tier("2m", 120), T0 + timedelta(minutes=2))  # the third attempt: third tier
    assert (failure.delivery["attempt"], failure.delivery["first_failure_at"]) == (3, first)


def test_a_failure_is_judged_by_the_destinations_own_policy():
    error = TransientDeliveryError("503")
    assert isinstance(settle_failure(RetryPolicy(), delivery(1, T0), error, now=T0, rand=MIDDLE).verdict, Retry)
    stingy = policy(max_attempts=2)
    assert settle_failure(stingy, delivery(1, T0), error, now=T0, rand=MIDDLE).verdict == DeadLetter(
        "attempts_exhausted"
    )


def test_a_permanent_failure_is_dead_lettered_at_once_with_its_attempt_counted():
    failure = settle_failure(RetryPolicy(), delivery(), PermanentDeliveryError("400", status=400), now=T0, rand=0.3)
    assert failure.verdict == DeadLetter("permanent")
    assert failure.delivery["attempt"] == 1


def test_settling_leaves_the_delivery_as_it_was_consumed():
    consumed = delivery()
    settle_failure(RetryPolicy(), consumed, TransientDeliveryError("503"), now=T0, rand=MIDDLE)
    assert consumed == delivery()


# -- the outcome record ----------------------------------------------------------------------

OUTCOMES = AvroCodec(load_schema("delivery_outcome.v1.avsc"), "crmbus.deliveries-value", CatalogueSchemaIds())


def test_a_delivered_outcome_names_the_destination_called_and_keeps_its_answer_redacted():
    record = outcome_record(
        delivery(),
        "delivered",
        destination="waha",
        endpoint_id="ep-waha",
        attempt=1,
        latency_ms=12.5,
        at=T0,
        status=201,
        response='{"to": "maria@example.com"}',
    )
    assert (record["destination"], record["endpoint_id"], record["attempt"]) == ("waha", "ep-waha", 1)
    assert (record["status_code"], record["error_class"]) == (201, None)
    assert record["response_excerpt"] == '{"to": "[email]"}'


def test_a_failed_outcome_records_the_errors_class_and_status_and_no_answer():
    error = TransientDeliveryError("503", status=503)
    record = outcome_record(
        delivery(1, T0), "retrying", destination="zapi", endpoint_id="ep-zapi", attempt=1, latency_ms=3.0, at=T0,
        error=error,
    )  # fmt: skip
    assert (record["outcome"], record["status_code"], record["error_class"]) == (
        "retrying",
        503,
        "TransientDeliveryError",
    )
    assert record["response_excerpt"] is None


def test_an_outcome_record_is_a_valid_delivery_outcome():
    record = outcome_record(
        delivery(), "duplicate_skipped", destination="zapi", endpoint_id=None, attempt=0, latency_ms=0.0, at=T0
    )
    assert OUTCOMES.decode(OUTCOMES.encode(record)) == record
