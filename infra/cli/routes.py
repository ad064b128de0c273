"""``crmbus routes list|add|disable|enable|test``: which destinations act on which events.

``routes test`` runs a sample event through a tenant's routes exactly as a worker would
(``streams.routes.fan_out`` over the routes ``load_enabled`` compiles), without Kafka, so a
filter or mapping can be tried before real events meet it.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from infra.cli.wiring import repositories
from infra.core.settings import Settings
from streams.envelope import Envelope
from streams.errors import ConfigurationError, InvalidEventError, InvalidRouteError
from streams.routes import fan_out

app = typer.Typer(help="Routes: which events go, mapped, to which destinations.", no_args_is_help=True)
console = Console(soft_wrap=True)


def _json_option(text: str | None, field: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRouteError(f"{field}: is not valid JSON ({exc.msg} at position {exc.pos})", field=field) from None


def _compact(spec: Any) -> str:
    return json.dumps(spec, ensure_ascii=False, separators=(",", ":"))


def due_in(delay_seconds: int) -> str:
    """When a delivery is due, for people: ``now``, ``in 2h``, ``in 1h30m``, ``in 45s``."""
    if delay_seconds <= 0:
        return "now"
    hours, rest = divmod(delay_seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if value]
    return "in " + "".join(parts)


@app.command("list")
def list_routes(
    tenant: str | None = typer.Option(None, help="Only this tenant's routes."),
    event_type: str | None = typer.Option(None, "--type", help="Only routes of this event type."),
    show_all: bool = typer.Option(False, "--all", help="Disabled routes too."),
) -> None:
    """One route per line: id, tenant, type, destination and action, when due, state, filter.

    A route whose destination lacks its credential is ``paused``, with what to set (``--all`` shows it).
    """
    with repositories(Settings()) as store:
        listed = store.routes.list(tenant, event_type, include_disabled=show_all)
    for route in listed:
        state = "paused" if route.paused else "enabled" if route.enabled else "disabled"
        line = (
            f"{route.id}  {route.tenant_id}  {route.event_type} -> {route.destination} {route.action}"
            f"  due {due_in(route.delay_seconds)}  {state} v{route.version}"
        )
        if route.filter:
            line += f"  filter {_compact(route.filter)}"
        if route.paused:
            line += f"  ({route.paused})"
        console.print(line, markup=False, highlight=False)
    if not listed:
        console.print("no routes", highlight=False)


@app.command("add")
def add(
    tenant: str = typer.Option(..., help="Tenant id."),
    event_type: str = typer.Option(..., "--type", help="Event type, e.g. lead.created."),
    destination: str = typer.Option(..., help="Name of one of the tenant's destinations, e.g. crm or zapi."),
    action: str = typer.Option(..., help="The destination's operation, e.g. crm.upsert_lead."),
    filter_json: str | None = typer.Option(None, "--filter", help="Filter, as JSON (default: every event)."),
    mapping_json: str | None = typer.Option(None, "--mapping", help="Mapping, as JSON (default: the payload)."),
    delay: int = typer.Option(0, help="Seconds after the event's arrival the action is due."),
) -> None:
    """Add a route; its filter and mapping are checked against the event type's fields."""
    with repositories(Settings()) as store:
        view = store.routes.add(
            tenant,
            event_type,
            destination,
            action,
            filter=_json_option(filter_json, "filter"),
            mapping=_json_option(mapping_json, "mapping"),
            delay_seconds=delay,
        )
    console.print(
        f"route {view.id} added: {view.event_type} of tenant {view.tenant_id!r} -> {view.destination} "
        f"{view.action} ({due_in(view.delay_seconds)})",
        highlight=False,
    )
    if view.paused:
        console.print(f"it is paused until then: {view.paused}", markup=False, highlight=False)


@app.command("disable")
def disable(route_id: uuid.UUID) -> None:
    """Stop a route; workers drop it within CRMBUS_ROUTES_POLL_S."""
    with repositories(Settings()) as store:
        view = store.routes.disable(route_id)
    console.print(f"route {view.id} disabled (version {view.version})", highlight=False)


@app.command("enable")
def enable(route_id: uuid.UUID) -> None:
    """Start a disabled route again."""
    with repositories(Settings()) as store:
        view = store.routes.enable(route_id)
    console.print(f"route {view.id} enabled (version {view.version})", highlight=False)


def _read_event(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the event file: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(f"event: is not valid JSON ({exc.msg} at line {exc.lineno})", field="event") from None


@app.command("test")
def try_event(
    tenant: str = typer.Option(..., help="Tenant id."),
    event_type: str = typer.Option(..., "--type", help="Event type of the sample."),
    event: str = typer.Option(..., help="A JSON file with the sample payload, or - for standard input."),
) -> None:
    """Show what the tenant's enabled routes would send for a sample payload; nothing is sent."""
    with repositories(Settings()) as store:
        payload = store.event_types.catalogue().validate(tenant, event_type, _read_event(event))
        envelope = Envelope(tenant_id=tenant, type=event_type, source="crmbus-routes-test", payload=payload)
        routes = store.routes.load_enabled(tenant_id=tenant, event_type=event_type)
    if not routes:
        console.print(f"tenant {tenant!r} has no enabled route for {event_type}", highlight=False)
        return
    result = fan_out(envelope, routes)
    for delivery in result.deliveries:
        route = delivery.route
        console.print(
            f"[bold]{route.destination} {route.action}[/] route {route.id}, due {due_in(route.delay_seconds)}",
            highlight=False,
        )
        console.print(json.dumps(delivery.payload, ensure_ascii=False, indent=2), markup=False, highlight=False)
    for failure in result.failures:
        route, field = failure.route, failure.error.field or "mapping"
        rule = str(failure.error).removeprefix(f"{field}: ")
        console.print(
            f"{route.destination} {route.action} route {route.id} fails: MappingError on {field}: {rule}",
            style="bold red",
            highlight=False,
            markup=False,
        )
    unmatched = len(routes) - len(result.deliveries) - len(result.failures)
    console.print(
        f"{len(result.deliveries)} deliveries, {len(result.failures)} failing routes, "
        f"{unmatched} routes whose filter did not match",
        highlight=False,
    )
