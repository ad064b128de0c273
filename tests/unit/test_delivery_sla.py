"""The delivery SLA: a destination's attempts in a window are ok, breached (saying why) or idle."""

import pytest

from streams.delivery_sla import DeliveryFigures, DeliverySla, judge, percent_down

SLA = DeliverySla(p95_ms=2000, success_rate=0.95)


def figures(delivered=0, retrying=0, dead_lettered=0, p95_ms=100.0, error=None):
    attempted = delivered + retrying + dead_lettered
    return DeliveryFigures(
        delivered, retrying, dead_lettered, 50.0 if attempted else None, p95_ms if attempted else None, error
    )


def test_the_success_rate_is_the_share_of_attempts_the_destination_took():
    assert figures(delivered=3, retrying=1).success_rate == 0.75
    assert figures(delivered=1, dead_lettered=1).success_rate == 0.5


def test_without_attempts_there_is_no_success_rate_and_nothing_to_judge():
    assert DeliveryFigures().success_rate is None
    assert judge(DeliveryFigures(), SLA).verdict == "idle"


def test_attempts_meeting_both_targets_are_ok():
    assert judge(figures(delivered=95, retrying=5, p95_ms=2000), SLA).verdict == "ok"


def test_too_many_failed_attempts_breach_the_sla_and_say_so():
    judgement = judge(figures(delivered=9, retrying=1), SLA)
    assert judgement.verdict == "breached"
    assert judgement.reasons == ("success 90.0 % < 95 %",)


def test_a_destination_that_is_down_breaches_at_once_though_nothing_reached_the_dlq_yet():
    assert judge(figures(retrying=40, error="TransientDeliveryError"), SLA).verdict == "breached"


def test_a_slow_p95_breaches_the_sla_however_many_attempts_succeed():
    judgement = judge(figures(delivered=100, p95_ms=2500.4), SLA)
    assert judgement.verdict == "breached"
    assert judgement.reasons == ("p95 2500 ms > 2000 ms",)


def test_both_targets_missed_give_both_reasons():
    assert len(judge(figures(delivered=1, retrying=1, p95_ms=9000), SLA).reasons) == 2


def test_a_rate_just_under_the_target_never_reads_as_the_target():
    judgement = judge(figures(delivered=1899, retrying=101), DeliverySla(2000, success_rate=0.95))  # 94.95 %
    assert judgement.reasons == ("success 94.9 % < 95 %",)


@pytest.mark.parametrize(("p95_ms", "rate"), [(0, 0.9), (-1, 0.9), (100, 0), (100, 1.01)])
def test_an_sla_that_cannot_be_met_or_judged_is_refused(p95_ms, rate):
    with pytest.raises(ValueError, match=r"p95_ms|success_rate"):
        DeliverySla(p95_ms, rate)


def test_figures_with_latencies_but_no_attempts_are_refused():
    with pytest.raises(ValueError, match="percentiles"):
        DeliveryFigures(p50_ms=1.0, p95_ms=2.0)
    with pytest.raises(ValueError, match="percentiles"):
        DeliveryFigures(delivered=1)


@pytest.mark.parametrize(("rate", "shown"), [(0.9495, "94.9 %"), (0.57, "57.0 %"), (1.0, "100.0 %"), (0.0, "0.0 %")])
def test_rates_are_shown_rounded_down_to_a_tenth_of_a_percent(rate, shown):
    assert percent_down(rate) == shown
