"""``crmbus db migrate``: Alembic migrations to head."""

from __future__ import annotations

import typer
from rich.console import Console

from infra.db.engine import make_engine
from infra.db.migrate import upgrade
from infra.settings import Settings

app = typer.Typer(help="The PostgreSQL schema.", no_args_is_help=True)


@app.command("migrate")
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    upgrade(make_engine(Settings().database))
    Console().print("database: migrated to head")
