"""``crmbus retention run|status``: the history tables' daily partitions, made ahead and dropped
once expired (the retention job does the same every ``CRMBUS_RETENTION_EVERY_S``)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import typer
from rich.console import Console
from rich.table import Table

from infra.cli.wiring import job_runs_pruned, partitions, repositories
from infra.core.settings import Settings
from infra.db.partitions import TableRetention

app = typer.Typer(help="Retention of the history tables: daily partitions, dropped whole.", no_args_is_help=True)


def _days(days: list[date]) -> str:
    return ", ".join(f"{day:%Y-%m-%d}" for day in days) or "-"


def _show(title: str, done: list[TableRetention], *, ran: bool) -> None:
    table = Table(title=title)
    for column in ("table", "partitions", "oldest day", "newest day", "rows in default"):
        table.add_column(column)
    table.add_column("created" if ran else "would create")
    table.add_column("dropped" if ran else "would drop")
    table.add_column("kept: open dead letters")
    for found in done:
        table.add_row(
            found.table, str(len(found.days)), _days(found.days[:1]), _days(found.days[-1:]), str(found.default_rows),
            str(len(found.created)), _days(found.dropped), _days(found.held),
        )  # fmt: skip
    Console().print(table)
    busy = [found.table for found in done if found.busy]
    if busy:
        Console().print(f"not dropped this time (tables busy, tried again next run): {', '.join(busy)}")


@app.command("run")
def run(dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be created and dropped.")) -> None:
    """Create today's and the next days' partitions and drop the expired ones, now."""
    settings = Settings()
    now = datetime.now(UTC)
    with repositories(settings) as store:
        done = partitions(settings, store.engine).run(now, dry_run=dry_run)
        pruned = job_runs_pruned(settings, store.engine, now, dry_run=dry_run)
    _show("retention (dry run)" if dry_run else "retention", done, ran=not dry_run)
    verb = "to delete" if dry_run else "deleted"
    Console().print(f"job runs older than {settings.retention_job_runs_days} days {verb}: {pruned}")


@app.command("status")
def status() -> None:
    """Each table's partitions, its oldest day, and what a run would create and drop now."""
    settings = Settings()
    with repositories(settings) as store:
        done = partitions(settings, store.engine).run(datetime.now(UTC), dry_run=True)
    _show("retention status", done, ran=False)
