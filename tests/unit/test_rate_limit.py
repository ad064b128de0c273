import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.rate_limit import Limit, RateLimiter, Reservation, TokenBucket


def test_a_full_bucket_allows_its_burst_then_refuses():
    limiter = RateLimiter(Limit(rate=10, burst=5))
    decisions = [limiter.take("acme", now=0.0) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[4].remaining == 0


def test_a_refusal_says_how_long_to_wait_and_waiting_that_long_is_enough():
    limiter = RateLimiter(Limit(rate=4, burst=1))
    limiter.take("acme", now=0.0)
    refused = limiter.take("acme", now=0.0)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.25)
    assert limiter.take("acme", now=0.25).allowed


def test_tenants_do_not_share_a_bucket():
    limiter = RateLimiter(Limit(rate=1, burst=1))
    assert limiter.take("acme", now=0.0).allowed
    assert limiter.take("beta", now=0.0).allowed
    assert not limiter.take("acme", now=0.0).allowed


def test_a_batch_costs_one_token_per_event():
    limiter = RateLimiter(Limit(rate=1, burst=10))
    assert limiter.take("acme", now=0.0, cost=10).allowed
    assert not limiter.take("acme", now=0.0, cost=1).allowed


@given(st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=200))
def test_over_any_interval_no_more_than_burst_plus_rate_times_elapsed_pass(gaps):
    limit = Limit(rate=20, burst=5)
    limiter, now, passed = RateLimiter(limit), 0.0, 0
    for gap in gaps:
        now += gap
        passed += limiter.take("acme", now=now).allowed
    assert passed <= limit.burst + limit.rate * now + 1e-9


def test_the_limiter_forgets_idle_keys_when_it_reaches_its_bound():
    limiter = RateLimiter(Limit(rate=1, burst=1), max_keys=2)
    limiter.take("a", now=0.0)
    limiter.take("b", now=0.0)
    limiter.take("c", now=10.0)
    assert len(limiter._buckets) <= 2
    assert limiter.take("c", now=10.0).allowed is False, "the newest key kept its bucket"


def test_a_limit_without_rate_is_refused():
    with pytest.raises(ValueError, match="positive rate"):
        Limit(rate=0, burst=1)


# -- reservations: how a sink paces calls to a rate-limited destination --------------------------


def test_a_reservation_from_a_bucket_with_tokens_waits_for_nothing():
    bucket = TokenBucket(Limit(rate=2, burst=2), tokens=2, updated=0.0)
    assert bucket.reserve(0.0, max_wait_s=1.0) == Reservation(0.0, 0.0)


def test_callers_who_reserve_at_once_are_spread_over_the_refill():
    bucket = TokenBucket(Limit(rate=4, burst=1), tokens=1, updated=0.0)
    waits = [bucket.reserve(0.0, max_wait_s=1.0).wait_s for _ in range(4)]
    assert waits == [0.0, 0.25, 0.5, 0.75]


def test_a_wait_longer_than_the_bound_books_nothing_and_says_when_a_token_is_free():
    bucket = TokenBucket(Limit(rate=1, burst=1), tokens=1, updated=0.0)
    bucket.reserve(0.0, max_wait_s=0.5)
    refused = bucket.reserve(0.0, max_wait_s=0.5)
    assert refused == Reservation(None, pytest.approx(1.0))
    assert bucket.reserve(1.0, max_wait_s=0.0) == Reservation(0.0, 0.0), "the refusal booked no token"


@given(st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=200), st.floats(0, 2))
def test_reserved_calls_never_go_out_faster_than_the_limit(gaps, max_wait_s):
    limit = Limit(rate=20, burst=5)
    bucket, now, calls = TokenBucket(limit, limit.burst, 0.0), 0.0, []
    for gap in gaps:
        now += gap
        reservation = bucket.reserve(now, max_wait_s)
        if reservation.wait_s is not None:
            assert reservation.wait_s <= max_wait_s
            calls.append(now + reservation.wait_s)
    end = max(calls, default=0.0)
    assert len(calls) <= limit.burst + limit.rate * end + 1e-6
