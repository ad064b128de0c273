"""The retry policy: which tier a failed delivery waits in, until when, and when it is dead-lettered."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import DeliveryError, InvalidRouteError, PermanentDeliveryError, TransientDeliveryError
from streams.retry_policy import TIERS, DeadLetter, Retry, RetryPolicy, Tier, decide, tier_named

T0 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
MIDDLE = 0.5  # the draw that leaves the delay unjittered
NO_JITTER = RetryPolicy(jitter=0)


def transient(retry_after_s: float | None = None) -> TransientDeliveryError:
    return TransientDeliveryError("503 from destination", status=503, retry_after_s=retry_after_s)


def test_each_attempt_waits_in_the_next_tier_and_the_last_tier_repeats():
    outcomes = [
        decide(NO_JITTER, attempt=n, first_failure_at=T0, now=T0, error=transient(), rand=MIDDLE) for n in range(1, 8)
    ]
    assert [o.tier.name for o in outcomes if isinstance(o, Retry)] == ["5s", "30s", "2m", "10m", "1h", "6h", "6h"]
    assert outcomes[2] == Retry(Tier("2m", 120), T0 + timedelta(minutes=2))


def test_a_permanent_error_goes_straight_to_the_dlq():
    error = PermanentDeliveryError("400 from destination", status=400)
    assert decide(RetryPolicy(), attempt=1, first_failure_at=T0, now=T0, error=error, rand=0.3) == DeadLetter(
        "permanent"
    )


def test_an_error_no_connector_classified_is_not_retried():
    error = DeliveryError("unclassified")
    assert decide(RetryPolicy(), attempt=1, first_failure_at=T0, now=T0, error=error, rand=0.3).reason == "permanent"


def test_max_attempts_counts_the_first_attempt_too():
    policy = RetryPolicy(max_attempts=3)
    assert isinstance(decide(policy, attempt=2, first_failure_at=T0, now=T0, error=transient(), rand=0.3), Retry)
    assert decide(policy, attempt=3, first_failure_at=T0, now=T0, error=transient(), rand=0.3) == DeadLetter(
        "attempts_exhausted"
    )


def test_a_retry_that_would_fall_after_the_maximum_age_is_dead_lettered():
    policy = RetryPolicy(max_age_s=3_600, jitter=0)
    just_in = T0 + timedelta(minutes=58)  # 58 min + 2 min wait = exactly the maximum age
    assert isinstance(decide(policy, attempt=3, first_failure_at=T0, now=just_in, error=transient(), rand=0.5), Retry)
    too_late = just_in + timedelta(seconds=1)
    assert decide(policy, attempt=3, first_failure_at=T0, now=too_late, error=transient(), rand=0.5) == DeadLetter(
        "too_old"
    )


def test_jitter_spreads_the_wait_over_plus_or_minus_its_fraction_without_changing_the_tier():
    lowest = decide(RetryPolicy(), attempt=2, first_failure_at=T0, now=T0, error=transient(), rand=0.0)
    highest = decide(RetryPolicy(), attempt=2, first_failure_at=T0, now=T0, error=transient(), rand=1.0)
    assert lowest == Retry(Tier("30s", 30), T0 + timedelta(seconds=24))
    assert highest == Retry(Tier("30s", 30), T0 + timedelta(seconds=36))


def test_retry_after_sets_the_earliest_time_and_picks_a_tier_at_least_that_long():
    outcome = decide(RetryPolicy(), attempt=1, first_failure_at=T0, now=T0, error=transient(retry_after_s=90), rand=0.0)
    assert outcome == Retry(Tier("2m", 120), T0 + timedelta(seconds=90))


def test_a_retry_after_shorter_than_the_tier_changes_nothing():
    outcome = decide(NO_JITTER, attempt=3, first_failure_at=T0, now=T0, error=transient(retry_after_s=10), rand=0.5)
    assert outcome == Retry(Tier("2m", 120), T0 + timedelta(minutes=2))


def test_retry_after_is_capped():
    policy = RetryPolicy(retry_after_cap_s=600)
    outcome = decide(policy, attempt=1, first_failure_at=T0, now=T0, error=transient(retry_after_s=86_400), rand=0.0)
    assert outcome == Retry(Tier("10m", 600), T0 + timedelta(minutes=10))


def test_retry_after_is_honoured_no_longer_than_the_longest_tier_of_the_policy():
    policy = RetryPolicy.from_config({"tiers": ["5s", "30s"]})
    outcome = decide(policy, attempt=1, first_failure_at=T0, now=T0, error=transient(retry_after_s=3_600), rand=0.5)
    assert outcome == Retry(Tier("30s", 30), T0 + timedelta(seconds=30))


@given(
    attempt=st.integers(1, 7),
    rand=st.floats(0, 1),
    retry_after_s=st.none() | st.floats(-10, 100_000),
)
def test_a_record_never_waits_longer_than_its_tier_allows_nor_less_than_retry_after(attempt, rand, retry_after_s):
    policy = RetryPolicy()
    outcome = decide(policy, attempt=attempt, first_failure_at=T0, now=T0, error=transient(retry_after_s), rand=rand)
    assert isinstance(outcome, Retry)
    wait = (outcome.not_before - T0).total_seconds()
    assert wait <= outcome.tier.delay_s * (1 + policy.jitter) + 1e-6
    assert wait >= min(retry_after_s or 0, policy.retry_after_cap_s) - 1e-6
    shorter = [t for t in policy.tiers if t.delay_s < outcome.tier.delay_s]
    assert all(t.delay_s < wait for t in shorter), "a shorter tier would hold the record up at its head"


def test_the_same_inputs_give_the_same_decision():
    args = {"attempt": 2, "first_failure_at": T0, "now": T0, "error": transient(), "rand": 0.37}
    assert decide(RetryPolicy(), **args) == decide(RetryPolicy(), **args)


def test_attempts_count_from_one_and_the_draw_is_from_zero_to_one():
    with pytest.raises(ValueError, match="from 1"):
        decide(RetryPolicy(), attempt=0, first_failure_at=T0, now=T0, error=transient(), rand=0.5)
    with pytest.raises(ValueError, match="rand"):
        decide(RetryPolicy(), attempt=1, first_failure_at=T0, now=T0, error=transient(), rand=1.5)


def test_config_sets_the_fields_it_names_and_keeps_the_defaults_of_the_others():
    policy = RetryPolicy.from_config({"max_attempts": 5, "max_age_s": 3600, "tiers": ["5s", "30s"]})
    assert policy == RetryPolicy(tiers=(Tier("5s", 5), Tier("30s", 30)), max_attempts=5, max_age_s=3600)


def test_a_route_config_refines_its_destination_config():
    destination = RetryPolicy.from_config({"max_attempts": 3, "jitter": 0})
    route = RetryPolicy.from_config({"max_attempts": 5}, base=destination)
    assert (route.max_attempts, route.jitter) == (5, 0)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"max_attempt": 5}, "max_attempt"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"max_age_s": "1h"}, "max_age_s"),
        ({"max_age_s": 0}, "max_age_s"),
        ({"jitter": 1}, "jitter"),
        ({"retry_after_cap_s": -1}, "retry_after_cap_s"),
        ({"tiers": "5s"}, "tiers"),
        ({"tiers": []}, "tiers"),
        ({"tiers": ["5s", "7s"]}, "tiers[1]"),
        ({"tiers": ["5s", ["30s"]]}, "tiers[1]"),
        ({"tiers": ["30s", "5s"]}, "tiers[1]"),
        ({"tiers": ["5s", "5s"]}, "tiers[1]"),
    ],
)
def test_an_invalid_config_is_refused_naming_the_field(config, field):
    with pytest.raises(InvalidRouteError, match="^" + re.escape(field) + ": ") as raised:
        RetryPolicy.from_config(config)
    assert raised.value.field == field


def test_every_tier_is_found_by_its_name():
    assert [tier_named(tier.name) for tier in TIERS] == list(TIERS)


def test_a_name_no_tier_has_is_refused_naming_the_tiers():
    with pytest.raises(ValueError, match="'7s' is not a retry tier; use 5s, 30s"):
        tier_named("7s")
