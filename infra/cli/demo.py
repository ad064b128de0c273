"""``crmbus demo``: post a realistic mix to the bus ``crmbus up`` runs and watch it delivered."""

from __future__ import annotations

import typer
from rich.console import Console

from infra.cli.wiring import repositories
from infra.core.settings import Settings
from infra.devtools.demo.mix import demo_events
from infra.devtools.demo.run import run_demo
from infra.devtools.demo_tenant import read_demo_key
from infra.devtools.sandbox.contracts import SYSTEMS, System

console = Console()


def demo(
    per_kind: int = typer.Option(4, min=1, max=200, help="Events of each kind (site lead, WhatsApp lead, …)."),
    failing: str = typer.Option("financeiro", help="The destination that fails for a while."),
    failures: int = typer.Option(5, min=0, help="How many calls to it fail (5 in a row open its circuit)."),
    timeout: float = typer.Option(150.0, help="Seconds to wait for every delivery due now."),
) -> None:
    """Post leads, clients, services and WhatsApp messages as the demo tenant, with one
    destination failing for a while, and show every delivery arrive at the sandbox."""
    if failing not in SYSTEMS:
        raise typer.BadParameter(f"one of {', '.join(SYSTEMS)}", param_hint="--failing")
    system: System = failing  # narrowed by the check above
    settings = Settings()
    api_key = read_demo_key(settings)
    if api_key is None:
        console.print("[red]no demo tenant here[/]: run 'crmbus up' first")
        raise typer.Exit(2)
    with repositories(settings, actor="crmbus demo") as store:
        code = run_demo(
            settings,
            store.routes,
            api_key,
            demo_events(per_kind),
            failing=system,
            failures=failures,
            timeout_s=timeout,
            console=console,
        )
    raise typer.Exit(code)
