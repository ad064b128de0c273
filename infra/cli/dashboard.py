"""``crmbus dashboard``: the operator dashboard in the foreground."""

from __future__ import annotations

import typer

from infra.cli.runners import announced, serve_console
from infra.core.settings import Settings


def dashboard(
    host: str | None = typer.Option(None, help="Listen address (default CRMBUS_DASHBOARD_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CRMBUS_DASHBOARD_PORT)."),
) -> None:
    """Run the operator console (deliveries and SLA, DLQ, workers, consumer lag; retry, replay, pause) until Ctrl-C."""
    overrides = {"dashboard_host": host, "dashboard_port": port}
    settings = Settings().model_copy(update={k: v for k, v in overrides.items() if v is not None})
    sign_in = "a key of role viewer, operator or admin (crmbus apikeys create --role operator)"
    with announced(settings, "dashboard", url=dashboard_url(settings), sign_in=sign_in):
        raise typer.Exit(serve_console(settings))


def dashboard_url(settings: Settings) -> str:
    return f"http://{settings.dashboard_host}:{settings.dashboard_port}/dashboard"
