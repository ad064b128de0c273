"""The table of a scenario run beside its baseline in the same invocation: throughput and the
p50/p99 of one round (a page, a batch) for each, from a ``median_report`` whose baseline's
figures carry the ``baseline_`` prefix."""

from __future__ import annotations

from rich.table import Table

from bench.stats import Report


def baseline_table(title: str, report: Report, *, ours: str, baseline: str, unit: str, round_: str) -> Table:
    """``unit``: what is counted per second (rows, records); ``round_``: what p50/p99 time (page, batch)."""
    table = Table(title=title, title_justify="left")
    for column in ("metric", ours, baseline):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for label, key in (
        (f"{unit}/s", "throughput_per_s"),
        (f"{round_} p50 ms", "p50_ms"),
        (f"{round_} p99 ms", "p99_ms"),
    ):
        table.add_row(label, f"{report[key]:.1f}", f"{report['baseline_' + key]:.1f}")
    return table
