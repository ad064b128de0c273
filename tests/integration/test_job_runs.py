"""A periodic job's tick runs once across processes, and a run abandoned by a killed process is taken over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.db.job_runs import JobRuns

pytestmark = pytest.mark.integration
TICK = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def test_only_the_first_process_to_claim_a_tick_runs_it(migrated):
    first = JobRuns(migrated, "host-a:1", lease=timedelta(minutes=5))
    second = JobRuns(migrated, "host-b:2", lease=timedelta(minutes=5))
    assert first.claim("retention", TICK)
    assert not second.claim("retention", TICK)
    assert second.claim("retention", TICK + timedelta(hours=1))
    assert second.claim("health-probes", TICK)


def test_a_finished_run_is_never_claimed_again(migrated):
    runs = JobRuns(migrated, "host-a:1", lease=timedelta(0))
    assert runs.claim("report", TICK)
    runs.finish("report", TICK, "succeeded", {"rows": 3})
    assert not JobRuns(migrated, "host-b:2", lease=timedelta(0)).claim("report", TICK)
    [run] = runs.recent("report")
    assert (run.outcome, run.details, run.owner) == ("succeeded", {"rows": 3}, "host-a:1")


def test_an_unfinished_run_whose_heartbeat_lapsed_is_taken_over(migrated):
    killed = JobRuns(migrated, "host-a:1", lease=timedelta(minutes=5))
    assert killed.claim("sync", TICK)
    assert not JobRuns(migrated, "host-b:2", lease=timedelta(minutes=5)).claim("sync", TICK)
    assert JobRuns(migrated, "host-b:2", lease=timedelta(0)).claim("sync", TICK)
    assert killed.recent("sync")[0].owner == "host-b:2"


def test_consecutive_failures_count_back_to_the_last_success(migrated):
    runs = JobRuns(migrated, "host-a:1", lease=timedelta(minutes=5))
    for hour, outcome in enumerate(("failed", "succeeded", "failed", "failed")):
        tick = TICK + timedelta(hours=hour)
        runs.claim("sync", tick)
        runs.finish("sync", tick, outcome)  # type: ignore[arg-type]
    assert runs.consecutive_failures("sync") == 2


def test_pruning_deletes_old_finished_runs_but_never_a_jobs_latest_tick(migrated):
    runs = JobRuns(migrated, "host-a:1", lease=timedelta(minutes=5))
    monthly = [TICK - timedelta(days=62), TICK - timedelta(days=31)]  # its latest is older than the cut, still current
    hourly = [TICK - timedelta(hours=hours) for hours in (3, 2, 1)]
    for job, ticks in (("monthly", monthly), ("hourly", hourly)):
        for tick in ticks:
            runs.claim(job, tick)
            runs.finish(job, tick, "succeeded")
    runs.claim("unfinished", TICK - timedelta(days=90))
    runs.claim("unfinished", TICK)
    finished_before = datetime.now(UTC) + timedelta(seconds=1)  # every finished run is "old" for this cut

    assert runs.prune(finished_before, dry_run=True) == 3
    assert len(runs.recent("hourly")) == 3  # a dry run deletes nothing
    assert runs.prune(finished_before) == 3
    assert [run.tick for run in runs.recent("monthly")] == [monthly[-1]]
    assert [run.tick for run in runs.recent("hourly")] == [hourly[-1]]
    assert len(runs.recent("unfinished")) == 2  # an unfinished run is kept whatever its age
    assert not JobRuns(migrated, "host-b:2", lease=timedelta(minutes=5)).claim("monthly", monthly[-1])
