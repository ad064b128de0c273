import json
import math

import pytest

from bench.stats import Latency, json_line, median_report, percentile


def test_percentile_is_the_nearest_rank_a_request_really_had():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.999) == 100.0
    assert percentile(values, 0.0) == 1.0


def test_percentile_of_nothing_is_nan_and_a_bad_fraction_is_refused():
    assert math.isnan(percentile([], 0.5))
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], 99)


def test_latency_summary_sorts_its_samples():
    summary = Latency.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (summary.count, summary.p50_ms, summary.p99_ms, summary.max_ms) == (5, 3.0, 5.0, 5.0)


def test_median_report_takes_the_median_per_key_and_keeps_whole_counts_whole():
    runs = [
        {"throughput_per_s": 900.0, "errors": 3, "lost": 0, "loop": "uvloop", "limited": False},
        {"throughput_per_s": 1100.0, "errors": 1, "lost": 0, "loop": "uvloop", "limited": True},
        {"throughput_per_s": 1000.0, "errors": 2, "lost": 0, "loop": "uvloop", "limited": False},
    ]
    merged = median_report(runs)
    assert merged == {"throughput_per_s": 1000.0, "errors": 2, "lost": 0, "loop": "uvloop", "limited": True}
    assert isinstance(merged["errors"], int)


def test_median_report_skips_runs_that_did_not_measure_a_key():
    merged = median_report([{"p99_ms": None}, {"p99_ms": 4.0}, {"p99_ms": math.nan}])
    assert merged["p99_ms"] == 4.0
    assert math.isnan(median_report([{"p99_ms": None}])["p99_ms"])


def test_json_line_is_one_strict_json_object_with_rounded_floats():
    line = json_line({"p99_ms": 1.23456, "lost": 0, "ratio": math.nan, "nested": {"x": math.inf}})
    assert "\n" not in line
    assert json.loads(line) == {"p99_ms": 1.235, "lost": 0, "ratio": None, "nested": {"x": None}}
