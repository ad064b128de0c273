"""``crmbus db migrate``: Alembic migrations to head."""

from __future__ import annotations

import typer
from rich.console import Console

from infra.cli.wiring import repositories
from infra.core.settings import Settings

app = typer.Typer(help="The PostgreSQL schema.", no_args_is_help=True)


@app.command("migrate")
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    with repositories(Settings()) as store:
        store.migrate()
    Console().print("database: migrated to head")
