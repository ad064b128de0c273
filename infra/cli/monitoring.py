"""``crmbus monitoring up|down|status``: Prometheus and Alertmanager on loopback, scraping the bus
with crmbus's alert rules (``infra.local.monitoring_node``)."""

from __future__ import annotations

import typer
from rich.console import Console

from infra.core.settings import Settings
from infra.local.monitoring_node import LocalMonitoring, scrape_targets

console = Console()
app = typer.Typer(help="Prometheus and Alertmanager with crmbus's alert rules, on loopback.", no_args_is_help=True)


@app.command("up")
def up() -> None:
    """Start Prometheus and Alertmanager (Debian's packages), or reuse the ones crmbus started."""
    settings = Settings()
    monitoring = LocalMonitoring(settings)
    started = monitoring.up()
    console.print("monitoring: started" if started else "monitoring: already running, reused")
    for target in scrape_targets(settings).values():
        console.print(f"  scraping {', '.join(target)}", highlight=False)
    _print(monitoring)


@app.command("down")
def down() -> None:
    """Stop the Prometheus and Alertmanager crmbus started."""
    console.print("monitoring: stopped" if LocalMonitoring(Settings()).down() else "monitoring: not running here")


@app.command("status")
def status() -> None:
    """Whether they answer, where, and where their logs are."""
    _print(LocalMonitoring(Settings()))


def _print(monitoring: LocalMonitoring) -> None:
    for server in monitoring.status():
        state = "[green]answering[/]" if server.answering else "[red]not answering[/]"
        console.print(f"{server.name}: {state} at {server.url}  (log {server.log_file})", soft_wrap=True)
    console.print(f"alerts: {monitoring.prometheus.url}/alerts  and  {monitoring.alertmanager.url}")
