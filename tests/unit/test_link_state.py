from streams.link_state import LinkChange, LinkState


def test_a_link_starts_up_and_successes_change_nothing():
    link = LinkState()
    assert link.up
    assert link.succeeded(now=1.0) is None


def test_the_first_failure_is_the_one_change_however_many_follow():
    link = LinkState()
    assert link.failed("_ALL_BROKERS_DOWN", now=10.0) == LinkChange("lost", reason="_ALL_BROKERS_DOWN")
    assert [link.failed("_ALL_BROKERS_DOWN", now=10.0 + i) for i in range(1000)] == [None] * 1000
    assert not link.up


def test_the_first_success_after_a_loss_says_how_long_it_was_down_and_how_many_errors_came():
    link = LinkState()
    link.failed("a", now=100.0)
    link.failed("b", now=105.0)
    assert link.succeeded(now=120.5) == LinkChange("back", down_s=20.5, failures=2)
    assert link.succeeded(now=121.0) is None
    assert link.up


def test_a_second_outage_is_counted_from_its_own_start():
    link = LinkState()
    link.failed("a", now=0.0)
    link.succeeded(now=5.0)
    assert link.failed("c", now=50.0) == LinkChange("lost", reason="c")
    assert link.succeeded(now=53.0) == LinkChange("back", down_s=3.0, failures=1)
