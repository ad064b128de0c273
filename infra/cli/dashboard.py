"""``crmbus dashboard``: the operator dashboard in the foreground."""

from __future__ import annotations

import typer
from rich.console import Console

from infra.cli.runners import serve_console
from infra.core.settings import Settings

console = Console()


def dashboard(
    host: str | None = typer.Option(None, help="Listen address (default CRMBUS_DASHBOARD_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CRMBUS_DASHBOARD_PORT)."),
) -> None:
    """Run the operator console (deliveries and SLA, DLQ, workers, consumer lag; retry, replay, pause) until Ctrl-C."""
    overrides = {"dashboard_host": host, "dashboard_port": port}
    settings = Settings().model_copy(update={k: v for k, v in overrides.items() if v is not None})
    console.print(
        f"dashboard: {dashboard_url(settings)}  (JSON: /dashboard/api/overview); sign in with a key of role "
        "viewer, operator or admin (crmbus apikeys create --role operator)"
    )
    raise typer.Exit(serve_console(settings))


def dashboard_url(settings: Settings) -> str:
    return f"http://{settings.dashboard_host}:{settings.dashboard_port}/dashboard"
