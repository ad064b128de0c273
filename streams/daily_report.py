"""The daily report: what the bus did on one day (UTC), for one tenant or all, as data and as text
or JSON (``streams.report_html`` renders it as HTML).

Only counts, kinds, error class names, tenant ids and job names: never a payload, a phone, an
e-mail address or an error message, so the report can be mailed and kept anywhere.

- ``events``: events the router decided on that day, by type;
- ``deliveries``: attempts per destination kind by outcome, and the failed ones by error class;
- ``dlq``: letters archived that day, letters replayed that day, and those open when the report
  was made (a discard records no time, so it counts only as no longer open);
- ``sla``: each (tenant, destination) judged on the day's attempts (``streams.delivery_sla``);
- ``jobs``: the periodic jobs' runs whose tick fell on the day (sync jobs included);
- ``whatsapp``: each WhatsApp destination's latest check when the report was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from streams.delivery_sla import DeliveryFigures, DeliverySla, judge, percent_down


@dataclass(frozen=True, slots=True)
class DestinationDay:
    destination: str
    delivered: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)
    """Failed attempts (retrying or dead-lettered) by error class."""


@dataclass(frozen=True, slots=True)
class DlqDay:
    opened: int
    replayed: int
    open_now: int


@dataclass(frozen=True, slots=True)
class SlaLine:
    tenant_id: str
    destination: str
    verdict: str
    attempts: int
    success: str | None
    p95_ms: float | None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JobDay:
    job: str
    runs: int
    succeeded: int
    failed: int
    unfinished: int


@dataclass(frozen=True, slots=True)
class SessionLine:
    tenant_id: str
    provider: str
    probe: str
    session: str | None
    error_class: str | None
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class DailyReport:
    day: date
    tenant_id: str | None
    generated_at: datetime
    events: Mapping[str, int]
    deliveries: tuple[DestinationDay, ...]
    dlq: DlqDay
    sla: tuple[SlaLine, ...]
    jobs: tuple[JobDay, ...]
    whatsapp: tuple[SessionLine, ...]

    @property
    def events_total(self) -> int:
        return sum(self.events.values())

    @property
    def sla_breached(self) -> int:
        return sum(line.verdict == "breached" for line in self.sla)


def sla_lines(figures: Mapping[tuple[str, str], DeliveryFigures], sla: DeliverySla) -> tuple[SlaLine, ...]:
    """Each (tenant, destination)'s verdict on the day's attempts, the breached first."""
    lines = []
    for (tenant, destination), figure in figures.items():
        judged = judge(figure, sla)
        rate = figure.success_rate
        success = None if rate is None else percent_down(rate)
        lines.append(
            SlaLine(tenant, destination, judged.verdict, figure.attempts, success, figure.p95_ms, judged.reasons)
        )
    return tuple(sorted(lines, key=lambda line: (line.verdict != "breached", line.tenant_id, line.destination)))


def to_json(report: DailyReport) -> dict[str, Any]:
    """The report as JSON-able data: dates and moments in ISO-8601."""
    data = asdict(report)
    data["day"] = report.day.isoformat()
    data["generated_at"] = report.generated_at.isoformat()
    data["events_total"] = report.events_total
    for line in data["whatsapp"]:
        line["checked_at"] = line["checked_at"].isoformat()
    for line in data["sla"]:
        line["reasons"] = list(line["reasons"])
    return data


def render_text(report: DailyReport) -> str:
    """The report for a terminal or a plain-text e-mail."""
    scope = f"tenant {report.tenant_id}" if report.tenant_id else "all tenants"
    out = [f"crmbus daily report for {report.day.isoformat()} (UTC), {scope}", ""]
    out.append(f"Events: {report.events_total}")
    out += [f"  {kind:<40} {count:>8}" for kind, count in sorted(report.events.items())]
    out += ["", "Deliveries (attempts):", f"  {'destination':<14} {'delivered':>10} {'retrying':>10} {'dead':>8}"]
    for line in report.deliveries:
        out.append(f"  {line.destination:<14} {line.delivered:>10} {line.retrying:>10} {line.dead_lettered:>8}")
        out += [f"    {reason:<38} {count:>8}" for reason, count in sorted(line.failures.items())]
    dlq = report.dlq
    out += ["", f"DLQ: {dlq.opened} opened, {dlq.replayed} replayed, {dlq.open_now} open now"]
    out += ["", f"SLA: {report.sla_breached} of {len(report.sla)} destinations breached"]
    for sla in report.sla:
        why = f" ({'; '.join(sla.reasons)})" if sla.reasons else ""
        out.append(f"  {sla.verdict:<9} {sla.tenant_id} {sla.destination}: {sla.attempts} attempts{why}")
    out += ["", "Jobs:"] + (
        [f"  {job.job:<24} {job.succeeded} ok, {job.failed} failed, {job.unfinished} unfinished" for job in report.jobs]
        or ["  none ran"]
    )
    out += ["", "WhatsApp sessions:"] + (
        [
            f"  {s.tenant_id} {s.provider}: {s.session or '-'} (probe {s.probe}"
            f"{', ' + s.error_class if s.error_class else ''}) at {s.checked_at.isoformat(timespec='seconds')}"
            for s in report.whatsapp
        ]
        or ["  none checked"]
    )
    return "\n".join(out) + "\n"
