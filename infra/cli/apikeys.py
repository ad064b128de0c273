"""``crmbus apikeys create|list|revoke|rotate``: API keys (stored as SHA-256 only) and what they may do.

``create --platform --role admin`` makes the first operator's key with database access only: the
bootstrap path before any key exists to call the admin API with."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import typer
from rich.console import Console
from rich.table import Table

from infra.cli.seeding import show_unconfigured, stand_ins
from infra.cli.wiring import repositories
from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys, KeyView
from schemas.catalogue import parse_duration_ms
from streams.errors import ConfigurationError
from streams.scopes import ROLES, SCOPES, parse_scopes, role_of, role_scopes

app = typer.Typer(help="Tenants' API keys.", no_args_is_help=True)
console = Console()


@contextmanager
def _keys() -> Iterator[ApiKeys]:
    with repositories(Settings()) as store:
        yield store.api_keys


def _owner(view: KeyView) -> str:
    return f"tenant {view.tenant_id!r}" if view.tenant_id is not None else "the platform"


def _show_secret(view: KeyView, secret: str) -> None:
    console.print(f"key id {view.id} for {_owner(view)} ({view.name}): {_role(view)}")
    console.print(f"[bold]{secret}[/]", highlight=False, soft_wrap=True)
    console.print("Store it now: only its hash is kept, it cannot be shown again.")


def _role(view: KeyView) -> str:
    return role_of(view.scopes) or ",".join(sorted(view.scopes))


@app.command("create")
def create(
    tenant: str | None = typer.Option(None, help="Tenant id (created with the seed flows if missing)."),
    name: str = typer.Option("default", help="What the key is for, e.g. 'site' or 'zapi'."),
    tenant_name: str | None = typer.Option(None, help="Display name of a new tenant."),
    role: str = typer.Option("producer", help=f"What it may do: {', '.join(ROLES)}."),
    scopes: str | None = typer.Option(
        None,
        help=f"Exact scopes instead of a role, comma-separated: {', '.join(SCOPES)}.",
    ),
    platform: bool = typer.Option(
        False,
        "--platform",
        help="A key of no tenant, for the bus's operators (needs admin).",
    ),
) -> None:
    """Create a key; its secret is printed once. A new tenant's destinations needing a credential are listed."""
    if (tenant is None) != platform:
        raise ConfigurationError("give --tenant, or --platform for an operators' key of no tenant")
    try:
        granted = parse_scopes(scopes.split(",")) if scopes is not None else role_scopes(role)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    settings = Settings()
    with repositories(settings) as store:
        created = store.api_keys.create(tenant, name, tenant_name, scopes=granted, stand_ins=stand_ins(settings, store))
        destinations = store.endpoints.list(tenant) if tenant is not None else []
    _show_secret(*created)
    show_unconfigured(console, destinations)


@app.command("list")
def list_keys(tenant: str | None = typer.Option(None, help="Only this tenant's keys.")) -> None:
    """Keys with their state; never their secrets."""
    table = Table(title="API keys")
    for column in ("id", "tenant", "name", "prefix", "role or scopes", "created", "expires", "state"):
        table.add_column(column)
    with _keys() as keys:
        listed = keys.list(tenant)
    for key in listed:
        state = "revoked" if key.revoked_at else ("rotating out" if key.expires_at else "active")
        expires = f"{key.expires_at:%Y-%m-%d %H:%M}" if key.expires_at else ""
        table.add_row(
            str(key.id), key.tenant_id or "(platform)", key.name, key.display_prefix, _role(key),
            f"{key.created_at:%Y-%m-%d}", expires, state,
        )  # fmt: skip
    console.print(table)


@app.command("revoke")
def revoke(key_id: uuid.UUID) -> None:
    """Stop a key at once."""
    with _keys() as keys:
        view = keys.revoke(key_id)
    console.print(f"key {view.id} of {_owner(view)} revoked")


@app.command("rotate")
def rotate(
    key_id: uuid.UUID,
    overlap: str = typer.Option("24h", help="How long the old key keeps working (e.g. 30m, 24h, 7d)."),
) -> None:
    """Issue a replacement; the old key works until the overlap ends."""
    with _keys() as keys:
        _show_secret(*keys.rotate(key_id, overlap=timedelta(milliseconds=parse_duration_ms(overlap))))
