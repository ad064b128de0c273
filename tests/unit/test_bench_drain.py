"""The drain bench: both hand-over loops run over the same fetches; the summary compares them."""

import asyncio

import pytest

from bench.drain import BASELINE, OURS, drain, summary

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("loop", [OURS, BASELINE])
def test_each_loop_hands_over_every_record_and_times_every_fetch(loop):
    drained = asyncio.run(drain(loop, records=1000, fetch=300))

    assert drained.handed == 1000
    assert drained.fetch_ms.count == 4  # 300 + 300 + 300 + 100
    assert drained.figures(1000)["lost"] == 0


def _report(ours_per_s: float, faust_per_s: float, ours_lost: int) -> dict[str, float]:
    report: dict[str, float] = {}
    for name, per_s, lost in ((OURS, ours_per_s, ours_lost), (BASELINE, faust_per_s, 0)):
        report |= {
            f"{name}_throughput_per_s": per_s, f"{name}_cpu_us_per_record": 1e6 / per_s,
            f"{name}_p50_ms": 1.0, f"{name}_p99_ms": 2.0, f"{name}_lost": lost,
        }  # fmt: skip
    return report


def test_the_summary_takes_medians_sums_what_was_lost_and_compares_ours_with_faust():
    report = summary([_report(100.0, 10.0, 0), _report(300.0, 30.0, 2), _report(200.0, 20.0, 0)])

    assert report["throughput_per_s"] == 200.0
    assert report["lost"] == 2
    assert report["baseline_ratio"] == pytest.approx(10.0)
    assert report["cpu_us_saved_per_record"] == pytest.approx(1e6 / 20.0 - 1e6 / 200.0)
