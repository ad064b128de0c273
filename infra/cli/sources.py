"""``crmbus sources add|list|revoke``: webhook endpoints for tenants' sources."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from infra.cli.wiring import repositories
from infra.core.settings import Settings
from infra.db.inbound_sources import SOURCES, InboundSources

app = typer.Typer(help="Webhook endpoints of tenants' sources (Z-API, WAHA, site, CRM, Operacao, Financeiro).")
console = Console()


@contextmanager
def _sources(settings: Settings) -> Iterator[InboundSources]:
    with repositories(settings) as store:
        yield store.sources


@app.command("add")
def add(
    tenant: str = typer.Option(..., help="Tenant id (must exist)."),
    source: str = typer.Option(..., help=f"One of: {', '.join(SOURCES)}."),
    name: str = typer.Option("default", help="A label for this endpoint."),
) -> None:
    """Create an endpoint; its URL token (and signing secret) are printed once."""
    settings = Settings()
    with _sources(settings) as sources:
        endpoint = sources.add(tenant, source, name)
    console.print(f"endpoint {endpoint.id} for tenant {tenant!r}, source {source}")
    url = f"http://{settings.ingress_host}:{settings.ingress_port}/v1/webhooks/{source}/{endpoint.token}"
    console.print(f"webhook URL: [bold]{url}[/]", highlight=False, soft_wrap=True)
    if endpoint.signing_secret:
        header = "X-Webhook-Hmac (HMAC-SHA512)" if source == "waha" else "X-Crmbus-Timestamp + X-Crmbus-Signature"
        console.print(f"signing secret ({header}): [bold]{endpoint.signing_secret}[/]", highlight=False, soft_wrap=True)
    console.print("Store them now: they cannot be shown again.")


@app.command("list")
def list_endpoints(tenant: str | None = typer.Option(None, help="Only this tenant's endpoints.")) -> None:
    """Endpoints and their state; never their tokens or secrets."""
    table = Table(title="webhook endpoints")
    for column in ("id", "tenant", "source", "name", "signed", "state"):
        table.add_column(column)
    with _sources(Settings()) as sources:
        rows = sources.list(tenant)
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        signed = "yes" if row.signing_secret_encrypted else "no"
        table.add_row(str(row.id), row.tenant_id, row.source, row.name, signed, state)
    console.print(table)


@app.command("revoke")
def revoke(endpoint_id: uuid.UUID) -> None:
    """Stop an endpoint (within the ingress's cache TTL)."""
    with _sources(Settings()) as sources:
        sources.revoke(endpoint_id)
    console.print(f"endpoint {endpoint_id} revoked")
