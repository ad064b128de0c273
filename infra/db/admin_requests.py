"""The admin API's idempotency store (``admin_requests``): the first answer to each POST sent
with an ``Idempotency-Key``, per API key, for ``KEEP``.

A POST is looked up before it runs, by API key, target (method and path) and idempotency key:
the same body gets the stored answer again, another body an ``IdempotencyConflictError``. Only answers that changed
something (2xx) are stored: a refused request wrote nothing, so running it again is harmless.

Two requests racing with one key, or two updates of one resource checking one ETag, would both
pass their check before either wrote. ``hold`` makes them take turns across every process: a
PostgreSQL advisory lock, held in a transaction of its own connection, so that a process that
dies releases it with its connection.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg.errors import LockNotAvailable
from sqlalchemy import Engine, delete, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from infra.db.errors import translated
from infra.db.models import AdminRequest
from streams.errors import ConfigurationError, CrmbusError

KEEP = timedelta(hours=24)
HOLD_WAIT_S = 10.0
# Two-key advisory locks, apart from the outbox relay's one-key ones: this store's own first key
# ("admn"), and a turn's name hashed here, so that no text of the request reaches the query.
_HOLD = text("SELECT pg_advisory_xact_lock(:space, :key)")
_SPACE = 0x61646D6E


class IdempotencyConflictError(ConfigurationError):
    """The idempotency key was used with another request."""


class RequestInProgressError(CrmbusError):
    """Another request held the same idempotency key or resource for longer than the wait."""


def _turn_key(name: str) -> int:
    """A 32-bit lock key for the turn ``name`` (two names rarely share one: they then take turns too)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()[:4], "big", signed=True)


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    body: bytes
    headers: Mapping[str, str]


def request_digest(body: bytes) -> bytes:
    """What tells two requests to one target apart: their bodies."""
    return hashlib.sha256(body).digest()


class AdminRequests:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @translated("waiting for another admin request")
    def hold(self, name: str, wait_s: float = HOLD_WAIT_S) -> Callable[[], None]:
        """Wait until no request, in any process, holds ``name``, then hold it until the returned
        call releases it; RequestInProgressError after ``wait_s``."""
        connection = self.engine.connect()
        try:
            transaction = connection.begin()
            connection.execute(text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": f"{wait_s * 1000:.0f}"})
            connection.execute(_HOLD, {"space": _SPACE, "key": _turn_key(name)})
        except OperationalError as exc:
            connection.close()
            if isinstance(exc.orig, LockNotAvailable):
                raise RequestInProgressError(f"another request held it for over {wait_s:.0f} s") from exc
            raise
        except BaseException:
            connection.close()
            raise

        def release() -> None:
            try:
                transaction.rollback()  # ends the transaction, and the lock with it
            finally:
                connection.close()

        return release

    @translated("reading an idempotent request")
    def find(self, key_id: uuid.UUID, target: str, idempotency_key: str, digest: bytes) -> StoredAnswer | None:
        """The stored answer for this request, None if the key is new (or older than ``KEEP``);
        ``IdempotencyConflictError`` when the key came with another request."""
        with Session(self.engine) as session:
            row = session.get(AdminRequest, (key_id, target, idempotency_key))
            if row is None or row.created_at < datetime.now(UTC) - KEEP:
                return None
            if row.request_digest != digest:
                raise IdempotencyConflictError("this Idempotency-Key was used with another body")
            return StoredAnswer(row.status, row.body, dict(row.headers))

    @translated("storing an idempotent request")
    def remember(
        self, key_id: uuid.UUID, target: str, idempotency_key: str, digest: bytes, answer: StoredAnswer
    ) -> None:
        """Store ``answer`` unless one is stored already; forget this key's answers older than ``KEEP``."""
        with Session(self.engine) as session, session.begin():
            session.execute(
                delete(AdminRequest).where(
                    AdminRequest.key_id == key_id, AdminRequest.created_at < datetime.now(UTC) - KEEP
                )
            )
            session.execute(
                insert(AdminRequest)
                .values(
                    key_id=key_id,
                    target=target,
                    idempotency_key=idempotency_key,
                    request_digest=digest,
                    status=answer.status,
                    body=answer.body,
                    headers=dict(answer.headers),
                )
                .on_conflict_do_nothing(
                    index_elements=[AdminRequest.key_id, AdminRequest.target, AdminRequest.idempotency_key]
                )
            )
