"""Sync jobs in PostgreSQL: their definitions, and each one's durable cursor and last outcome.

A run stores its position after every page it delivered (``save_page``), so a run killed mid-way
resumes where its last acknowledged page ended; the change cursor (``watermark``) only moves when
a run has read everything (``finish``), so a run that fails leaves the next one reading from the
same point. Which process runs a job's tick is decided in ``job_runs`` (``infra.db.job_runs``).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.db.audit import audit, audit_alone
from infra.db.errors import translated
from infra.db.models import SyncJob, Tenant
from streams.errors import ConfigurationError
from streams.mapping import compile_mapping
from streams.sync_jobs import Schedule, pull_spec

_ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class SyncJobView:
    id: uuid.UUID
    tenant_id: str
    name: str
    enabled: bool
    source: Mapping[str, Any]
    destination: Mapping[str, Any]
    schedule: Schedule
    position: Mapping[str, Any] | None
    watermark: Mapping[str, Any] | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_outcome: str | None
    last_error: str | None
    last_records: int
    consecutive_failures: int

    @classmethod
    def of(cls, row: SyncJob) -> SyncJobView:
        return cls(
            row.id, row.tenant_id, row.name, row.enabled, dict(row.source), dict(row.destination),
            Schedule.from_config(row.schedule), row.position, row.watermark, row.last_run_at,
            row.last_success_at, row.last_outcome, row.last_error, row.last_records, row.consecutive_failures,
        )  # fmt: skip


def checked_definition(
    source: Mapping[str, Any], destination: Mapping[str, Any], schedule: Mapping[str, Any]
) -> Schedule:
    """ConfigurationError naming what is wrong in a job's definition; its schedule when right."""
    if not isinstance(source.get("endpoint"), str) or not source["endpoint"]:
        raise ConfigurationError("source.endpoint must name one of the tenant's destinations", field="source.endpoint")
    try:
        pull_spec(source)
    except ConfigurationError as exc:
        raise ConfigurationError(f"source: {exc}", field=f"source.{exc.field}" if exc.field else "source") from None
    for key in ("endpoint", "action"):
        if not isinstance(destination.get(key), str) or not destination[key]:
            raise ConfigurationError(f"destination.{key} must be non-empty text", field=f"destination.{key}")
    mapping = destination.get("mapping", {})
    if not isinstance(mapping, Mapping):
        raise ConfigurationError("destination.mapping must be an object", field="destination.mapping")
    compile_mapping(mapping)
    return Schedule.from_config(schedule)


