"""API keys in PostgreSQL: create, list, revoke, rotate with overlap, authenticate.

A key belongs to a tenant and holds scopes (``streams.scopes``); a platform key belongs to no
tenant and holds ``admin``, for the operators of the whole bus."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from infra.core.secret_box import SecretBox
from infra.db.audit import audit
from infra.db.errors import translated
from infra.db.models import ApiKey, Tenant
from infra.db.tenants import Tenants, partitioning_of
from streams.api_keys import digest_of, is_usable, issue_key, looks_like_key
from streams.errors import ConfigurationError
from streams.partitioning import Partitioning
from streams.scopes import Scope, allows, role_scopes, scopes_of


@dataclass(frozen=True, slots=True)
class KeyView:
    """What may be shown about a key: never its secret or its hash."""

    id: uuid.UUID
    tenant_id: str | None
    name: str
    display_prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    scopes: frozenset[Scope]

    @classmethod
    def of(cls, row: ApiKey) -> KeyView:
        return cls(
            row.id, row.tenant_id, row.name, row.prefix, row.created_at, row.expires_at, row.revoked_at,
            row.last_used_at, scopes_of(row.scopes),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the tenant it acts for (None: a platform key), the key it used,
    what it may do, and how the tenant's events are keyed (read with the key, so that the
    ingress, which caches principals, asks PostgreSQL nothing more per request)."""

    tenant_id: str | None
    key_id: uuid.UUID
    expires_at: datetime | None
    partitioning: Partitioning
    scopes: frozenset[Scope] = role_scopes("producer")

    def may(self, scope: Scope) -> bool:
        return allows(self.scopes, scope)

    def acts_for(self, tenant_id: str) -> bool:
        """Its own tenant's resources; any tenant's with ``admin``."""
        return self.tenant_id == tenant_id or self.may("admin")

    @property
    def actor(self) -> str:
        """How the audit log names who acted."""
        return f"key:{self.key_id}"


def _now() -> datetime:
    return datetime.now(UTC)


class ApiKeys:
    def __init__(self, engine: Engine, actor: str = "cli", sandbox_url: str | None = None) -> None:
        """``sandbox_url``: where the seed destinations of a tenant ``create`` makes point; with
        ``None`` such a tenant starts without destinations or routes."""
        self.engine = engine
        self.actor = actor
        self.sandbox_url = sandbox_url

    @translated("creating an API key")
    def create(
        self,
        tenant_id: str | None,
        name: str,
        tenant_name: str | None = None,
        *,
        role: str = "producer",
        scopes: frozenset[Scope] | None = None,
        stand_ins: SecretBox | None = None,
    ) -> tuple[KeyView, str]:
        """A new key for ``tenant_id`` (created and seeded if missing, ``stand_ins`` as in
        ``Tenants.create``), or a platform key (``tenant_id`` None: it must hold ``admin``), with
        ``scopes`` or else ``role``'s; returns the secret once."""
        try:
            granted = scopes if scopes is not None else role_scopes(role)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        if not granted:
            raise ConfigurationError("an API key needs at least one scope")
        tenant_created = False
        if tenant_id is None:
            if "admin" not in granted:
                raise ConfigurationError("a platform key (no tenant) must hold the admin scope")
        else:
            _, tenant_created = Tenants(self.engine, self.actor).ensure(
                tenant_id, tenant_name, sandbox_url=self.sandbox_url, stand_ins=stand_ins
            )
        issued = issue_key()
        with Session(self.engine) as session, session.begin():
            row = ApiKey(
                tenant_id=tenant_id, name=name, prefix=issued.display_prefix, key_hash=issued.digest,
                scopes=sorted(granted),
            )  # fmt: skip
            session.add(row)
            session.flush()
            audit(
                session,
                actor=self.actor,
                tenant_id=tenant_id,
                action="apikey.create",
                target_type="api_key",
                target_id=str(row.id),
                details={"scopes": ",".join(sorted(granted)), **({"tenant_created": "true"} if tenant_created else {})},
            )
            view = KeyView.of(row)
        return view, issued.secret

    @translated("listing API keys")
    def list(self, tenant_id: str | None = None) -> list[KeyView]:
        query = select(ApiKey).order_by(ApiKey.tenant_id, ApiKey.created_at)
        if tenant_id is not None:
            query = query.where(ApiKey.tenant_id == tenant_id)
        with Session(self.engine) as session:
            return [KeyView.of(row) for row in session.scalars(query)]

    @translated("revoking an API key")
    def revoke(self, key_id: uuid.UUID) -> KeyView:
        with Session(self.engine) as session, session.begin():
            row = self._get(session, key_id)
            row.revoked_at = row.revoked_at or _now()
            audit(
                session,
                actor=self.actor,
                tenant_id=row.tenant_id,
                action="apikey.revoke",
                target_type="api_key",
                target_id=str(row.id),
            )
            return KeyView.of(row)

    @translated("rotating an API key")
    def rotate(self, key_id: uuid.UUID, overlap: timedelta) -> tuple[KeyView, str]:
        """A new key with the same tenant and name; the old one keeps working for ``overlap``."""
        issued = issue_key()
        with Session(self.engine) as session, session.begin():
            old = self._get(session, key_id)
            if not is_usable(old.revoked_at, old.expires_at, _now()):
                raise ConfigurationError(f"API key {key_id} is revoked or expired; create a new one instead")
            ends = _now() + overlap
            old.expires_at = min(old.expires_at, ends) if old.expires_at else ends
            new = ApiKey(
                tenant_id=old.tenant_id, name=old.name, prefix=issued.display_prefix, key_hash=issued.digest,
                scopes=list(old.scopes),
            )  # fmt: skip
            session.add(new)
            session.flush()
            audit(
                session,
                actor=self.actor,
                tenant_id=old.tenant_id,
                action="apikey.rotate",
                target_type="api_key",
                target_id=str(new.id),
                details={"replaces": str(old.id)},
            )
            return KeyView.of(new), issued.secret

    def authenticate(self, presented: str, now: datetime | None = None) -> str | None:
        """The tenant a presented key belongs to, or None (unknown, revoked, expired, malformed)."""
        principal = self.principal(presented, now)
        return principal.tenant_id if principal else None

    @translated("checking an API key")
    def principal(self, presented: str, now: datetime | None = None) -> Principal | None:
        """Who a presented key is, or None; ServiceUnreachableError when PostgreSQL does not answer."""
        if not looks_like_key(presented):
            return None
        digest = digest_of(presented)
        query = select(ApiKey, Tenant).outerjoin(Tenant, Tenant.id == ApiKey.tenant_id).where(ApiKey.key_hash == digest)
        with Session(self.engine) as session:
            found = session.execute(query).one_or_none()
        if found is None:
            return None
        row, tenant = found
        # The lookup is by a preimage-resistant hash; the final check is constant-time anyway.
        if not hmac.compare_digest(row.key_hash, digest):
            return None
        if not is_usable(row.revoked_at, row.expires_at, now or _now()):
            return None
        partitioning = partitioning_of(tenant) if tenant is not None else "tenant"
        return Principal(row.tenant_id, row.id, row.expires_at, partitioning, scopes_of(row.scopes))

    @staticmethod
    def _get(session: Session, key_id: uuid.UUID) -> ApiKey:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise ConfigurationError(f"no API key {key_id}")
        return row
