"""The idle bench's report: crmbus's processes summed against the baseline's, per process too."""

import json

import pytest

from bench.idle import BASELINE, Cost, summary, table
from bench.report import console
from bench.stats import json_line

pytestmark = pytest.mark.unit

SPENT = [
    Cost("ingress", "ingress/1", cpu_s=0.3, switches=600),
    Cost("worker", "worker/1", cpu_s=0.9, switches=1800),
    Cost("worker", "worker/forkserver", cpu_s=0.0, switches=0),
    Cost(BASELINE, BASELINE, cpu_s=0.6, switches=480),
]


def test_the_total_is_crmbus_processes_in_percent_of_one_core_and_the_ratio_is_against_the_baseline():
    report = summary(SPENT, seconds=60)

    assert report["cpu_pct_total"] == pytest.approx(2.0)  # 1.2 s of CPU in 60 s
    assert report["baseline_cpu_pct_total"] == pytest.approx(1.0)
    assert report["ratio"] == pytest.approx(2.0)
    assert report["wakeups_per_s_total"] == pytest.approx(40.0)
    assert report["worker_1_cpu_pct"] == pytest.approx(1.5)
    assert report["worker_forkserver_wakeups_per_s"] == 0


def test_the_last_line_carries_the_bench_conventions_keys_and_no_traffic():
    line = json.loads(json_line(summary(SPENT, seconds=60)))

    assert line["throughput_per_s"] == 0
    assert line["lost"] == 0
    assert line["scenario"] == "idle"


def test_a_baseline_that_spent_nothing_gives_no_ratio():
    report = summary([Cost("worker", "worker/1", 0.1, 10), Cost(BASELINE, BASELINE, 0.0, 0)], seconds=10)

    assert report["ratio"] is None


def test_the_table_shows_every_process_and_both_totals():
    with console.capture() as captured:
        console.print(table(SPENT, seconds=60))
    shown = captured.get()

    for name in ("ingress/1", "worker/1", "worker/forkserver", "crmbus total", "baseline total"):
        assert name in shown
    assert "2.00" in shown  # crmbus total, % of one core
