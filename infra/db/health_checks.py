"""The proactive checks' results (``health_checks``): one row per probed destination, its latest state.

The probe job writes every destination it checked (``record``) and drops the rows of those no
longer probed (deleted, disabled, or of a tenant no longer active); a provider's session webhook
(Z-API's disconnected callback, WAHA's ``session.status``) updates the session of the destinations
of that tenant, kind and instance between two probes (``session_event``). Readers get the rows
(``all``, for the console) or bare kinds and states (``rows``, for gauges and ``/health/detailed``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from infra.db.errors import translated
from infra.db.models import HealthCheck
from streams.probes import CheckRow, Probe, ProbeStatus, SessionStatus


@dataclass(frozen=True, slots=True)
class Checked:
    """One destination's probe, as the job hands it to ``record``."""

    endpoint_id: str
    tenant_id: str
    kind: str
    instance: str | None
    probe: Probe


@dataclass(frozen=True, slots=True)
class HealthCheckView:
    endpoint_id: str
    tenant_id: str
    kind: str
    probe_status: ProbeStatus
    session_status: SessionStatus | None
    error_class: str | None
    checked_at: datetime
    session_changed_by: str | None


class HealthChecks:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @translated("recording health checks")
    def record(self, checked: Sequence[Checked], now: datetime | None = None) -> None:
        """Store each destination's probe (replacing its last one) and forget the destinations
        not in ``checked``: this run's set is the whole set."""
        at = now or datetime.now(UTC)
        with Session(self._engine) as session, session.begin():
            kept = [uuid.UUID(one.endpoint_id) for one in checked]
            session.execute(delete(HealthCheck).where(HealthCheck.endpoint_id.not_in(kept)))
            for one in checked:
                values = {
                    "tenant_id": one.tenant_id,
                    "kind": one.kind,
                    "instance": one.instance,
                    "probe_status": one.probe.status,
                    "session_status": one.probe.session,
                    "error_class": one.probe.error_class,
                    "checked_at": at,
                    "session_changed_by": None if one.probe.session is None else "probe",
                }
                statement = insert(HealthCheck).values(endpoint_id=uuid.UUID(one.endpoint_id), **values)
                session.execute(statement.on_conflict_do_update(index_elements=["endpoint_id"], set_=values))

    @translated("recording a WhatsApp session event")
    def session_event(
        self, tenant_id: str, kind: str, instance: str, session_status: SessionStatus, reason: str | None
    ) -> int:
        """A provider said its session changed: update the tenant's destinations of ``kind`` on
        that instance (how many). One not probed yet is recorded at the next probe."""
        with Session(self._engine) as session, session.begin():
            updated = session.execute(
                update(HealthCheck)
                .where(HealthCheck.tenant_id == tenant_id, HealthCheck.kind == kind, HealthCheck.instance == instance)
                .values(
                    session_status=session_status,
                    error_class=None if session_status == "connected" else f"session_{reason or 'disconnected'}",
                    checked_at=datetime.now(UTC),
                    session_changed_by="event",
                )
                .returning(HealthCheck.endpoint_id)
            ).all()
        return len(updated)

    @translated("reading health checks")
    def rows(self) -> list[CheckRow]:
        """Every stored check's kind and states, for the gauges and ``/health/detailed``."""
        query = select(HealthCheck.kind, HealthCheck.probe_status, HealthCheck.session_status)
        with self._engine.connect() as connection:
            return [CheckRow(kind, probe, session) for kind, probe, session in connection.execute(query)]

    @translated("reading health checks")
    def all(self, tenant_id: str | None = None) -> list[HealthCheckView]:
        """The stored checks (of one tenant), worst first: down, then disconnected, then by tenant."""
        query = select(HealthCheck)
        if tenant_id is not None:
            query = query.where(HealthCheck.tenant_id == tenant_id)
        with Session(self._engine) as session:
            found = session.scalars(query).all()
        views = [
            HealthCheckView(
                str(row.endpoint_id), row.tenant_id, row.kind,
                row.probe_status,  # type: ignore[arg-type]  # the check constraint's values
                row.session_status,  # type: ignore[arg-type]
                row.error_class, row.checked_at, row.session_changed_by,
            )
            for row in found
        ]  # fmt: skip
        return sorted(
            views, key=lambda v: (v.probe_status == "up", v.session_status != "disconnected", v.tenant_id, v.kind)
        )
