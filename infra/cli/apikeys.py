"""``crmbus apikeys create|list|revoke|rotate``: tenants' API keys (stored as SHA-256 only)."""

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

app = typer.Typer(help="Tenants' API keys.", no_args_is_help=True)
console = Console()


@contextmanager
def _keys() -> Iterator[ApiKeys]:
    with repositories(Settings()) as store:
        yield store.api_keys


def _show_secret(view: KeyView, secret: str) -> None:
    console.print(f"key id {view.id} for tenant {view.tenant_id!r} ({view.name})")
    console.print(f"[bold]{secret}[/]", highlight=False, soft_wrap=True)
    console.print("Store it now: only its hash is kept, it cannot be shown again.")


@app.command("create")
def create(
    tenant: str = typer.Option(..., help="Tenant id (created with the seed flows if missing)."),
    name: str = typer.Option("default", help="What the key is for, e.g. 'site' or 'zapi'."),
    tenant_name: str | None = typer.Option(None, help="Display name of a new tenant."),
) -> None:
    """Create a key; its secret is printed once. A new tenant's destinations needing a credential are listed."""
    settings = Settings()
    with repositories(settings) as store:
        created = store.api_keys.create(tenant, name, tenant_name, stand_ins=stand_ins(settings, store))
        destinations = store.endpoints.list(tenant)
    _show_secret(*created)
    show_unconfigured(console, destinations)


@app.command("list")
def list_keys(tenant: str | None = typer.Option(None, help="Only this tenant's keys.")) -> None:
    """Keys with their state; never their secrets."""
    table = Table(title="API keys")
    for column in ("id", "tenant", "name", "prefix", "created", "expires", "state"):
        table.add_column(column)
    with _keys() as keys:
        listed = keys.list(tenant)
    for key in listed:
        state = "revoked" if key.revoked_at else ("rotating out" if key.expires_at else "active")
        expires = f"{key.expires_at:%Y-%m-%d %H:%M}" if key.expires_at else ""
        table.add_row(
            str(key.id), key.tenant_id, key.name, key.display_prefix, f"{key.created_at:%Y-%m-%d}", expires, state
        )
    console.print(table)


@app.command("revoke")
def revoke(key_id: uuid.UUID) -> None:
    """Stop a key at once."""
    with _keys() as keys:
        view = keys.revoke(key_id)
    console.print(f"key {view.id} of tenant {view.tenant_id!r} revoked")


@app.command("rotate")
def rotate(
    key_id: uuid.UUID,
    overlap: str = typer.Option("24h", help="How long the old key keeps working (e.g. 30m, 24h, 7d)."),
) -> None:
    """Issue a replacement; the old key works until the overlap ends."""
    with _keys() as keys:
        _show_secret(*keys.rotate(key_id, overlap=timedelta(milliseconds=parse_duration_ms(overlap))))
