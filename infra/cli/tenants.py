"""``crmbus tenants create|list|set|seed``: tenants, created with the seed flows at the sandbox
(with stand-in credentials when the sandbox answers, else paused until configured: ``seeding``),
and how each one's events are spread over partitions (``streams.partitioning``)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from infra.cli.seeding import show_unconfigured, stand_ins
from infra.cli.wiring import repositories
from infra.core.settings import Settings
from streams.partitioning import DEFAULT_PARTITIONING
from streams.seed_flows import SEED_DESTINATIONS, SEED_ROUTES

app = typer.Typer(help="Tenants and their seed flows.", no_args_is_help=True)
console = Console(soft_wrap=True)
_PARTITIONING_HELP = (
    "tenant: all its events in one partition, in order; entity: keyed by tenant and ordering key, "
    "in order per lead, client or conversation, spread over partitions (several routers share it)."
)


@app.command("create")
def create(
    tenant_id: str = typer.Argument(..., help="A slug: lower-case letters, digits, '-' and '_'."),
    name: str | None = typer.Option(None, help="Display name (default: the id)."),
    seed: bool = typer.Option(True, help="Start with the seed destinations and routes at the sandbox."),
    partitioning: str = typer.Option(DEFAULT_PARTITIONING, help=_PARTITIONING_HELP),
) -> None:
    """Create a tenant, with the seed flows unless --no-seed."""
    settings = Settings()
    with repositories(settings) as store:
        box = stand_ins(settings, store) if seed else None
        view = store.tenants.create(
            tenant_id, name, sandbox_url=settings.sandbox_url if seed else None, stand_ins=box,
            partitioning=partitioning,
        )  # fmt: skip
        destinations = store.endpoints.list(view.id)
    if seed:
        credentials = "with the sandbox's stand-in credentials" if box is not None else "without credentials"
        console.print(
            f"tenant {view.id!r} created with {len(SEED_DESTINATIONS)} destinations and {len(SEED_ROUTES)} routes "
            f"at the sandbox {settings.sandbox_url}, {credentials}; see them with "
            f"'crmbus routes list --tenant {view.id} --all'",
            highlight=False,
        )
        show_unconfigured(console, destinations)
    else:
        console.print(f"tenant {view.id!r} created without destinations or routes", highlight=False)


@app.command("list")
def list_tenants() -> None:
    """Every tenant and its status."""
    table = Table(title="tenants")
    for column in ("id", "name", "status", "partitioning", "created"):
        table.add_column(column)
    with repositories(Settings()) as store:
        listed = store.tenants.list()
    for tenant in listed:
        table.add_row(tenant.id, tenant.name, tenant.status, tenant.partitioning, f"{tenant.created_at:%Y-%m-%d}")
    console.print(table)


@app.command("set")
def set_tenant(
    tenant_id: str = typer.Argument(..., help="An existing tenant."),
    partitioning: str = typer.Option(..., help=_PARTITIONING_HELP),
) -> None:
    """Change how a tenant's events are spread over partitions (audited)."""
    settings = Settings()
    with repositories(settings) as store:
        view, before = store.tenants.set_partitioning(tenant_id, partitioning)
    if before == view.partitioning:
        console.print(f"tenant {view.id!r} already uses {view.partitioning} partitioning", highlight=False)
        return
    console.print(
        f"tenant {view.id!r}: partitioning {before} -> {view.partitioning}; the ingress applies it within "
        f"{settings.api_key_cache_ttl_s:g} s (its credential cache). Events of one entity accepted on both "
        "sides of that moment may be routed out of order with each other; later ones keep their order.",
        highlight=False,
    )


@app.command("seed")
def seed(tenant_id: str = typer.Argument(..., help="An existing tenant.")) -> None:
    """Add the seed destinations and routes a tenant lacks; what it has is left as it is."""
    settings = Settings()
    with repositories(settings) as store:
        result = store.tenants.seed(tenant_id, settings.sandbox_url, stand_ins(settings, store))
        destinations = store.endpoints.list(tenant_id)
    console.print(
        f"tenant {tenant_id!r}: {result.destinations_added} destinations and {result.routes_added} routes added "
        f"({result.paused} of them paused)",
        highlight=False,
    )
    for key in result.skipped:
        console.print(f"skipped {key}: the tenant's destination of that name is of another kind", highlight=False)
    show_unconfigured(console, destinations)
