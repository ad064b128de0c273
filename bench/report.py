"""Human-readable tables of the phases and of the summary (rich)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.phases import Phase
from bench.saturation import SearchPolicy

console = Console(width=170)


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def phase_table(title: str, phases: Sequence[Phase], policies: Mapping[str, SearchPolicy]) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        caption="events/s; latencies in ms from each request's scheduled send; cores = CPU seconds / wall second; "
        "gen late = sends >5 ms behind schedule; other = the rest of the machine",
        caption_justify="left",
    )
    for column in (
        "target", "mode", "phase", "offered/s", "accepted/s", "missed", "p50", "p99", "p99.9", "server",
        "kafka", "gen late", "other", "verdict", "errors",
    ):  # fmt: skip
        left = column in ("target", "mode", "phase", "verdict", "errors")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for phase in phases:
        result = phase.result
        verdict = phase.step.verdict(policies[phase.mode]) or "ok"
        table.add_row(
            phase.target,
            phase.mode,
            phase.kind,
            f"{phase.offered_per_s:,.0f}",
            f"{result.accepted_per_s:,.0f}",
            f"{result.error_rate:.2%}",
            _ms(phase.latency.p50_ms),
            _ms(phase.latency.p99_ms),
            _ms(phase.latency.p999_ms),
            f"{phase.server_cores:.2f}",
            f"{phase.broker_cpu_s / phase.wall_s:.2f}" if phase.broker_cpu_s else "-",
            f"{result.late_share:.1%}",
            f"{phase.other_cores:.2f}",
            verdict if verdict == "ok" else f"[red]{verdict}[/]",
            ", ".join(f"{kind} {count}" for kind, count in result.errors.most_common()),
        )
    return table


_SUMMARY_ROWS = (
    ("accepted events/s at saturation, single", "throughput_per_s", "ceiling_throughput_per_s", "ceiling_ratio"),
    ("accepted events/s at saturation, batch", "batch_throughput_per_s", "batch_ceiling_throughput_per_s",
     "batch_ceiling_ratio"),
    ("p99 ms at saturation, single", "saturation_p99_ms", None, None),
    ("p50 ms at --rate, single", "p50_ms", "ceiling_p50_ms", None),
    ("p99 ms at --rate, single", "p99_ms", "ceiling_p99_ms", None),
    ("p99.9 ms at --rate, single", "p999_ms", "ceiling_p999_ms", None),
    ("p99 ms per batch request at --rate", "batch_p99_ms", "batch_ceiling_p99_ms", None),
    ("errors at --rate (single + batch)", "errors", None, None),
    ("lost / extra records in the ingress topics", "lost", None, None),
    ("server CPU µs per event at --rate, single", "ingress_cpu_us_per_event", "ceiling_cpu_us_per_event", None),
    ("broker CPU µs per event at --rate, single", "broker_cpu_us_per_event", None, None),
    ("server peak RSS MiB (all processes)", "ingress_peak_rss_mb", "ceiling_peak_rss_mb", None),
    ("server CPU µs per event, built-in type (lead.created)", "built_in_type_cpu_us_per_event", None, None),
    ("server CPU µs per event, tenant's own copy of it", "tenant_type_cpu_us_per_event", None, None),
    ("tenant's own type ÷ built-in type, CPU per event", "tenant_type_cpu_ratio", None, None),
)  # fmt: skip


def _cell(report: Mapping[str, Any], key: str | None) -> str:
    if key is None:
        return ""
    value = report.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key == "lost":
        return f"{value} / {report.get('extra')} (all runs: {report.get('lost_total', value)} lost)"
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"


def summary_table(title: str, report: Mapping[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("metric", "crmbus", "ceiling", "crmbus ÷ ceiling"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for label, ours, ceiling, ratio in _SUMMARY_ROWS:
        table.add_row(label, _cell(report, ours), _cell(report, ceiling), _cell(report, ratio))
    return table


def print_error_samples(phases: Sequence[Phase]) -> None:
    """The first answer seen for each kind of error of each server: what a client was told."""
    seen: dict[tuple[str, str], str] = {}
    for phase in phases:
        for kind, sample in phase.result.samples.items():
            seen.setdefault((phase.target, kind), sample)
    for (target, kind), sample in seen.items():
        console.print(f"{target} {kind}: {sample}", markup=False, highlight=False)
