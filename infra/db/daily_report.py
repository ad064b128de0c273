"""The daily report's figures from PostgreSQL: aggregates only (counts per kind, type, class), never
a payload, an excerpt or an error message. ``streams.daily_report`` says what each part means."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select, true

from infra.db.delivery_stats import DeliveryStats
from infra.db.errors import translated
from infra.db.models import DeadLetter, EventStatus, HealthCheck, JobRun, WebhookDelivery
from streams.daily_report import DailyReport, DestinationDay, DlqDay, JobDay, SessionLine, sla_lines
from streams.delivery_sla import DeliverySla
from streams.probes import WHATSAPP_KINDS

_FAILED = ("retrying", "dead_lettered")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[day, day + 1) in UTC."""
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def _of(column: Any, tenant_id: str | None) -> ColumnElement[bool]:
    return true() if tenant_id is None else column == tenant_id


class DailyReports:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @translated("reading the daily report's figures")
    def report(
        self, day: date, sla: DeliverySla, tenant_id: str | None = None, now: datetime | None = None
    ) -> DailyReport:
        start, end = day_bounds(day)
        with self._engine.connect() as connection:
            events = connection.execute(
                select(EventStatus.event_type, func.count())
                .where(EventStatus.decided_at >= start, EventStatus.decided_at < end)
                .where(_of(EventStatus.tenant_id, tenant_id))
                .group_by(EventStatus.event_type)
            ).all()
            attempts = WebhookDelivery
            in_day = (attempts.created_at >= start, attempts.created_at < end, _of(attempts.tenant_id, tenant_id))
            outcomes = connection.execute(
                select(attempts.destination, attempts.status, func.count())
                .where(*in_day, attempts.status.in_(("delivered", *_FAILED)))
                .group_by(attempts.destination, attempts.status)
            ).all()
            reasons = connection.execute(
                select(attempts.destination, func.coalesce(attempts.error_class, "unknown"), func.count())
                .where(*in_day, attempts.status.in_(_FAILED))
                .group_by(attempts.destination, attempts.error_class)
            ).all()
            letters = DeadLetter
            mine = _of(letters.tenant_id, tenant_id)
            opened = connection.scalar(
                select(func.count()).where(mine, letters.created_at >= start, letters.created_at < end)
            )
            replayed = connection.scalar(
                select(func.count()).where(mine, letters.replayed_at >= start, letters.replayed_at < end)
            )
            open_now = connection.scalar(select(func.count()).where(mine, letters.status == "open"))
            # Runs are not a tenant's: every report shows them.
            jobs = connection.execute(
                select(JobRun.job, JobRun.outcome, func.count())
                .where(JobRun.tick >= start, JobRun.tick < end)
                .group_by(JobRun.job, JobRun.outcome)
            ).all()
            sessions = connection.execute(
                select(
                    HealthCheck.tenant_id, HealthCheck.kind, HealthCheck.probe_status, HealthCheck.session_status,
                    HealthCheck.error_class, HealthCheck.checked_at,
                )
                .where(HealthCheck.kind.in_(WHATSAPP_KINDS), _of(HealthCheck.tenant_id, tenant_id))
                .order_by(HealthCheck.tenant_id, HealthCheck.kind, HealthCheck.checked_at)
            ).all()  # fmt: skip
        figures = DeliveryStats(self._engine).figures_since(start, end, tenant_id)
        return DailyReport(
            day=day,
            tenant_id=tenant_id,
            generated_at=now or datetime.now(UTC),
            events={kind: count for kind, count in events},
            deliveries=_deliveries(outcomes, reasons),
            dlq=DlqDay(opened or 0, replayed or 0, open_now or 0),
            sla=sla_lines(figures, sla),
            jobs=_jobs(jobs),
            whatsapp=tuple(SessionLine(*row) for row in sessions),
        )


def _deliveries(outcomes: Any, reasons: Any) -> tuple[DestinationDay, ...]:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for destination, status, count in outcomes:
        counts[destination][status] = count
    failures: dict[str, dict[str, int]] = defaultdict(dict)
    for destination, reason, count in reasons:
        failures[destination][reason] = count
    return tuple(
        DestinationDay(
            destination,
            counts[destination].get("delivered", 0),
            counts[destination].get("retrying", 0),
            counts[destination].get("dead_lettered", 0),
            failures.get(destination, {}),
        )
        for destination in sorted(counts)
    )


def _jobs(rows: Any) -> tuple[JobDay, ...]:
    tally: dict[str, dict[str | None, int]] = defaultdict(dict)
    for job, outcome, count in rows:
        tally[job][outcome] = count
    return tuple(
        JobDay(job, sum(by.values()), by.get("succeeded", 0), by.get("failed", 0), by.get(None, 0))
        for job, by in sorted(tally.items())
    )
