"""The deliver bench's figures: one flat report per run (runs take medians key by key) and its tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.table import Table

from bench.deliver_phases import PhaseResult
from bench.deliver_receipts import Receipts, healthy_drop_pct
from bench.router_report import MIN_DRAIN_SHARE, _num
from bench.stats import Latency, Report


@dataclass(frozen=True, slots=True)
class SystemResult:
    label: str  # "ceiling" or "crmbus<N>"
    phases: list[PhaseResult]
    recovered: Receipts | None  # the failing phase's deliveries (all destinations) once zapi healed
    peak_rss_mb: float

    def phase(self, name: str) -> PhaseResult | None:
        return next((p for p in self.phases if p.name == name), None)


def _system_figures(system: SystemResult) -> Report:
    backlog, rate, failing = system.phase("backlog"), system.phase("rate"), system.phase("failing")
    if backlog is None:
        raise ValueError(f"{system.label} has no backlog phase")
    # The failing phase's deliveries count as lost only if they never arrived, healed included.
    counted = [p for p in system.phases if not (p.name == "failing" and system.recovered is not None)]
    receipts = [p.receipts for p in counted] + ([system.recovered] if system.recovered else [])
    applied = max(1, backlog.receipts.applied)
    figures: Report = {
        "throughput_per_s": backlog.drain.per_s,
        "healthy_per_s": backlog.healthy.per_s,
        "drain_share": backlog.drain.share,
        "generator_limited": backlog.drain.share < MIN_DRAIN_SHARE,
        "lost": sum(r.lost for r in receipts),
        "duplicates": sum(r.duplicates for r in receipts),
        "redeliveries": sum(r.redeliveries for r in receipts),
        "deliveries": sum(r.expected for r in receipts),
        "settled": all(p.settled for p in system.phases),
        "cpu_us_per_delivery": 1e6 * backlog.system_cpu_s / applied,
        "destination_cpu_us_per_delivery": 1e6 * backlog.server_cpu_s / applied,
        "broker_cpu_us_per_delivery": 1e6 * backlog.broker_cpu_s / applied,
        "system_cores": backlog.system_cpu_s / backlog.wall_s,
        "destination_cores": backlog.server_cpu_s / backlog.wall_s,
        "other_load_cores": backlog.other_cpu_s / backlog.wall_s,
        "peak_rss_mb": system.peak_rss_mb,
    }
    if rate is not None:
        figures.update(
            p50_ms=rate.latency.p50_ms, p99_ms=rate.latency.p99_ms, p999_ms=rate.latency.p999_ms,
            max_ms=rate.latency.max_ms,
        )  # fmt: skip
    if failing is not None:
        figures.update(
            failing_healthy_per_s=failing.healthy.per_s,
            healthy_drop_pct=healthy_drop_pct(backlog.healthy.per_s, failing.healthy.per_s),
            failing_late=failing.receipts.lost,  # healthy ones not there when the phase's wait ended
            recovered=system.recovered.applied if system.recovered else None,
            recovery_lost=system.recovered.lost if system.recovered else None,
            injected_failures=system.recovered.failed_requests if system.recovered else None,
        )
    return figures


def headline_system(throughputs: Mapping[str, float], ceiling_processes: int) -> str | None:
    """The crmbus system the headline reports: the one with as many processes as the ceiling when it
    was measured (like for like), else the fastest; None when only the ceiling ran."""
    if not throughputs:
        return None
    like_for_like = f"crmbus{ceiling_processes}"
    return like_for_like if like_for_like in throughputs else max(throughputs, key=lambda label: throughputs[label])


def figures(systems: Sequence[SystemResult], ceiling_processes: int) -> Report:
    """The headline (``headline_system``) then every figure per system as ``<system>_<figure>``."""
    per_system = {s.label: _system_figures(s) for s in systems}
    ceiling = per_system.get("ceiling")
    ours = {label: f for label, f in per_system.items() if label != "ceiling"}
    chosen = headline_system({label: f["throughput_per_s"] for label, f in ours.items()}, ceiling_processes)
    shown = ours[chosen] if chosen is not None else None
    ceiling_rate = ceiling["throughput_per_s"] if ceiling else None
    headline: Report = {
        "throughput_per_s": shown["throughput_per_s"] if shown else None,
        "p50_ms": shown.get("p50_ms") if shown else None,
        "p99_ms": shown.get("p99_ms") if shown else None,
        "lost": sum(f["lost"] for f in ours.values()) if ours else None,
        "duplicates": sum(f["duplicates"] for f in ours.values()) if ours else None,
        "redeliveries": sum(f["redeliveries"] for f in ours.values()) if ours else None,
        "healthy_drop_pct": shown.get("healthy_drop_pct") if shown else None,
        "ceiling_throughput_per_s": ceiling_rate,
        "ceiling_ratio": shown["throughput_per_s"] / ceiling_rate if shown and ceiling_rate else None,
        "headline_system": chosen,
        "ceiling_lost": ceiling["lost"] if ceiling else None,
    }
    for label, values in per_system.items():
        headline.update({f"{label}_{key}": value for key, value in values.items()})
    return headline


def system_table(title: str, systems: Sequence[SystemResult]) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        caption="warm-up, rate: events into the lane (latency from each event's scheduled send to the destination's "
        "arrival time); backlog, failing: Delivery records straight into the deliver topics (del/s = first "
        "applications after the last record was written; healthy = crm + marketing; in 'failing' zapi answers "
        "503 and only the healthy ones are counted, lost = not there when its wait ended; 'healed: all' = every "
        "delivery of that backlog once zapi healed, lost = never arrived). cores = CPU s / wall s; other = the "
        "rest of the machine, the bench's generator included",
        caption_justify="left",
    )
    for column in (
        "system", "phase", "deliveries", "applied", "lost", "dup", "redeliv", "failed", "del/s", "healthy/s",
        "share", "p50", "p99", "p99.9", "max", "system cores", "dest cores", "kafka cores", "other cores",
    ):  # fmt: skip
        table.add_column(column, justify="left" if column in ("system", "phase") else "right", no_wrap=True)
    for system in systems:
        for phase in system.phases:
            r, drained = phase.receipts, phase.name in ("backlog", "failing")
            latency = phase.latency if phase.timed else Latency.of([])
            table.add_row(
                system.label, phase.name + ("" if phase.settled else " (unsettled)"), _num(r.expected),
                _num(r.applied), _num(r.lost) if not r.lost else f"[red]{r.lost:,}[/]", _num(r.duplicates),
                _num(r.redeliveries), _num(r.failed_requests), _num(phase.drain.per_s) if drained else "",
                _num(phase.healthy.per_s) if drained else "", f"{phase.drain.share:.0%}" if drained else "",
                _num(latency.p50_ms, 1), _num(latency.p99_ms, 1), _num(latency.p999_ms, 1), _num(latency.max_ms, 1),
                f"{phase.system_cpu_s / phase.wall_s:.2f}", f"{phase.server_cpu_s / phase.wall_s:.2f}",
                f"{phase.broker_cpu_s / phase.wall_s:.2f}", f"{phase.other_cpu_s / phase.wall_s:.2f}",
            )  # fmt: skip
        if system.recovered is not None:
            r = system.recovered
            table.add_row(
                system.label, "healed: all", _num(r.expected), _num(r.applied),
                _num(r.lost) if not r.lost else f"[red]{r.lost:,}[/]", _num(r.duplicates), _num(r.redeliveries),
                _num(r.failed_requests), *[""] * 11,
            )  # fmt: skip
    return table


_SUMMARY_COLUMNS = (
    ("del/s (backlog)", "throughput_per_s", 0),
    ("healthy/s", "healthy_per_s", 0),
    ("healthy/s, zapi failing", "failing_healthy_per_s", 0),
    ("drop %", "healthy_drop_pct", 1),
    ("p50 ms", "p50_ms", 1),
    ("p99 ms", "p99_ms", 1),
    ("lost", "lost", 0),
    ("dup", "duplicates", 0),
    ("redeliv", "redeliveries", 0),
    ("CPU µs/del", "cpu_us_per_delivery", 0),
    ("dest µs/del", "destination_cpu_us_per_delivery", 0),
    ("kafka µs/del", "broker_cpu_us_per_delivery", 0),
    ("RSS MiB", "peak_rss_mb", 0),
)


def summary(title: str, report: Mapping[str, object], labels: Sequence[str]) -> Table:
    table = Table(
        title=title, title_justify="left", caption="CPU: the system's processes, the destination server, the broker"
    )
    table.add_column("system", justify="left")
    for heading, _, _ in _SUMMARY_COLUMNS:
        table.add_column(heading, justify="right")
    for label in labels:
        table.add_row(label, *(_num(report.get(f"{label}_{key}"), d) for _, key, d in _SUMMARY_COLUMNS))
    return table
