"""``crmbus events search|replay``: one tenant's accepted events by time, from the event archive,
and a time range of them sent through the router again.

The CLI acts as a platform operator (database credentials). Search prints the archive's events
with their payloads (an operator with database access may read them); replay prints what it
sent from the lanes and from the archive.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import typer
from rich.console import Console

from infra.cli.wiring import event_replayer, repositories
from infra.control.event_replay import EventRange, EventReplayed
from infra.core.settings import Settings
from infra.db.event_archive import ArchivedEventView, EventQuery
from streams.errors import ConfigurationError
from streams.replay_filter import parse_since

app = typer.Typer(help="Accepted events: search the event archive, replay a time range.", no_args_is_help=True)
console = Console()

_TENANT = typer.Option(..., help="The tenant whose events.")
_FROM = typer.Option(..., "--from", help="Accepted at or after: ISO-8601, or 2h / 30m / 7d ago.")
_TO = typer.Option(None, "--to", help="Accepted before: ISO-8601, or 2h / 30m / 7d ago (default: now).")
_TYPE = typer.Option(None, "--type", help="Only this event type (repeat for several).")


def _range(start: str, end: str | None) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    try:
        return parse_since(start, now), parse_since(end, now) if end else now
    except ValueError as exc:
        raise ConfigurationError(f"--from/--to: {exc}") from exc


def _line(view: ArchivedEventView) -> str:
    return (
        f"{view.accepted_at.isoformat(timespec='milliseconds')}  {view.event_id}  {view.event_type}  "
        f"{view.entity_id or '-'}  {view.lane}  {view.topic}[{view.partition}]@{view.offset}"
    )


@app.command("search")
def search_command(
    tenant: str = _TENANT,
    start: str = _FROM,
    end: str | None = _TO,
    types: list[str] | None = _TYPE,
    entity: str | None = typer.Option(None, "--entity", help="Only this entity (a lead id, ...)."),
    payloads: bool = typer.Option(False, "--payloads", help="Print each event's envelope and payload as JSON."),
    after: str | None = typer.Option(None, help="Only events after this cursor (the one the last page ended at)."),
    limit: int = typer.Option(100, min=1, max=10_000, help="At most this many."),
) -> None:
    """The tenant's archived events accepted in [--from, --to), oldest first."""
    begin, finish = _range(start, end)
    query = EventQuery(begin, finish, types=frozenset(types or ()), entity_id=entity)
    with repositories(Settings()) as store:
        try:
            found = store.event_archive.search(tenant, query, after=after, limit=limit)
        except ValueError as exc:
            raise ConfigurationError(f"--after: not a cursor ({exc})") from exc
    for view in found:
        console.print(_line(view), highlight=False, soft_wrap=True)
        if payloads:
            envelope = view.envelope | {"payload": json.loads(view.envelope["payload"])}
            typer.echo(json.dumps(envelope, ensure_ascii=False))
    if len(found) == limit:
        console.print(f"more: --after '{found[-1].position}'", highlight=False)


@app.command("replay")
def replay_command(
    tenant: str = _TENANT,
    start: str = _FROM,
    end: str | None = _TO,
    types: list[str] | None = _TYPE,
    redeliver: bool = typer.Option(
        False, "--redeliver", help="Deliver again what was delivered (new delivery ids); else only the rest."
    ),
) -> None:
    """Send the tenant's events accepted in [--from, --to) through the router again: from the
    lanes where Kafka still holds the range, else from the event archive. Deliveries already
    delivered are skipped by the sinks unless --redeliver."""
    begin, finish = _range(start, end)
    try:
        selection = EventRange(tenant, begin, finish, frozenset(types or ()), redeliver)
    except ValueError as exc:
        raise ConfigurationError(f"--from/--to: {exc}") from exc
    done = asyncio.run(_replay(Settings(), selection))
    where = f" (archive for {', '.join(done.archived_partitions)})" if done.archived_partitions else ""
    console.print(
        f"events: replay {done.id}: {done.from_lanes} from the lanes, {done.from_archive} from the archive{where}",
        highlight=False,
        soft_wrap=True,
    )


async def _replay(settings: Settings, selection: EventRange) -> EventReplayed:
    async with event_replayer(settings) as engine:
        return await engine.replay(selection)
