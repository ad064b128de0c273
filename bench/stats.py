"""Percentiles, medians over repeated runs, and the one-line JSON summary."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# JSON has no NaN: absent measurements are written as null.
Report = dict[str, Any]


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN when there are none.

    Nearest rank, not interpolation: the reported p99.9 is a latency some request really had.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], not {fraction}")
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[rank - 1])


@dataclass(frozen=True, slots=True)
class Latency:
    count: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    @classmethod
    def of(cls, values_ms: Iterable[float]) -> Latency:
        ordered = sorted(values_ms)
        return cls(
            count=len(ordered),
            p50_ms=percentile(ordered, 0.50),
            p99_ms=percentile(ordered, 0.99),
            p999_ms=percentile(ordered, 0.999),
            max_ms=ordered[-1] if ordered else math.nan,
        )


def median_report(reports: Sequence[Mapping[str, Any]]) -> Report:
    """Key by key median of several runs' reports.

    Numbers take the median of the runs that measured them (NaN and None are skipped);
    booleans are true if any run was true (a flag such as "generator-limited" must not be
    voted away); anything else is taken from the first run.
    """
    if not reports:
        raise ValueError("no reports to take the median of")
    merged: Report = {}
    for key in reports[0]:
        values = [report.get(key) for report in reports]
        if all(isinstance(v, bool) for v in values):
            merged[key] = any(values)
        elif all(isinstance(v, int | float) or v is None for v in values):
            measured = [float(v) for v in values if v is not None and not math.isnan(v)]
            median = statistics.median(measured) if measured else math.nan
            all_ints = all(isinstance(v, int) for v in values)
            merged[key] = int(median) if all_ints and float(median).is_integer() else median
        else:
            merged[key] = values[0]
    return merged


def ratio(numerator: float | None, denominator: float | None) -> float:
    """numerator ÷ denominator; NaN when either was not measured or the denominator is 0."""
    if numerator is None or denominator is None or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator if denominator else math.nan


def head_to_head(reports: Sequence[Report], names: Iterable[str], ours: str, baseline: str) -> tuple[Report, Report]:
    """Runs that each measured every one of ``names`` (figures named ``<name>_<figure>``): the
    headline (ours' throughput, p50, p99 and lost, and its throughput ÷ the baseline's) and the
    medians of the runs, with each one's ``lost`` summed over them instead (any loss matters: a
    median would hide it)."""
    merged = median_report(reports)
    for name in names:
        merged[f"{name}_lost"] = sum(report[f"{name}_lost"] for report in reports)
    headline: Report = {
        "throughput_per_s": merged[f"{ours}_throughput_per_s"],
        "p50_ms": merged[f"{ours}_p50_ms"],
        "p99_ms": merged[f"{ours}_p99_ms"],
        "lost": merged[f"{ours}_lost"],
        "baseline_ratio": ratio(merged[f"{ours}_throughput_per_s"], merged[f"{baseline}_throughput_per_s"]),
    }
    return headline, merged


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 3)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def json_line(report: Mapping[str, Any]) -> str:
    """One line of strict JSON (no NaN, floats to 3 decimals), keys in the report's order."""
    return json.dumps(_clean(report), separators=(", ", ": "), allow_nan=False)
