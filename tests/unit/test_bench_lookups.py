"""The lookups bench: each table finds every key written and none of the others; the summary
compares crmbus's options with Faust's."""

import pytest

from bench.lookups import BASELINE, OURS, ask, summary

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("variant", [OURS, BASELINE])
def test_each_table_finds_every_key_asked_that_was_written_and_none_that_was_not(variant):
    asked = ask(variant, keys=2000, lookups=500, partitions=3)

    assert (asked.miss_us.count, asked.hit_us.count) == (500, 500)
    assert asked.lost == 0
    assert asked.figures()["miss_cpu_us"] > 0


def test_fewer_keys_than_lookups_asks_each_written_key_once():
    asked = ask(OURS, keys=40, lookups=100, partitions=2)

    assert (asked.miss_us.count, asked.hit_us.count) == (100, 40)


def _report(ours_per_s: float, faust_per_s: float, ours_lost: int) -> dict[str, float]:
    report: dict[str, float] = {}
    for name, per_s, lost in ((OURS, ours_per_s, ours_lost), (BASELINE, faust_per_s, 0)):
        report |= {
            f"{name}_throughput_per_s": per_s, f"{name}_miss_cpu_us": 1e6 / per_s, f"{name}_p50_ms": 0.001,
            f"{name}_p99_ms": 0.002, f"{name}_lost": lost,
        }  # fmt: skip
    return report


def test_the_summary_takes_medians_sums_what_was_lost_and_compares_ours_with_faust():
    report = summary([_report(100.0, 50.0, 0), _report(300.0, 100.0, 1), _report(200.0, 80.0, 0)])

    assert report["throughput_per_s"] == 200.0
    assert report["lost"] == 1
    assert report["baseline_ratio"] == pytest.approx(2.5)
    assert report["miss_cpu_us_saved"] == pytest.approx(1e6 / 80.0 - 1e6 / 200.0)
