"""The consumer bench: each client's figures from one run, and the summary comparing them."""

import pytest

from bench.consumer import BASELINE, OURS, Measured, summary
from bench.stats import Latency

pytestmark = pytest.mark.unit


def test_a_runs_figures_are_rates_per_record_and_per_second_and_what_was_not_read():
    measured = Measured(
        read=900, cpu_s=0.0018, wall_s=0.5, batch_ms=Latency.of([1.0, 3.0]), fetch_cpu_s=0.3, fetch_wall_s=6
    )

    figures = measured.figures(records=1000)

    assert figures["throughput_per_s"] == 1800
    assert figures["cpu_us_per_record"] == pytest.approx(2.0)
    assert figures["lost"] == 100
    assert figures["fetch_core_pct"] == pytest.approx(5.0)


def _report(ours_per_s: float, ours_fetch_pct: float, ours_lost: int) -> dict[str, float]:
    report: dict[str, float] = {}
    for name, per_s, fetch_pct, lost in ((OURS, ours_per_s, ours_fetch_pct, ours_lost), (BASELINE, 1000.0, 1.0, 0)):
        report |= {
            f"{name}_throughput_per_s": per_s, f"{name}_cpu_us_per_record": 1e6 / per_s, f"{name}_p50_ms": 1.0,
            f"{name}_p99_ms": 2.0, f"{name}_lost": lost, f"{name}_fetch_core_pct": fetch_pct,
        }  # fmt: skip
    return report


def test_the_summary_takes_medians_sums_what_was_lost_and_compares_aiokafka_with_librdkafka():
    report = summary([_report(250.0, 4.0, 0), _report(500.0, 6.0, 3), _report(400.0, 5.0, 0)])

    assert report["throughput_per_s"] == 400.0
    assert report["lost"] == 3
    assert report["baseline_ratio"] == pytest.approx(0.4)
    assert report["cpu_per_record_ratio"] == pytest.approx(2.5)
    assert report["fetch_cpu_ratio"] == pytest.approx(5.0)
