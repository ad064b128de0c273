"""Read-only figures of the delivery history for the operator dashboard: attempts per tenant and
destination over a window, and the open DLQ grouped by tenant, destination and error class.

PostgreSQL aggregates (counts, ``percentile_cont``) so that a day of attempts never travels to
the dashboard row by row. Only ids, counts, latencies and error class names are read: never a
payload, response excerpt, error message or header.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, and_, func, select, true, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.types import String

from infra.db.errors import translated
from infra.db.models import DeadLetter, WebhookDelivery
from streams.bus_health import DeadLetterGroup
from streams.delivery_sla import DeliveryFigures

_ATTEMPTED = ("delivered", "retrying", "dead_lettered")  # 'duplicate' was skipped, never sent


class DeliveryStats:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @translated("reading delivery figures")
    def figures_since(
        self, since: datetime, until: datetime | None = None, tenant_id: str | None = None
    ) -> dict[tuple[str, str], DeliveryFigures]:
        """Attempts made at or after ``since`` (and before ``until``; of ``tenant_id``), per (tenant, destination)."""
        attempts = WebhookDelivery
        status = attempts.status
        last_error = type_coerce(
            func.array_agg(
                aggregate_order_by(attempts.error_class, attempts.created_at.desc(), attempts.id.desc())
            ).filter(attempts.error_class.is_not(None)),
            ARRAY(String),
        )[1]
        query = (
            select(
                attempts.tenant_id,
                attempts.destination,
                func.count().filter(status == "delivered"),
                func.count().filter(status == "retrying"),
                func.count().filter(status == "dead_lettered"),
                func.percentile_cont(0.5).within_group(attempts.latency_ms),
                func.percentile_cont(0.95).within_group(attempts.latency_ms),
                last_error,
            )
            .where(
                and_(
                    status.in_(_ATTEMPTED),
                    attempts.created_at >= since,
                    true() if until is None else attempts.created_at < until,
                    true() if tenant_id is None else attempts.tenant_id == tenant_id,
                )
            )
            .group_by(attempts.tenant_id, attempts.destination)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return {
            (tenant, destination): DeliveryFigures(delivered, retrying, dead, p50, p95, error)
            for tenant, destination, delivered, retrying, dead, p50, p95, error in rows
        }

    @translated("reading the open DLQ")
    def open_dead_letters(self) -> list[DeadLetterGroup]:
        """Open DLQ records by tenant, destination and error class, the longest-waiting group first."""
        letters = DeadLetter
        failed_at = func.min(func.coalesce(letters.last_failure_at, letters.created_at)).label("oldest")
        count = func.count().label("open_records")
        query = (
            select(letters.tenant_id, letters.destination, letters.error_class, count, failed_at)
            .where(letters.status == "open")
            .group_by(letters.tenant_id, letters.destination, letters.error_class)
            .order_by(failed_at, count.desc())
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [DeadLetterGroup(tenant, dest, error, count, oldest) for tenant, dest, error, count, oldest in rows]
