"""The router bench's figures: one flat report per run (so runs take medians key by key) and its tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from bench.router_phases import FANOUT, PhaseResult
from bench.stats import Report

# The drain counts only what completed after the backlog was written; below this share of
# the backlog, the system was mostly keeping up with the generator and the figure is a floor.
MIN_DRAIN_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class SystemResult:
    label: str  # "ceiling" or "crmbus<N>"
    phases: list[PhaseResult]  # warm-up, rate, backlog
    peak_rss_mb: float
    broker_peak_rss_mb: float

    def phase(self, name: str) -> PhaseResult:
        return next(p for p in self.phases if p.name == name)


def _system_figures(system: SystemResult) -> Report:
    fixed, backlog = system.phase("rate"), system.phase("backlog")
    drained = backlog.drain
    return {
        "throughput_per_s": drained.per_s,
        "fanout_per_s": FANOUT * drained.per_s,
        "p50_ms": fixed.latency.p50_ms,
        "p99_ms": fixed.latency.p99_ms,
        "p999_ms": fixed.latency.p999_ms,
        "max_ms": fixed.latency.max_ms,
        "lost": sum(p.tally.lost for p in system.phases),
        "duplicates": sum(p.tally.duplicates for p in system.phases),
        "foreign": sum(p.tally.foreign for p in system.phases),
        "public_records": sum(p.public for p in system.phases),
        "input_events": sum(p.tally.sent for p in system.phases),
        "drain_share": drained.share,
        "generator_limited": drained.share < MIN_DRAIN_SHARE,
        "cpu_s": fixed.system_cpu_s,
        "cpu_us_per_event": 1e6 * backlog.system_cpu_s / max(1, backlog.tally.complete),
        "peak_rss_mb": system.peak_rss_mb,
        "broker_cpu_s": fixed.broker_cpu_s,
        "broker_cpu_us_per_event": 1e6 * backlog.broker_cpu_s / max(1, backlog.tally.complete),
        "broker_peak_rss_mb": system.broker_peak_rss_mb,
        "generator_late_share": fixed.load.late_sends / max(1, fixed.load.sent),
        "broker_stamped": all(p.broker_stamped for p in system.phases),
        "other_load_cores": sum(p.other_cpu_s for p in system.phases) / sum(p.wall_s for p in system.phases),
    }


def figures(systems: Sequence[SystemResult]) -> Report:
    """Headline first (the best crmbus worker count), then every system's figures under its label."""
    per_system = {s.label: _system_figures(s) for s in systems}
    ceiling = per_system["ceiling"]
    ours = {label: f for label, f in per_system.items() if label != "ceiling"}
    best = max(ours.values(), key=lambda f: f["throughput_per_s"], default=None)
    headline: Report = {
        "throughput_per_s": best["throughput_per_s"] if best else None,
        "fanout_per_s": best["fanout_per_s"] if best else None,
        "p50_ms": best["p50_ms"] if best else None,
        "p99_ms": best["p99_ms"] if best else None,
        "lost": sum(f["lost"] for f in ours.values()) if ours else None,
        "duplicates": sum(f["duplicates"] for f in ours.values()) if ours else None,
        "ceiling_throughput_per_s": ceiling["throughput_per_s"],
        "ceiling_ratio": best["throughput_per_s"] / ceiling["throughput_per_s"]
        if best and ceiling["throughput_per_s"]
        else None,
    }
    for label, values in per_system.items():
        headline.update({f"{label}_{key}": value for key, value in values.items()})
    return headline


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def system_table(title: str, systems: Sequence[SystemResult], rate: float) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        caption=f"rate: open loop at {rate:,.0f} ev/s, latency from each event's scheduled send to its last fan-out "
        "record's LogAppendTime; backlog: ev/s completed after the backlog was written (share = of the backlog); "
        "cores = CPU s / wall s of the phase; other = the rest of the machine (other work skews the figures)",
        caption_justify="left",
    )
    for column in (
        "system", "phase", "events", "complete", "lost", "dup", "public", "ev/s", "share", "p50", "p99", "p99.9",
        "max", "system cores", "kafka cores", "other cores", "gen late",
    ):  # fmt: skip
        table.add_column(column, justify="left" if column in ("system", "phase") else "right", no_wrap=True)
    for system in systems:
        for phase in system.phases:
            counted, latency = phase.tally, phase.latency
            table.add_row(
                system.label,
                phase.name,
                _num(counted.sent),
                _num(counted.complete),
                _num(counted.lost) if not counted.lost else f"[red]{counted.lost:,}[/]",
                _num(counted.duplicates),
                _num(phase.public),
                _num(phase.drain.per_s) if phase.name == "backlog" else "",
                f"{phase.drain.share:.0%}" if phase.name == "backlog" else "",
                _num(latency.p50_ms, 1),
                _num(latency.p99_ms, 1),
                _num(latency.p999_ms, 1),
                _num(latency.max_ms, 1),
                f"{phase.system_cpu_s / phase.wall_s:.2f}",
                f"{phase.broker_cpu_s / phase.wall_s:.2f}" if phase.broker_cpu_s else "-",
                f"{phase.other_cpu_s / phase.wall_s:.2f}",
                f"{phase.load.late_sends / max(1, phase.load.sent):.1%}",
            )
    return table


_SUMMARY_COLUMNS = (
    ("input ev/s (backlog)", "throughput_per_s", 0),
    ("fan-out rec/s", "fanout_per_s", 0),
    ("p50 ms @rate", "p50_ms", 1),
    ("p99 ms @rate", "p99_ms", 1),
    ("lost", "lost", 0),
    ("dup", "duplicates", 0),
    ("CPU s @rate", "cpu_s", 1),
    ("CPU µs/ev", "cpu_us_per_event", 0),
    ("RSS MiB", "peak_rss_mb", 0),
    ("kafka CPU s @rate", "broker_cpu_s", 1),
    ("kafka µs/ev", "broker_cpu_us_per_event", 0),
    ("kafka RSS MiB", "broker_peak_rss_mb", 0),
)


def summary(title: str, report: Mapping[str, Any], labels: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left", caption="CPU and RSS: the system's processes; kafka: the broker")
    table.add_column("system", justify="left")
    for heading, _, _ in _SUMMARY_COLUMNS:
        table.add_column(heading, justify="right")
    for label in labels:
        table.add_row(label, *(_num(report.get(f"{label}_{key}"), d) for _, key, d in _SUMMARY_COLUMNS))
    return table
