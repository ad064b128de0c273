"""The ``crmbus`` command line: the composition root, the one place that wires everything."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from infra.cli import (
    apikeys,
    dashboard,
    database,
    demo,
    destinations,
    dlq,
    events,
    keys,
    monitoring,
    outbox,
    registry,
    report,
    retention,
    routes,
    sandbox,
    services,
    sources,
    subjects,
    sync,
    tenants,
    topics,
    types,
)
from streams.errors import CrmbusError

app = typer.Typer(
    name="crmbus",
    help="A Kafka-native integration and event bus for CRM ecosystems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
services.register(app)
app.add_typer(topics.app, name="topics")
app.add_typer(database.app, name="db")
app.add_typer(registry.app, name="schemas")
app.add_typer(apikeys.app, name="apikeys")
app.add_typer(sources.app, name="sources")
app.add_typer(dlq.app, name="dlq")
app.add_typer(monitoring.app, name="monitoring")
app.add_typer(retention.app, name="retention")
app.add_typer(events.app, name="events")
app.add_typer(destinations.app, name="destinations")
app.add_typer(tenants.app, name="tenants")
app.add_typer(routes.app, name="routes")
app.add_typer(types.app, name="types")
app.add_typer(keys.app, name="keys")
app.add_typer(subjects.app, name="subject")
app.add_typer(outbox.app, name="outbox")
app.add_typer(sync.app, name="sync")
app.command("sandbox")(sandbox.sandbox)
app.command("demo")(demo.demo)
app.command("dashboard")(dashboard.dashboard)
app.command("report")(report.report)


def main() -> None:
    """Entry point of the ``crmbus`` console script: typed errors become one clear line."""
    try:
        app()
    except CrmbusError as exc:
        # soft_wrap: one line whatever the terminal's width, so it can be read, grepped and compared.
        Console(stderr=True).print(f"[bold red]{type(exc).__name__}:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
