"""``crmbus dlq replay``: the DLQ replay script."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console

from connectors.kafka.security import librdkafka_client
from infra.cli.dlq_replay import ReplayReport, replay
from infra.cli.wiring import repositories
from infra.core.settings import Settings
from infra.db.errors import error_name
from schemas.topic_names import TopicNames
from streams.dead_letter import ERROR_CLASS, ORIGINAL_OFFSET, ORIGINAL_PARTITION, ORIGINAL_TOPIC, STAGE
from streams.errors import ConfigurationError, ServiceUnreachableError, StoreError
from streams.replay_filter import ReplayFilter, parse_since

app = typer.Typer(help="The dead-letter queue (crmbus.dlq).", no_args_is_help=True)
console = Console()
_SAMPLE = 5


@app.command("replay")
def replay_command(
    tenant: str | None = typer.Option(None, help="Only this tenant's records."),
    destination: str | None = typer.Option(None, help="Only deliveries to this destination (crm, zapi, ...)."),
    error_class: str | None = typer.Option(None, help="Only this error class, e.g. TransientDeliveryError."),
    since: str | None = typer.Option(None, help="Failed at or after: ISO-8601, or 2h / 30m / 7d ago."),
    until: str | None = typer.Option(None, help="Failed before: ISO-8601, or 2h / 30m / 7d ago."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count and show a sample; send nothing."),
) -> None:
    """Send the selected DLQ records back to the topic they failed on, marked as a replay."""
    settings = Settings()
    now = datetime.now(UTC)
    try:
        selection = ReplayFilter(
            tenant, destination, error_class,
            parse_since(since, now) if since else None, parse_since(until, now) if until else None,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigurationError(f"--since/--until: {exc}") from exc
    report = replay(librdkafka_client(settings), TopicNames(settings.topic_prefix).dlq, selection, dry_run=dry_run)
    if not dry_run and report.selected:
        _mark_archived(settings, report)
    verb = "would replay" if dry_run else "replayed"
    console.print(f"dlq: scanned {report.scanned}, {verb} {len(report.selected)}")
    for item in report.selected[:_SAMPLE]:
        console.print(
            f"  {item.topic}[{item.partition}]@{item.offset} → {item.target}  "
            f"{item.headers.get(STAGE, '?')} {item.headers.get(ERROR_CLASS, '?')}",
            highlight=False,
        )


def _mark_archived(settings: Settings, report: ReplayReport) -> None:
    """The archive's rows of what was replayed say so; PostgreSQL being away does not undo the replay."""
    origins = [
        (item.headers.get(ORIGINAL_TOPIC, ""), int(item.headers.get(ORIGINAL_PARTITION, -1)),
         int(item.headers.get(ORIGINAL_OFFSET, -1)))
        for item in report.selected
    ]  # fmt: skip
    try:
        with repositories(settings) as store:
            store.delivery_log.mark_replayed(origins)
    except (ServiceUnreachableError, StoreError) as exc:
        console.print(f"dlq: replayed, but the archive was not updated ({error_name(exc)})")
