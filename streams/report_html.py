"""The daily report as one self-contained HTML page (inline style, no script), for a browser or an
HTML e-mail. Every value is escaped; the report holds no personal data to begin with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from string import Template

from streams.daily_report import DailyReport

_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}td.n{text-align:right}
.breached,.down,.disconnected{color:#b00020;font-weight:bold}</style></head>
<body><h1>$title</h1>
<h2>Events: $events_total</h2>$events
<h2>Deliveries</h2>$deliveries
<h2>Failures by reason</h2>$failures
<h2>DLQ</h2>$dlq
<h2>SLA: $sla_breached of $sla_count breached</h2>$sla
<h2>Jobs</h2>$jobs
<h2>WhatsApp sessions</h2>$whatsapp
<p><small>Generated $generated_at</small></p></body></html>
""")


def _cell(value: object) -> str:
    if isinstance(value, int):
        return f'<td class="n">{value}</td>'
    text = "-" if value is None else str(value)
    marked = f' class="{text}"' if text in ("breached", "down", "disconnected") else ""
    return f"<td{marked}>{escape(text)}</td>"


def _table(headings: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    if not body:
        return "<p>None.</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: DailyReport) -> str:
    scope = f"tenant {report.tenant_id}" if report.tenant_id else "all tenants"
    failures = [(d.destination, reason, n) for d in report.deliveries for reason, n in sorted(d.failures.items())]
    return _PAGE.substitute(
        title=escape(f"crmbus daily report for {report.day.isoformat()} (UTC), {scope}"),
        events_total=report.events_total,
        events=_table(("type", "events"), sorted(report.events.items())),
        deliveries=_table(
            ("destination", "delivered", "retrying", "dead-lettered"),
            [(d.destination, d.delivered, d.retrying, d.dead_lettered) for d in report.deliveries],
        ),
        failures=_table(("destination", "error class", "attempts"), failures),
        dlq=_table(("opened", "replayed", "open now"), [(report.dlq.opened, report.dlq.replayed, report.dlq.open_now)]),
        sla_breached=report.sla_breached,
        sla_count=len(report.sla),
        sla=_table(
            ("tenant", "destination", "verdict", "attempts", "success", "why"),
            [(s.tenant_id, s.destination, s.verdict, s.attempts, s.success, "; ".join(s.reasons)) for s in report.sla],
        ),
        jobs=_table(
            ("job", "succeeded", "failed", "unfinished"),
            [(j.job, j.succeeded, j.failed, j.unfinished) for j in report.jobs],
        ),
        whatsapp=_table(
            ("tenant", "provider", "probe", "session", "error class", "checked at"),
            [
                (s.tenant_id, s.provider, s.probe, s.session, s.error_class, s.checked_at.isoformat(timespec="seconds"))
                for s in report.whatsapp
            ],
        ),
        generated_at=escape(report.generated_at.isoformat(timespec="seconds")),
    )
