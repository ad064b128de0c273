"""``crmbus db migrate``: Alembic migrations to head."""

from __future__ import annotations

import typer
from rich.console import Console

from infra.core.settings import Settings
from infra.db.engine import scoped_engine
from infra.db.migrate import upgrade

app = typer.Typer(help="The PostgreSQL schema.", no_args_is_help=True)


@app.command("migrate")
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    with scoped_engine(Settings().database) as engine:
        upgrade(engine)
    Console().print("database: migrated to head")
