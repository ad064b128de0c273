import math

from bench.saturation import SearchPolicy, Step, search, sustained_per_s


def server_with_capacity(capacity: float):
    """A fake server: accepts everything up to ``capacity`` events/s, and the excess is errors."""
    offered: list[float] = []

    def measure(rate: float) -> Step:
        offered.append(rate)
        accepted = min(rate, capacity)
        return Step(offered_per_s=rate, accepted_per_s=accepted, error_rate=1 - accepted / rate, p99_ms=5.0)

    return measure, offered


def test_search_grows_until_a_failure_then_narrows_to_the_resolution():
    measure, offered = server_with_capacity(12_000)
    policy = SearchPolicy(start_per_s=5_000, factor=1.5, resolution=1.1, max_steps=10)
    steps = search(measure, policy)
    assert offered[:3] == [5_000, 7_500, 11_250]
    assert 11_250 <= sustained_per_s(steps, policy) <= 12_000
    passes = [s.offered_per_s for s in steps if s.verdict(policy) is None]
    failures = [s.offered_per_s for s in steps if s.verdict(policy) is not None]
    assert min(failures) / max(passes) < 1.1 or len(steps) == policy.max_steps


def test_an_overloaded_step_narrows_the_search_to_near_what_it_accepted():
    measure, offered = server_with_capacity(1_000)
    policy = SearchPolicy(start_per_s=5_000, factor=1.5, max_steps=8)
    steps = search(measure, policy)
    assert offered[1] == 900  # 0.9 x the 1,000/s accepted at 5,000/s offered
    assert all(rate <= 1_250 for rate in offered[1:])  # never back up towards 5,000
    assert sustained_per_s(steps, policy) >= 900


def test_search_drops_below_the_accepted_rate_when_the_first_rate_already_fails():
    measure, offered = server_with_capacity(2_000)
    policy = SearchPolicy(start_per_s=5_000, factor=2.0, max_steps=6)
    steps = search(measure, policy)
    assert offered[1] == 1_800
    assert 1_800 <= sustained_per_s(steps, policy) <= 2_000


def test_a_step_over_the_p99_limit_fails_even_without_errors():
    policy = SearchPolicy(start_per_s=1_000, p99_limit_ms=100)
    assert Step(1_000, 1_000, 0.0, 150.0).verdict(policy) == "p99 150 ms"
    assert Step(1_000, 1_000, 0.0, math.nan).verdict(policy) is not None
    assert Step(1_000, 995, 0.005, 20.0).verdict(policy) is None


def test_a_step_already_measured_is_not_measured_again():
    measure, offered = server_with_capacity(1_000)
    policy = SearchPolicy(start_per_s=4_000, max_steps=1)
    first = Step(4_000, 1_000, 0.75, 5.0)
    assert search(measure, policy, first=first) == [first]
    assert offered == []
