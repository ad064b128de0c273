"""SQLAlchemy's errors, and the driver's it wraps (psycopg's, as ``DBAPIError``), turned into ours
where the repositories meet them: nothing above ``infra/db`` catches a database library's exception.

    OperationalError, InterfaceError             ServiceUnreachableError  PostgreSQL does not answer
    DataError, IntegrityError, ProgrammingError  StoreRefusedError        it refuses, and will again
    any other SQLAlchemyError                    StoreError               it answered with an error

Each message ends with the name of the error translated, and the original is the ``__cause__``:
an operator can still look up what PostgreSQL or the driver said.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)

from streams.errors import ServiceUnreachableError, StoreError, StoreRefusedError

P = ParamSpec("P")
R = TypeVar("R")


def translated(doing: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a repository method: what it raises from SQLAlchemy becomes one of our errors,
    whose message says it happened while ``doing`` (e.g. "checking an API key")."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(*args, **kwargs)
            except (OperationalError, InterfaceError) as exc:
                raise ServiceUnreachableError(f"PostgreSQL unreachable while {doing}: {type(exc).__name__}") from exc
            except (DataError, IntegrityError, ProgrammingError) as exc:
                raise StoreRefusedError(f"PostgreSQL refused {doing}: {type(exc).__name__}") from exc
            except SQLAlchemyError as exc:
                raise StoreError(f"PostgreSQL failed {doing}: {type(exc).__name__}") from exc

        return call

    return decorate


def error_name(exc: BaseException) -> str:
    """The name to report for ``exc``: for one of ours translated from SQLAlchemy, the name of the
    error translated (``OperationalError``, ``ProgrammingError``, ...), which says more to an
    operator; else ``exc``'s own."""
    cause = exc.__cause__
    if isinstance(exc, ServiceUnreachableError | StoreError) and isinstance(cause, SQLAlchemyError):
        return type(cause).__name__
    return type(exc).__name__
