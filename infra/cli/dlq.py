"""``crmbus dlq``: the dead letters archived in PostgreSQL: list, replay, discard.

The CLI acts as a platform operator (database credentials): across tenants unless ``--tenant``.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from infra.cli.wiring import replayer, repositories
from infra.control.replay import PAGE
from infra.core.settings import Settings
from infra.db.dead_letters import DeadLetterView, ReplayRun
from streams.errors import ConfigurationError
from streams.replay_filter import ReplayFilter, parse_since

app = typer.Typer(help="The dead-letter queue (crmbus.dlq), as archived in PostgreSQL.", no_args_is_help=True)
console = Console()

_TENANT = typer.Option(None, help="Only this tenant's letters.")
_DESTINATION = typer.Option(None, help="Only deliveries to this destination (crm, zapi, ...).")
_ERROR_CLASS = typer.Option(None, help="Only this error class, e.g. TransientDeliveryError.")
_SINCE = typer.Option(None, help="Last failed at or after: ISO-8601, or 2h / 30m / 7d ago.")
_UNTIL = typer.Option(None, help="Last failed before: ISO-8601, or 2h / 30m / 7d ago.")


def _selection(
    destination: str | None, error_class: str | None, since: str | None, until: str | None, status: str | None = None
) -> ReplayFilter:
    now = datetime.now(UTC)
    try:
        return ReplayFilter(
            destination=destination, error_class=error_class, status=status,
            since=parse_since(since, now) if since else None, until=parse_since(until, now) if until else None,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigurationError(f"selection: {exc}") from exc


def _line(letter: DeadLetterView) -> str:
    failed = letter.last_failure_at.isoformat(timespec="seconds") if letter.last_failure_at else "?"
    return (
        f"{letter.id:>8}  {letter.tenant_id or '?'}  {letter.destination or '-'}  {letter.error_class}  "
        f"{letter.status}  {failed}  {letter.delivery_id or '-'}  {letter.original_topic}"
    )


@app.command("list")
def list_command(
    tenant: str | None = _TENANT,
    destination: str | None = _DESTINATION,
    error_class: str | None = _ERROR_CLASS,
    since: str | None = _SINCE,
    until: str | None = _UNTIL,
    status: str | None = typer.Option("open", help="open, replayed or discarded; 'all' for any."),
    after: int | None = typer.Option(None, help="Only letters after this id (the cursor the last page ended at)."),
    limit: int = typer.Option(50, min=1, max=1000, help="At most this many."),
) -> None:
    """The archived dead letters, oldest first: id, tenant, destination, error, status, last failure."""
    selection = _selection(destination, error_class, since, until, None if status == "all" else status)
    with repositories(Settings()) as store:
        letters = store.dead_letters.list(tenant, selection, after_id=after, limit=limit)
    for letter in letters:
        console.print(_line(letter), highlight=False, soft_wrap=True)
    if len(letters) == limit:
        console.print(f"more: --after {letters[-1].id}", highlight=False)


@app.command("replay")
def replay_command(
    tenant: str | None = _TENANT,
    destination: str | None = _DESTINATION,
    error_class: str | None = _ERROR_CLASS,
    since: str | None = _SINCE,
    until: str | None = _UNTIL,
    dry_run: bool = typer.Option(False, "--dry-run", help="Count and show a sample; send nothing."),
    resume: str | None = typer.Option(None, "--resume", help="Go on with this interrupted replay (its id)."),
    page: int = typer.Option(PAGE, min=1, max=10_000, help="Letters sent, acknowledged and marked at a time."),
) -> None:
    """Send the selected open letters back to the topic they failed on, marked as a replay.

    Sent letters are marked replayed and not selected again. Interrupted (Ctrl-C, a crash), the
    replay says its id: `--resume <id>` sends what is still open, without double deliveries."""
    selection = _selection(destination, error_class, since, until)
    settings = Settings()
    if dry_run:
        preview = asyncio.run(_preview(settings, tenant, selection))
        console.print(f"dlq: would replay {preview[0]}", highlight=False)
        for letter in preview[1]:
            console.print("  " + _line(letter), highlight=False, soft_wrap=True)
        return
    with _stop_on_interrupt() as stop:
        run = asyncio.run(_replay(settings, tenant, selection, resume, stop, page))
    if run.state == "done":
        console.print(f"dlq: replay {run.id}: replayed {run.sent} of {run.selected}", highlight=False)
    else:
        console.print(
            f"dlq: replay {run.id} interrupted after {run.sent} of {run.selected}: crmbus dlq replay --resume {run.id}",
            highlight=False,
        )
        raise typer.Exit(1)


async def _preview(settings: Settings, tenant: str | None, selection: ReplayFilter) -> tuple[int, list[DeadLetterView]]:
    async with replayer(settings) as engine:
        preview = await engine.preview(tenant, selection)
        return preview.count, preview.sample


async def _replay(
    settings: Settings,
    tenant: str | None,
    selection: ReplayFilter,
    resume: str | None,
    stop: threading.Event,
    page: int,
) -> ReplayRun:
    def started(run: ReplayRun) -> None:
        console.print(f"dlq: replay {run.id}: {run.selected} selected", highlight=False)

    async with replayer(settings, page=page) as engine:
        if resume is None:
            return await engine.start(tenant, selection, stop=stop, started=started)
        try:
            replay_id = uuid.UUID(resume)
        except ValueError:
            raise ConfigurationError(f"--resume: not a replay id: {resume!r}") from None
        return await engine.resume(replay_id, tenant_id=tenant, stop=stop)


@contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """Ctrl-C stops the replay between pages, so it ends marked interrupted, not half-marked."""
    stop = threading.Event()
    before = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, before)


@app.command("discard")
def discard_command(
    ids: Annotated[list[int], typer.Argument(help="The ids of the letters to discard (see 'crmbus dlq list').")],
    reason: str = typer.Option(..., "--reason", help="Why: kept with the letters and in the audit log."),
    tenant: str | None = typer.Option(None, help="Only if they are this tenant's."),
) -> None:
    """Discard open letters for good: never replayed, no longer counted in the DLQ's depth."""
    with repositories(Settings()) as store:
        done = store.dead_letters.discard(tenant, ids, reason)
    console.print(f"dlq: discarded {done} of {len(ids)}", highlight=False)
