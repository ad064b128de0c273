"""``crmbus destinations list|add|set``: where a tenant's deliveries go, and with which credentials.

Secrets are read from standard input (``--secret-stdin``), never from the command line, where
``ps`` and shell histories would show them; they are stored sealed and never printed. A
destination is never left enabled without the credential its kind needs: the error prints the
command that sets it, and setting it resumes the routes paused for its lack.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from infra.cli.wiring import repositories
from infra.core.settings import Settings
from infra.db.endpoints import Endpoints, EndpointView
from streams.errors import ConfigurationError

app = typer.Typer(help="A tenant's destinations (CRM, Financeiro, Z-API, WAHA, e-mail, ...).", no_args_is_help=True)
console = Console(soft_wrap=True)


@contextmanager
def _endpoints() -> Iterator[Endpoints]:
    with repositories(Settings()) as store:
        yield store.endpoints


def _config(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"--config is not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ConfigurationError("--config must be a JSON object")
    return value


def _secret(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    secret = sys.stdin.readline().strip()
    if not secret:
        raise ConfigurationError("--secret-stdin: standard input held no secret")
    return secret


def _show(view: EndpointView) -> None:
    state = ("enabled" if view.enabled else "disabled") + (", paused" if view.paused_at else "")
    secret = "secret set" if view.has_secret else "no secret"
    config = json.dumps(view.config, ensure_ascii=False, sort_keys=True)
    line = f"{view.tenant_id}  {view.name}  {view.kind}  {view.url}  {state}  {secret}  {config}"
    if view.missing:
        line += f"  needs {', '.join(view.missing)}: {view.setup_command()}"
    console.print(line, markup=False, highlight=False)
    if view.resumed:
        console.print(f"{view.resumed} routes to it were paused for lack of its credential: resumed", highlight=False)


@app.command("list")
def list_destinations(tenant: str | None = typer.Option(None, help="Only this tenant's destinations.")) -> None:
    """Destinations, one per line: tenant, name, kind, URL, state, whether a secret is set, config."""
    with _endpoints() as endpoints:
        for view in endpoints.list(tenant):
            _show(view)


@app.command("add")
def add(
    tenant: str = typer.Option(..., help="Tenant id."),
    name: str = typer.Option(..., help="Name routes refer to, e.g. waha."),
    kind: str = typer.Option(
        ..., help="crm, financeiro, zapi, waha, email, marketing, webhook, sms_twilio, sms_zenvia or rest."
    ),
    url: str = typer.Option(
        ..., help="Base URL (https; http only to loopback when allowed); smtp:// or smtps:// for e-mail over SMTP."
    ),
    config: str | None = typer.Option(None, help='JSON object, e.g. \'{"session": "default"}\'.'),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read the credential from standard input."),
) -> None:
    """Add a destination to a tenant."""
    with _endpoints() as endpoints:
        _show(endpoints.add(tenant, name, kind, url, config=_config(config), secret=_secret(secret_stdin)))


@app.command("set")
def set_destination(
    tenant: str = typer.Option(..., help="Tenant id."),
    name: str = typer.Option(..., help="Destination name."),
    url: str | None = typer.Option(None, help="New base URL."),
    config: str | None = typer.Option(None, help="JSON merged into the config (a key set to null is removed)."),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read a new credential from standard input."),
    enabled: bool | None = typer.Option(None, "--enable/--disable", help="Turn the destination on or off."),
) -> None:
    """Change a destination; workers pick the change up within CRMBUS_ROUTES_POLL_S."""
    with _endpoints() as endpoints:
        _show(
            endpoints.update(
                tenant, name, url=url, config=_config(config), secret=_secret(secret_stdin), enabled=enabled
            )
        )


@app.command("pause")
def pause(
    tenant: str = typer.Option(..., help="Tenant id."), name: str = typer.Option(..., help="Destination name.")
) -> None:
    """Hold a destination: its deliveries wait in a retry tier, none attempted or dead-lettered, until resumed."""
    with _endpoints() as endpoints:
        _show(endpoints.pause(tenant, name))


@app.command("resume")
def resume(
    tenant: str = typer.Option(..., help="Tenant id."), name: str = typer.Option(..., help="Destination name.")
) -> None:
    """Let a paused destination's deliveries go again (within CRMBUS_ROUTES_POLL_S and a retry tier's turn)."""
    with _endpoints() as endpoints:
        _show(endpoints.resume(tenant, name))
