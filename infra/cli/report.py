"""``crmbus report``: what the bus did on one day, as text, JSON or HTML (``streams.daily_report``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import typer

from infra.cli.wiring import report_sla, repositories
from infra.core.settings import Settings
from streams.daily_report import DailyReport, render_text, to_json
from streams.errors import ConfigurationError
from streams.report_html import render_html


class Format(StrEnum):
    text = "text"
    json = "json"
    html = "html"


_FORMAT = typer.Option(Format.text, "--format", help="text, json or html.")


def rendered(report: DailyReport, form: Format) -> str:
    if form is Format.json:
        return json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"
    return render_html(report) if form is Format.html else render_text(report)


def _day(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date() - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(f"--day must be a date as YYYY-MM-DD, not {value!r}") from None


def report(
    day: str | None = typer.Option(None, help="The day (UTC) as YYYY-MM-DD; default yesterday."),
    tenant: str | None = typer.Option(None, help="Only this tenant's events, deliveries, DLQ and sessions."),
    form: Format = _FORMAT,
) -> None:
    """Events by type, deliveries and failures by destination and reason, DLQ, SLA, jobs, WhatsApp."""
    settings = Settings()
    with repositories(settings, actor="cli") as repos:
        made = repos.daily_reports.report(_day(day), report_sla(settings), tenant)
    typer.echo(rendered(made, form), nl=False)
