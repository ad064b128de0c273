"""``crmbus sync list|run|pause|resume|history``: the tenants' sync jobs (``agents.sync``).

``run`` runs one job now, in this process, through the same claim as the workers: it claims
(``sync:<job id>``, now) in ``job_runs``, so its run is recorded beside the scheduled ones and
resumes from, and stores, the same durable position. A manual run beside a scheduled one is
safe: both produce the same delivery ids, which the sink delivers once.
"""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime, timedelta

import typer
from rich.console import Console
from rich.table import Table

from infra.cli.wiring import repositories, sync_runner
from infra.core.settings import Settings
from infra.db.job_runs import JobRuns
from infra.db.sync_jobs import SyncJobs, SyncJobView
from streams.errors import ConfigurationError
from streams.sync_jobs import claim_name

app = typer.Typer(help="Sync jobs: scheduled pulls from a system, delivered to a destination.", no_args_is_help=True)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "-"


def _show(jobs: list[SyncJobView]) -> None:
    table = Table(title="sync jobs")
    for column in ("tenant", "name", "enabled", "schedule", "next run", "last run", "outcome", "records", "failures"):
        table.add_column(column)
    now = datetime.now(UTC)
    for job in jobs:
        schedule = job.schedule.cron or f"every {job.schedule.every_s} s"
        table.add_row(
            job.tenant_id, job.name, "yes" if job.enabled else "no", schedule,
            _when(job.schedule.next_run(now)) if job.enabled else "-", _when(job.last_run_at),
            job.last_outcome or "-", str(job.last_records), str(job.consecutive_failures),
        )  # fmt: skip
    Console().print(table)


@app.command("list")
def list_(tenant: str | None = typer.Option(None, help="Only this tenant's jobs.")) -> None:
    """Every sync job: its schedule, next run and last outcome."""
    with repositories(Settings()) as store:
        _show(SyncJobs(store.engine).list(tenant))


@app.command("run")
def run(
    tenant: str = typer.Option(..., help="Tenant id."), name: str = typer.Option(..., help="Sync job name.")
) -> None:
    """Run one sync job now (enabled or not), from its stored position; exit 1 if it fails."""
    settings = Settings()
    with repositories(settings) as store:
        job = SyncJobs(store.engine).get(tenant, name)
        runs = JobRuns(
            store.engine, f"{socket.gethostname()}:{os.getpid()}", lease=timedelta(seconds=settings.jobs_lease_s)
        )
        tick = datetime.now(UTC).replace(microsecond=0)
        if not runs.claim(claim_name(job.id), tick):
            raise ConfigurationError("another run of this job claimed this second; try again")
        outcome = asyncio.run(sync_runner(settings, store.engine, store.endpoints, runs).run_claimed(job, tick))
        done = SyncJobs(store.engine).get(tenant, name)
    Console().print(f"{tenant}/{name}: {outcome}, {done.last_records} records" + (
        f" ({done.last_error})" if outcome == "failed" else ""
    ))  # fmt: skip
    if outcome == "failed":
        raise typer.Exit(1)


@app.command("pause")
def pause(
    tenant: str = typer.Option(..., help="Tenant id."), name: str = typer.Option(..., help="Sync job name.")
) -> None:
    """Stop scheduling a job (a run under way finishes); its position is kept."""
    with repositories(Settings()) as store:
        _show([SyncJobs(store.engine).update(tenant, name, enabled=False)])


@app.command("resume")
def resume(
    tenant: str = typer.Option(..., help="Tenant id."), name: str = typer.Option(..., help="Sync job name.")
) -> None:
    """Schedule a job again: it runs its latest tick at the workers' next look."""
    with repositories(Settings()) as store:
        _show([SyncJobs(store.engine).update(tenant, name, enabled=True)])


@app.command("history")
def history(
    tenant: str = typer.Option(..., help="Tenant id."),
    name: str = typer.Option(..., help="Sync job name."),
    limit: int = typer.Option(20, min=1, max=100, help="How many runs, newest first."),
) -> None:
    """A job's latest runs: tick, which process ran it, outcome, records or error class."""
    with repositories(Settings()) as store:
        job = SyncJobs(store.engine).get(tenant, name)
        runs = JobRuns(store.engine, "reader", lease=timedelta(0)).recent(claim_name(job.id), limit)
    table = Table(title=f"{tenant}/{name} runs")
    for column in ("tick", "owner", "claimed", "finished", "outcome", "details"):
        table.add_column(column)
    for one in runs:
        details = ", ".join(f"{key}={value}" for key, value in sorted(one.details.items()))
        table.add_row(
            _when(one.tick), one.owner, _when(one.claimed_at), _when(one.finished_at), one.outcome or "running", details
        )
    Console().print(table)
