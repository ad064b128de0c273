"""Alembic environment: the engine (and optional schema) come from ``infra.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from infra.db.models import Base
from infra.db.partitions import compared

engine: Engine = context.config.attributes["engine"]
schema: str | None = context.config.attributes.get("schema")

with engine.connect() as connection:
    if schema:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text(f'SET search_path TO "{schema}"'))
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table_schema=schema,
        compare_type=True,
        include_name=compared,
    )
    with context.begin_transaction():
        context.run_migrations()
