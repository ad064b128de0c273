"""The operator console's sign-in sessions in PostgreSQL.

A session is opened with an API key and stores only the SHA-256 of its id (the cookie's value),
the key's id, when it was last used and when it ends at the latest, and the CSRF token its forms
carry. Every lookup reads the key again: a key revoked, expired or stripped of its scopes ends
its sessions at the next request, not when they time out.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from infra.db.errors import translated
from infra.db.models import ApiKey, ConsoleSession
from streams.api_keys import digest_of, is_usable
from streams.scopes import Scope, allows, scopes_of

SESSION_BYTES = 32


@dataclass(frozen=True, slots=True)
class Operator:
    """Who a session's key is now: its id, tenant (None for a platform key) and scopes."""

    key_id: uuid.UUID
    tenant_id: str | None
    scopes: frozenset[Scope]

    def may(self, scope: Scope) -> bool:
        return allows(self.scopes, scope)

    def acts_for(self, tenant_id: str | None) -> bool:
        """Its own tenant's, or any with ``admin``."""
        return self.may("admin") or (tenant_id is not None and tenant_id == self.tenant_id)

    @property
    def actor(self) -> str:
        """As the audit log names it."""
        return f"key:{self.key_id}"


@dataclass(frozen=True, slots=True)
class SignedIn:
    operator: Operator
    csrf_token: str


def _now() -> datetime:
    return datetime.now(UTC)


class ConsoleSessions:
    def __init__(self, engine: Engine, idle: timedelta, lifetime: timedelta) -> None:
        """``idle``: how long an unused session lasts; ``lifetime``: how long any session lasts."""
        self.engine, self.idle, self.lifetime = engine, idle, lifetime

    @translated("opening a console session")
    def open(self, key_id: uuid.UUID, now: datetime | None = None) -> str:
        """A new session for ``key_id``; returns its id, which only the cookie holds."""
        now = now or _now()
        session_id = secrets.token_urlsafe(SESSION_BYTES)
        row = ConsoleSession(
            id_hash=digest_of(session_id),
            key_id=key_id,
            csrf_token=secrets.token_urlsafe(SESSION_BYTES),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.lifetime,
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
        return session_id

    @translated("reading a console session")
    def find(self, session_id: str, now: datetime | None = None) -> SignedIn | None:
        """The session and who its key is now, its idle time restarted; None when it is unknown,
        idle too long, past its end, or its key no longer usable (the session is then closed)."""
        now = now or _now()
        digest = digest_of(session_id)
        query = (
            select(ConsoleSession, ApiKey)
            .join(ApiKey, ApiKey.id == ConsoleSession.key_id)
            .where(ConsoleSession.id_hash == digest)
        )
        with Session(self.engine) as session, session.begin():
            found = session.execute(query).one_or_none()
            if found is None:
                return None
            row, key = found
            alive = now < row.expires_at and now < row.last_seen_at + self.idle
            if not alive or not is_usable(key.revoked_at, key.expires_at, now):
                session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == digest))
                return None
            session.execute(update(ConsoleSession).where(ConsoleSession.id_hash == digest).values(last_seen_at=now))
            return SignedIn(Operator(key.id, key.tenant_id, scopes_of(key.scopes)), row.csrf_token)

    @translated("reading an API key's scopes")
    def operator(self, key_id: uuid.UUID, now: datetime | None = None) -> Operator | None:
        """Who ``key_id`` is, if it is usable."""
        with Session(self.engine) as session:
            key = session.get(ApiKey, key_id)
        if key is None or not is_usable(key.revoked_at, key.expires_at, now or _now()):
            return None
        return Operator(key.id, key.tenant_id, scopes_of(key.scopes))

    @translated("closing a console session")
    def close(self, session_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == digest_of(session_id)))

    @translated("pruning console sessions")
    def prune(self, now: datetime | None = None) -> int:
        """Delete the sessions past their end or idle too long; how many."""
        now = now or _now()
        ended = (ConsoleSession.expires_at <= now) | (ConsoleSession.last_seen_at <= now - self.idle)
        with self.engine.begin() as connection:
            return int(connection.execute(delete(ConsoleSession).where(ended)).rowcount)
