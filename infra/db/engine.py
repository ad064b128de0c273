"""Engines for the configured database, optionally confined to one schema (tests, tenants' sandboxes).

``Engine`` and ``URL`` are re-exported for the composition root (``infra.cli.wiring``), which builds
the engine and hands it to the repositories: above ``infra/db`` nothing imports SQLAlchemy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from infra.core.settings import Settings
from infra.db.errors import translated

__all__ = ["URL", "Engine", "database_url", "make_engine", "ping", "scoped_engine"]

# Its DEBUG records cost CPU even when filtered late, and quote statements' parameters: payloads.
logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


def database_url(settings: Settings) -> URL:
    """``CRMBUS_DATABASE_URL``, parsed; its password stays out of ``str()``."""
    return make_url(settings.database_url.get_secret_value())


def make_engine(
    url: URL,
    schema: str | None = None,
    pool_size: int = 5,
    *,
    pre_ping: bool = True,
    parameters: Mapping[str, str] | None = None,
) -> Engine:
    """An engine whose sessions see ``schema`` first (``public`` when None) and run with the
    PostgreSQL ``parameters`` given. ``pre_ping`` checks each connection taken from the pool
    (one round trip more per use, none of them failing on a connection the server dropped)."""
    # Given here, libpq's ``options`` replace the URL's own (tests put a search_path there): keep both.
    options = [str(value) for value in (url.query.get("options"),) if value]
    options += [f"-csearch_path={schema}"] if schema else []
    options += [f"-c{name}={value}" for name, value in (parameters or {}).items()]
    connect_args = {"options": " ".join(options)} if options else {}
    return create_engine(url, pool_size=pool_size, pool_pre_ping=pre_ping, connect_args=connect_args)


@contextmanager
def scoped_engine(url: URL, schema: str | None = None) -> Iterator[Engine]:
    """An engine for one command: its pooled connections are closed when the block ends."""
    engine = make_engine(url, schema, pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()


@translated("answering a ping")
def ping(engine: Engine) -> None:
    """Return once PostgreSQL answered ``SELECT 1``; ServiceUnreachableError when it does not."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
