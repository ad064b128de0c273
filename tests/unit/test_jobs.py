"""Periodic jobs: the claim decides who runs a tick; a failing job is recorded and the others go on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from agents.jobs import Job, JobRunner
from streams.errors import ServiceUnreachableError
from streams.ticks import tick_of

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 5, 10, 7, tzinfo=UTC)


class Runs:
    """The claims as PostgreSQL keeps them: the first claim of a (job, tick) wins."""

    def __init__(self, reachable: bool = True) -> None:
        self.claimed: set[tuple[str, datetime]] = set()
        self.finished: dict[tuple[str, datetime], tuple[str, dict[str, Any]]] = {}
        self.reachable = reachable

    def claim(self, job: str, tick: datetime) -> bool:
        if not self.reachable:
            raise ServiceUnreachableError("PostgreSQL unreachable while claiming a job's run")
        first = (job, tick) not in self.claimed
        self.claimed.add((job, tick))
        return first

    def finish(self, job: str, tick: datetime, outcome: str, details: dict[str, Any]) -> None:
        self.finished[(job, tick)] = (outcome, details)

    def heartbeat(self, job: str, tick: datetime) -> None: ...

    def consecutive_failures(self, job: str) -> int:
        return sum(1 for (name, _), (outcome, _) in self.finished.items() if name == job and outcome == "failed")


def _job(name: str, ran: list[datetime], fails: bool = False) -> Job:
    async def run(tick: datetime) -> dict[str, Any]:
        ran.append(tick)
        if fails:
            raise RuntimeError("destination unreachable")
        return {"dropped": 1}

    return Job(name, partial(tick_of, every_s=300), run)


def test_a_tick_runs_once_however_many_times_it_is_looked_at():
    runs, ran = Runs(), []
    runner = JobRunner(runs, [_job("retention", ran)], heartbeat_s=60)  # type: ignore[arg-type]
    for _ in range(3):
        asyncio.run(runner.run_due(NOW))
    assert ran == [datetime(2026, 12, 5, 10, 5, tzinfo=UTC)]
    assert runs.finished == {("retention", ran[0]): ("succeeded", {"dropped": 1})}


def test_a_failing_job_is_recorded_failed_and_the_next_job_still_runs():
    runs, failed, ran = Runs(), [], []
    runner = JobRunner(runs, [_job("probes", failed, fails=True), _job("report", ran)], heartbeat_s=60)  # type: ignore[arg-type]
    asyncio.run(runner.run_due(NOW))
    assert runs.finished[("probes", failed[0])] == ("failed", {"error": "RuntimeError"})
    assert runs.finished[("report", ran[0])][0] == "succeeded"


def test_postgresql_away_skips_the_look_without_raising():
    ran: list[datetime] = []
    asyncio.run(JobRunner(Runs(reachable=False), [_job("retention", ran)], heartbeat_s=60).run_due(NOW))  # type: ignore[arg-type]
    assert ran == []