class SyncJobs:
    def __init__(self, engine: Engine, actor: str = "cli") -> None:
        """``actor`` names who changes jobs in the audit log (``key:<id>`` for the admin API)."""
        self._engine, self._actor = engine, actor

    @translated("adding a sync job")
    def add(
        self,
        tenant_id: str,
        name: str,
        *,
        source: Mapping[str, Any],
        destination: Mapping[str, Any],
        schedule: Mapping[str, Any],
        enabled: bool = False,
    ) -> SyncJobView:
        checked_definition(source, destination, schedule)
        row = SyncJob(
            id=uuid.uuid4(), tenant_id=tenant_id, name=name, enabled=enabled,
            source=dict(source), destination=dict(destination), schedule=dict(schedule),
        )  # fmt: skip
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                session.add(row)
                session.flush()
                self._audit(session, tenant_id, "sync_job.add", row.id, {"enabled": str(enabled).lower()})
        except IntegrityError as exc:
            raise ConfigurationError(f"tenant {tenant_id!r} is unknown or already has a sync job {name!r}") from exc
        return self.get(tenant_id, name)

    @translated("reading sync jobs")
    def list(self, tenant_id: str | None = None) -> builtins.list[SyncJobView]:
        query = select(SyncJob).order_by(SyncJob.tenant_id, SyncJob.name)
        if tenant_id is not None:
            query = query.where(SyncJob.tenant_id == tenant_id)
        with Session(self._engine) as session:
            return [SyncJobView.of(row) for row in session.scalars(query)]

    @translated("reading a sync job")
    def get(self, tenant_id: str, name: str) -> SyncJobView:
        with Session(self._engine) as session:
            row = session.scalars(select(SyncJob).where(SyncJob.tenant_id == tenant_id, SyncJob.name == name)).first()
            if row is None:
                raise ConfigurationError(f"tenant {tenant_id!r} has no sync job named {name!r}")
            return SyncJobView.of(row)

    @translated("changing a sync job")
    def update(
        self,
        tenant_id: str,
        name: str,
        *,
        source: Mapping[str, Any] | None = None,
        destination: Mapping[str, Any] | None = None,
        schedule: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> SyncJobView:
        """Change what is given; the definition is checked whole. A new source starts from the
        beginning: its position and watermark belonged to the old one."""
        current = self.get(tenant_id, name)
        checked_definition(
            source or current.source, destination or current.destination, schedule or current.schedule.to_config()
        )
        values: dict[str, Any] = {"updated_at": datetime.now(UTC)}
        if source is not None:
            values |= {"source": dict(source), "position": None, "watermark": None, "pending_watermark": None}
        if destination is not None:
            values["destination"] = dict(destination)
        if schedule is not None:
            values["schedule"] = dict(schedule)
        if enabled is not None:
            values["enabled"] = enabled
        changed = sorted(key for key in ("source", "destination", "schedule", "enabled") if key in values)
        with Session(self._engine) as session, session.begin():
            session.execute(
                update(SyncJob).where(SyncJob.tenant_id == tenant_id, SyncJob.name == name).values(**values)
            )
            self._audit(session, tenant_id, "sync_job.update", current.id, {"changed": ",".join(changed)})
        return self.get(tenant_id, name)

    @translated("auditing a sync job's run")
    def note_run(self, job: SyncJobView, tick: datetime) -> None:
        """Audit a run asked for by hand (the admin API's, claimed for ``tick``)."""
        audit_alone(
            self._engine, actor=self._actor, tenant_id=job.tenant_id, action="sync_job.run",
            target_type="sync_job", target_id=str(job.id), details={"tick": tick.isoformat()},
        )  # fmt: skip

    def _audit(self, session: Session, tenant_id: str, action: str, job_id: uuid.UUID, details: dict[str, str]) -> None:
        audit(
            session, actor=self._actor, tenant_id=tenant_id, action=action, target_type="sync_job",
            target_id=str(job_id), details=details,
        )  # fmt: skip

    @translated("loading sync jobs")
    def load_enabled(self) -> builtins.list[SyncJobView]:
        """Every enabled sync job of every active tenant."""
        query = (
            select(SyncJob)
            .join(Tenant, Tenant.id == SyncJob.tenant_id)
            .where(SyncJob.enabled, Tenant.status == _ACTIVE)
            .order_by(SyncJob.tenant_id, SyncJob.name)
        )
        with Session(self._engine) as session:
            return [SyncJobView.of(row) for row in session.scalars(query)]

    @translated("storing a sync job's position")
    def save_page(
        self, job_id: uuid.UUID, position: Mapping[str, Any] | None, watermark: Mapping[str, Any] | None
    ) -> None:
        """A page was delivered: the run under way resumes at ``position`` and, once it has read
        everything, keeps ``watermark``."""
        with Session(self._engine) as session, session.begin():
            session.execute(
                update(SyncJob)
                .where(SyncJob.id == job_id)
                .values(position=position, pending_watermark=watermark, updated_at=datetime.now(UTC))
            )

    @translated("finishing a sync job's run")
    def finish(self, job_id: uuid.UUID, *, error: str | None, records: int) -> None:
        """The run ended: read everything (``error`` None: the pending watermark becomes the
        watermark and the position is cleared) or failed (the position stays for the next run)."""
        now = datetime.now(UTC)
        values: dict[str, Any] = {"last_run_at": now, "last_records": records, "updated_at": now}
        if error is None:
            values |= {
                "watermark": SyncJob.pending_watermark,
                "position": None,
                "pending_watermark": None,
                "last_success_at": now,
                "last_outcome": "succeeded",
                "last_error": None,
                "consecutive_failures": 0,
            }
        else:
            values |= {
                "last_outcome": "failed",
                "last_error": error[:100],
                "consecutive_failures": SyncJob.consecutive_failures + 1,
            }
        with Session(self._engine) as session, session.begin():
            session.execute(update(SyncJob).where(SyncJob.id == job_id).values(**values))

    @translated("reading sync jobs' failures")
    def failures_by_name(self) -> dict[str, int]:
        """Per job name, the most consecutive failures any enabled job of that name has."""
        counts: dict[str, int] = {}
        for job in self.load_enabled():
            counts[job.name] = max(counts.get(job.name, 0), job.consecutive_failures)
        return counts
