"""``crmbus sandbox``: the sandbox destinations in the foreground, for the systems around the bus."""

from __future__ import annotations

import typer
from yarl import URL

from infra.cli.runners import announced, serve_sandbox
from infra.core.settings import Settings
from infra.devtools.sandbox import CONTRACTS


def sandbox(
    host: str | None = typer.Option(None, help="Listen address (default: the host of CRMBUS_SANDBOX_URL)."),
    port: int | None = typer.Option(None, help="Port (default: the port of CRMBUS_SANDBOX_URL)."),
) -> None:
    """Run the sandbox destinations (CRM, Financeiro, Z-API, WAHA, e-mail, marketing, webhook, SMS) until Ctrl-C."""
    settings = Settings()
    configured = URL(settings.sandbox_url)
    host = host or configured.host or "127.0.0.1"
    port = port if port is not None else configured.port or 18100
    base = str(URL.build(scheme="http", host=host, port=port))
    contracts = [f"{c.method} {c.route} → {'/'.join(map(str, c.statuses))}" for c in CONTRACTS.values()]
    with announced(settings, "sandbox", url=base, control=f"{base}/_control", contracts=contracts):
        raise typer.Exit(serve_sandbox(settings, host, port))
