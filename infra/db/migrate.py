"""Run the Alembic migrations in ``migrations/`` programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from infra.db.errors import translated

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine, schema: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    config.attributes["schema"] = schema
    return config


@translated("migrating")
def upgrade(engine: Engine, schema: str | None = None, revision: str = "head") -> None:
    """Bring the database (or ``schema`` in it) to ``revision``."""
    command.upgrade(alembic_config(engine, schema), revision)


@translated("migrating")
def downgrade(engine: Engine, schema: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(engine, schema), revision)
