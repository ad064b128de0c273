"""Periodic jobs' runs in PostgreSQL: each (job, tick) runs once across every process and host.

``claim`` inserts the run's row; the process whose insert wins runs it, the others see the row
and skip the tick. A run that never finishes (its process killed) keeps a heartbeat; once that
is older than the lease, ``claim`` hands the tick to the next process that asks, so a tick is
not lost with the process that held it. A job that must not overlap a slow run of itself keeps
``heartbeat`` calls shorter than the lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, aliased

from infra.db.errors import translated
from infra.db.models import JobRun

Outcome = Literal["succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class JobRunView:
    job: str
    tick: datetime
    owner: str
    claimed_at: datetime
    finished_at: datetime | None
    outcome: Outcome | None
    details: dict[str, Any]


class JobRuns:
    def __init__(self, engine: Engine, owner: str, *, lease: timedelta) -> None:
        """``owner`` names this process in the rows it claims (host and pid)."""
        self._engine, self._owner, self._lease = engine, owner, lease

    @translated("claiming a job's run")
    def claim(self, job: str, tick: datetime) -> bool:
        """Whether this process runs ``job`` for ``tick``: it inserted the run, or took over one
        abandoned unfinished (heartbeat older than the lease)."""
        now = datetime.now(UTC)
        with Session(self._engine) as session, session.begin():
            inserted = session.execute(
                insert(JobRun)
                .values(job=job, tick=tick, owner=self._owner, claimed_at=now, heartbeat_at=now)
                .on_conflict_do_nothing(index_elements=["job", "tick"])
                .returning(JobRun.job)
            ).first()
            if inserted is not None:
                return True
            taken = session.execute(
                update(JobRun)
                .where(
                    JobRun.job == job,
                    JobRun.tick == tick,
                    JobRun.finished_at.is_(None),
                    JobRun.heartbeat_at < now - self._lease,
                )
                .values(owner=self._owner, heartbeat_at=now)
                .returning(JobRun.job)
            ).first()
            return taken is not None

    @translated("a job run's heartbeat")
    def heartbeat(self, job: str, tick: datetime) -> None:
        """Say the run is alive, so no other process takes it over."""
        with Session(self._engine) as session, session.begin():
            session.execute(
                update(JobRun)
                .where(JobRun.job == job, JobRun.tick == tick, JobRun.owner == self._owner)
                .values(heartbeat_at=datetime.now(UTC))
            )

    @translated("finishing a job's run")
    def finish(self, job: str, tick: datetime, outcome: Outcome, details: dict[str, Any] | None = None) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(
                update(JobRun)
                .where(JobRun.job == job, JobRun.tick == tick)
                .values(finished_at=datetime.now(UTC), outcome=outcome, details=details or {})
            )

    @translated("reading a job's runs")
    def recent(self, job: str, limit: int = 20, *, offset: int = 0) -> list[JobRunView]:
        """The job's latest runs, newest tick first (past the ``offset`` newest)."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(JobRun).where(JobRun.job == job).order_by(JobRun.tick.desc()).offset(offset).limit(limit)
            )
            return [
                JobRunView(
                    row.job, row.tick, row.owner, row.claimed_at, row.finished_at,
                    row.outcome,  # type: ignore[arg-type]  # the check constraint's values
                    row.details,
                )
                for row in rows
            ]  # fmt: skip

    @translated("pruning jobs' runs")
    def prune(self, before: datetime, *, dry_run: bool = False) -> int:
        """Delete the runs finished before ``before`` (with ``dry_run``, only count them), except
        each job's latest tick: a deleted current tick could be claimed, and run, again."""
        newer = aliased(JobRun)
        superseded = exists().where(newer.job == JobRun.job, newer.tick > JobRun.tick)
        old = (JobRun.finished_at < before, superseded)
        with Session(self._engine) as session, session.begin():
            if dry_run:
                return int(session.scalar(select(func.count()).select_from(JobRun).where(*old)) or 0)
            return len(session.execute(delete(JobRun).where(*old).returning(JobRun.job)).all())

    def consecutive_failures(self, job: str) -> int:
        """Failed finished runs since its last success."""
        count = 0
        for run in self.recent(job, limit=100):
            if run.outcome == "failed":
                count += 1
            elif run.outcome == "succeeded":
                break
        return count
