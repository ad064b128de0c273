"""The circuit breaker: when it opens, parks, probes and closes, and how its state is stored."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.circuit import CALL, PROBE, Bucket, CircuitConfig, CircuitState, Decision, allow, record

# 30 s window in 5 s buckets, 20 calls, 50 %, 5 in a row; open 30 s up to 300 s (longer than the
# defaults, so each doubling is plain to see)
CONFIG = CircuitConfig(open_s=30, max_open_s=300, probe_timeout_s=60)
T0 = 1_000_000.0  # a bucket boundary


def replay(outcomes, *, start=T0, step=0.1, state=None, config=CONFIG):
    """``state`` after calls that succeeded or failed as ``outcomes`` says, ``step`` seconds apart."""
    state = state or CircuitState()
    for i, success in enumerate(outcomes):
        state = record(state, start + i * step, success, config)
    return state


def opened_at(now, open_for_s=30.0):
    return CircuitState("open", opened_at=now, open_for_s=open_for_s)


def test_a_closed_circuit_lets_every_call_through():
    state = replay([True, False] * 5)
    assert allow(state, T0 + 1, CONFIG) == (CALL, state)


def test_it_opens_when_half_the_calls_in_the_window_fail():
    state = replay([True, False] * 10)  # 20 calls, 10 failures, never two in a row
    assert state.state == "open"
    assert (state.opened_at, state.open_for_s) == (T0 + 1.9, 30.0)


def test_it_stays_closed_while_the_failure_rate_is_below_the_threshold():
    state = replay([True, True, False] * 10)
    assert state.state == "closed"


def test_it_does_not_open_on_rate_below_the_minimum_number_of_calls():
    state = replay([True, False] * 9 + [False])  # 19 calls, 10 failures
    assert state.state == "closed"


def test_a_success_never_opens_the_circuit():
    state = replay([False, False, False, True] * 4 + [False, False, True])  # the 20th call, 14 failures of 20
    assert state.state == "closed"
    assert record(state, T0 + 3, False, CONFIG).state == "open"


def test_it_opens_after_consecutive_failures_however_few_the_calls():
    assert replay([False] * 4).state == "closed"
    assert replay([False] * 5).state == "open"


def test_a_success_resets_the_consecutive_failures():
    state = replay([False] * 4 + [True] + [False] * 4)
    assert (state.state, state.consecutive_failures) == ("closed", 4)


def test_failures_older_than_the_window_fall_out_of_it():
    early = replay([True, False, False, False, True] * 3)  # 15 calls, 9 failures, at T0..T0+1.4
    state = replay([True, False] * 3 + [True, True], start=T0 + 31, state=early)
    assert state.state == "closed", "only the last 8 calls count: 3 failures of 8"
    assert sum(b.calls for b in state.buckets) == 8


def test_failures_within_the_window_still_count_across_buckets():
    early = replay([True, False, False, False, True] * 3)  # 15 calls, 9 failures, in the bucket of T0
    state = replay([True, True, False, True, False], start=T0 + 24, state=early)
    assert state.state == "open", "20 calls, 11 failures within the last 30 s"


def test_an_open_circuit_parks_calls_until_it_may_probe():
    state = opened_at(T0)
    assert allow(state, T0 + 29.9, CONFIG) == (Decision("park", T0 + 30), state)


def test_after_open_for_s_one_probe_goes_out_and_the_others_park():
    decision, state = allow(opened_at(T0), T0 + 30, CONFIG)
    assert decision == PROBE
    assert (state.state, state.probes_in_flight) == ("half_open", 1)
    decision, _ = allow(state, T0 + 31, CONFIG)
    assert decision == Decision("park", T0 + 30 + CONFIG.probe_timeout_s)
    assert not decision.allowed


def test_several_probes_may_go_out_at_once_when_configured():
    config = CircuitConfig(half_open_probes=2)
    first, state = allow(opened_at(T0), T0 + 30, config)
    second, state = allow(state, T0 + 30, config)
    third, state = allow(state, T0 + 30, config)
    assert [first.action, second.action, third.action] == ["probe", "probe", "park"]
    assert state.probes_in_flight == 2


def test_a_probe_whose_outcome_never_came_frees_its_slot_after_the_probe_timeout():
    _, state = allow(opened_at(T0), T0 + 30, CONFIG)
    assert allow(state, T0 + 30 + CONFIG.probe_timeout_s - 1, CONFIG)[0].action == "park"
    decision, state = allow(state, T0 + 30 + CONFIG.probe_timeout_s, CONFIG)
    assert decision == PROBE
    assert state.probes_in_flight == 1


def test_a_successful_probe_closes_the_circuit_with_a_fresh_window():
    _, state = allow(opened_at(T0), T0 + 30, CONFIG)
    state = record(state, T0 + 31, True, CONFIG)
    assert state == CircuitState()
    assert allow(state, T0 + 31, CONFIG)[0] == CALL


def test_a_failed_probe_reopens_for_twice_as_long():
    _, state = allow(opened_at(T0), T0 + 30, CONFIG)
    state = record(state, T0 + 31, False, CONFIG)
    assert state == opened_at(T0 + 31, open_for_s=60)
    assert allow(state, T0 + 31 + 59, CONFIG) == (Decision("park", T0 + 91), state)


def test_the_open_time_doubles_on_each_failed_probe_up_to_the_cap():
    state, now, open_times = opened_at(T0), T0, []
    for _ in range(6):
        now = state.opened_at + state.open_for_s
        _, state = allow(state, now, CONFIG)
        state = record(state, now + 1, False, CONFIG)
        open_times.append(state.open_for_s)
    assert open_times == [60, 120, 240, 300, 300, 300]


def test_after_closing_the_next_opening_starts_from_open_s_again():
    _, state = allow(opened_at(T0, open_for_s=240), T0 + 240, CONFIG)
    state = record(state, T0 + 241, True, CONFIG)
    state = replay([False] * 5, start=T0 + 242, state=state)
    assert state.open_for_s == 30


def first_success_after_heal(down_s: float, *, config: CircuitConfig, every_s: float = 0.5) -> float:
    """How long after a destination that fails every call for ``down_s`` seconds heals the first
    call gets through, with a delivery asking every ``every_s`` and each call taking 1 s to fail."""
    state, now = CircuitState(), T0
    while True:
        decision, state = allow(state, now, config)
        if decision.allowed:
            healed = now >= T0 + down_s
            state = record(state, now + (0 if healed else 1), healed, config)
            if healed:
                return now - (T0 + down_s)
        now += every_s


@pytest.mark.parametrize("down_s", [5, 20, 45, 90, 300, 3600])
def test_a_healed_destination_gets_its_traffic_back_within_30_s_however_long_it_was_down(down_s):
    assert first_success_after_heal(down_s, config=CircuitConfig()) <= 30


def test_the_default_probe_backoff_is_capped_at_20_s():
    config = CircuitConfig()
    state, open_times = opened_at(T0, open_for_s=config.open_s), []
    for _ in range(4):
        now = state.opened_at + state.open_for_s
        _, state = allow(state, now, config)
        state = record(state, now + 1, False, config)
        open_times.append(state.open_for_s)
    assert (config.open_s, open_times) == (10, [20, 20, 20, 20])


def test_an_uncapped_backoff_is_what_kept_a_healed_destination_waiting():
    assert first_success_after_heal(45, config=CONFIG) > 30  # the 46-67 s of the reproduction


def test_outcomes_of_calls_made_before_the_circuit_opened_are_ignored():
    state = opened_at(T0)
    assert record(state, T0 + 1, True, CONFIG) == state
    assert record(state, T0 + 1, False, CONFIG) == state


def test_buckets_from_a_clock_that_stepped_back_are_dropped():
    state = CircuitState(buckets=(Bucket(10**9, 50, 0),))
    state = record(state, T0, False, CONFIG)
    assert state.buckets == (Bucket(200_000, 1, 1),)


def test_an_invalid_config_is_refused():
    with pytest.raises(ValueError, match="max_open_s"):
        CircuitConfig(open_s=60, max_open_s=30)
    with pytest.raises(ValueError, match="failure_rate"):
        CircuitConfig(failure_rate=0)


finite = st.floats(min_value=0, max_value=4e9, allow_nan=False)
states = st.builds(
    CircuitState,
    state=st.sampled_from(["closed", "open", "half_open"]),
    buckets=st.lists(
        st.builds(Bucket, st.integers(0, 2**40), st.integers(0, 10**6), st.integers(0, 10**6)), max_size=6
    ).map(tuple),
    consecutive_failures=st.integers(0, 10**6),
    opened_at=finite,
    open_for_s=finite,
    probes_in_flight=st.integers(0, 100),
    probe_started_at=finite,
)


@given(states)
def test_a_state_survives_its_changelog_round_trip(state):
    assert CircuitState.from_bytes(state.to_bytes()) == state


def test_a_fresh_state_is_small_on_the_wire():
    assert len(CircuitState().to_bytes()) < 40


@pytest.mark.parametrize("data", [b"", b"{}", b'[2,"closed",[],0,0,0,0,0]', b'[1,"ajar",[],0,0,0,0,0]', b"[1]"])
def test_bytes_that_are_not_a_state_are_refused(data):
    with pytest.raises(ValueError, match="not a circuit state"):
        CircuitState.from_bytes(data)
