import pytest

from streams.restarts import ChildStatus, Crashes, RestartPolicy, describe_exit

pytestmark = pytest.mark.unit


def test_the_delay_doubles_with_each_crash_in_a_row_up_to_the_cap():
    policy = RestartPolicy(first_delay_s=1, max_delay_s=30)

    assert [policy.delay_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_long_crash_loop_keeps_waiting_the_cap():
    assert RestartPolicy(first_delay_s=1, max_delay_s=30).delay_s(10_000) == 30


def test_a_child_that_ran_healthily_before_crashing_starts_the_count_again():
    policy = RestartPolicy(healthy_after_s=60)
    crashes = Crashes().after(2, policy).after(3, policy).after(1, policy)
    assert crashes == Crashes(total=3, in_a_row=3)

    after_a_healthy_run = crashes.after(3_600, policy)

    assert after_a_healthy_run == Crashes(total=4, in_a_row=1)
    assert policy.delay_s(after_a_healthy_run.in_a_row) == policy.first_delay_s


def test_crashes_in_a_row_are_counted_while_a_child_keeps_dying_early():
    policy = RestartPolicy(healthy_after_s=60)

    assert Crashes(total=5, in_a_row=2).after(59.9, policy) == Crashes(total=6, in_a_row=3)


@pytest.mark.parametrize(
    ("first", "cap", "healthy"),
    [(0, 30, 60), (-1, 30, 60), (31, 30, 60), (1, 30, 0)],
)
def test_a_policy_that_could_spin_or_never_restart_is_refused(first, cap, healthy):
    with pytest.raises(ValueError, match="restart policy"):
        RestartPolicy(first_delay_s=first, max_delay_s=cap, healthy_after_s=healthy)


def test_a_delay_is_only_asked_for_after_a_crash():
    with pytest.raises(ValueError, match="after a crash"):
        RestartPolicy().delay_s(0)


@pytest.mark.parametrize(
    ("exitcode", "described"),
    [(3, "exit code 3"), (0, "exit code 0"), (-9, "signal SIGKILL"), (-6, "signal SIGABRT"), (-200, "signal 200")],
)
def test_an_exit_is_told_by_its_code_or_its_signal_name(exitcode, described):
    assert describe_exit(exitcode) == described


def test_a_child_status_reads_back_as_written():
    status = ChildStatus("crmbus-worker-1", "restarting", None, 4, "signal SIGKILL", 1_700_000_000.5, 1_700_000_004.5)

    assert ChildStatus.from_json(status.to_json()) == status
