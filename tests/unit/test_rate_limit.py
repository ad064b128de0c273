import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.rate_limit import Limit, RateLimiter


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
