"""Periodic jobs (retention, destination probes, the daily report): run once per tick across
every worker process and host.

Each process holding the ``archive`` role looks every ``CRMBUS_JOBS_CHECK_S`` at each job's
current tick (``Job.schedule``) and claims it in PostgreSQL (``infra.db.job_runs``); the one
whose claim wins runs the job, heartbeating while it runs, and records its outcome. A job that
raises is recorded failed and tried again at its next tick; the others go on. PostgreSQL
being away skips the look (a warning) and never stops the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infra.core.metrics import JOB_CONSECUTIVE_FAILURES, JOB_LAST_SUCCESS, JOB_RUN_SECONDS, JOB_RUNS
from infra.db.job_runs import JobRuns
from streams.errors import ServiceUnreachableError, StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    schedule: Callable[[datetime], datetime]
    """The tick a moment belongs to (``streams.ticks.tick_of`` or ``daily_tick``, partially applied)."""
    run: Callable[[datetime], Awaitable[dict[str, Any]]]
    """Does the tick's work; returns what to record of it (counts, never personal data)."""


class JobRunner:
    def __init__(self, runs: JobRuns, jobs: Sequence[Job], *, heartbeat_s: float) -> None:
        self._runs, self._jobs, self._heartbeat_s = runs, jobs, heartbeat_s

    async def run_due(self, now: datetime | None = None) -> None:
        """Claim and run each job whose current tick no process has run yet."""
        moment = now or datetime.now(UTC)
        for job in self._jobs:
            tick = job.schedule(moment)
            try:
                if await asyncio.to_thread(self._runs.claim, job.name, tick):
                    await self._run(job, tick)
            except (ServiceUnreachableError, StoreError) as exc:
                log.warning("periodic jobs skipped: %s", type(exc).__name__, extra={"job": job.name})
                return

    async def _run(self, job: Job, tick: datetime) -> None:
        began = time.monotonic()
        beating = asyncio.create_task(self._heartbeat(job.name, tick))
        try:
            details = await job.run(tick)
        except Exception as exc:  # noqa: BLE001 - a job's failure is recorded; the worker goes on
            outcome, details = "failed", {"error": type(exc).__name__}
            log.warning("job failed", extra={"job": job.name, "tick": tick.isoformat(), "error": type(exc).__name__})
        else:
            outcome = "succeeded"
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        JOB_RUN_SECONDS.labels(job=job.name).observe(time.monotonic() - began)
        JOB_RUNS.labels(job=job.name, outcome=outcome).inc()
        await asyncio.to_thread(self._runs.finish, job.name, tick, outcome, details)  # type: ignore[arg-type]
        if outcome == "succeeded":
            JOB_LAST_SUCCESS.labels(job=job.name).set(time.time())
        failures = await asyncio.to_thread(self._runs.consecutive_failures, job.name)
        JOB_CONSECUTIVE_FAILURES.labels(job=job.name).set(failures)

    async def _heartbeat(self, job: str, tick: datetime) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            await asyncio.to_thread(self._runs.heartbeat, job, tick)
