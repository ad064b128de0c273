"""Webhook endpoints of tenants' sources: a URL token per endpoint, and a signing secret where the source signs."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from infra.core.secret_box import SecretBox
from infra.db.audit import audit
from infra.db.errors import translated
from infra.db.models import InboundSource, Tenant
from infra.db.tenants import partitioning_of
from streams.api_keys import digest_of
from streams.errors import ConfigurationError
from streams.partitioning import Partitioning

SOURCES = ("zapi", "waha", "site", "crm", "operacao", "financeiro")
# Sources that can sign their bodies; the others can only present the URL token.
SIGNING_SOURCES = frozenset({"waha", "crm", "operacao", "financeiro"})
TOKEN_PREFIX = "whk_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class SourceEndpoint:
    """Who is calling a webhook URL, the secret its body must be signed with (if any), and how
    the tenant's events are keyed (read with the endpoint, which the ingress caches)."""

    id: uuid.UUID
    tenant_id: str
    source: str
    signing_secret: bytes | None
    partitioning: Partitioning


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    id: uuid.UUID
    tenant_id: str
    source: str
    token: str  # shown once: it is the URL's secret part
    signing_secret: str | None  # shown once


class InboundSources:
    def __init__(self, engine: Engine, box: SecretBox, actor: str = "cli") -> None:
        self.engine, self.box, self.actor = engine, box, actor

    @translated("adding a source endpoint")
    def add(self, tenant_id: str, source: str, name: str = "default", signed: bool | None = None) -> NewEndpoint:
        """A new endpoint; signed defaults to whether the source can sign."""
        if source not in SOURCES:
            raise ConfigurationError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
        signed = source in SIGNING_SOURCES if signed is None else signed
        if signed and source not in SIGNING_SOURCES:
            raise ConfigurationError(f"{source} cannot sign its webhooks; it is identified by its URL token")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        signing = secrets.token_urlsafe(32) if signed else None
        with Session(self.engine) as session, session.begin():
            if session.get(Tenant, tenant_id) is None:
                raise ConfigurationError(f"no tenant {tenant_id!r}; create it with 'crmbus apikeys create'")
            row = InboundSource(
                tenant_id=tenant_id,
                source=source,
                name=name,
                token_hash=digest_of(token),
                signing_secret_encrypted=self.box.seal(signing.encode()) if signing else None,
            )
            session.add(row)
            session.flush()
            audit(
                session,
                actor=self.actor,
                tenant_id=tenant_id,
                action="source.add",
                target_type="inbound_source",
                target_id=str(row.id),
                details={"source": source},
            )
            return NewEndpoint(row.id, tenant_id, source, token, signing)

    @translated("revoking a source endpoint")
    def revoke(self, endpoint_id: uuid.UUID) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(InboundSource, endpoint_id)
            if row is None:
                raise ConfigurationError(f"no webhook endpoint {endpoint_id}")
            row.revoked_at = row.revoked_at or datetime.now(UTC)
            audit(
                session,
                actor=self.actor,
                tenant_id=row.tenant_id,
                action="source.revoke",
                target_type="inbound_source",
                target_id=str(row.id),
            )

    @translated("listing source endpoints")
    def list(self, tenant_id: str | None = None) -> list[InboundSource]:
        query = select(InboundSource).order_by(InboundSource.tenant_id, InboundSource.created_at)
        if tenant_id is not None:
            query = query.where(InboundSource.tenant_id == tenant_id)
        with Session(self.engine) as session:
            return list(session.scalars(query))

    @translated("resolving a webhook token")
    def resolve(self, token: str) -> SourceEndpoint | None:
        """The live endpoint a URL token names, or None; ServiceUnreachableError if PostgreSQL is down."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        query = (
            select(InboundSource, Tenant)
            .join(Tenant, Tenant.id == InboundSource.tenant_id)
            .where(InboundSource.token_hash == digest_of(token))
        )
        with Session(self.engine) as session:
            found = session.execute(query).one_or_none()
        if found is None or found[0].revoked_at is not None:
            return None
        row, tenant = found
        secret = self.box.open(row.signing_secret_encrypted) if row.signing_secret_encrypted else None
        return SourceEndpoint(row.id, row.tenant_id, row.source, secret, partitioning_of(tenant))
