"""What every handler shares: settings, the publisher, authentication, limits, the events' history."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from connectors.kafka.producer import AsyncProducer
from infra.core.live_catalogue import LiveCatalogue
from infra.core.settings import Settings
from infra.db.api_keys import Principal
from infra.db.delivery_log import EventHistory
from infra.db.inbound_sources import SourceEndpoint
from ingress.api.auth import SignatureGuard
from ingress.api.publisher import EventPublisher
from ingress.http.credentials import CachedLookup
from ingress.http.limits import RequestLimits
from ingress.http.problems import forbidden, missing_scope, unauthenticated
from streams.partitioning import Partitioning
from streams.probes import CheckRow, SessionStatus
from streams.scopes import Scope


@dataclass(frozen=True, slots=True)
class IngressResources:
    """What the ingress uses beyond itself, opened by the composition root (``infra.cli.wiring``).

    The lookups in PostgreSQL block: handlers call them in a thread. They raise
    ``ServiceUnreachableError`` when PostgreSQL does not answer.
    """

    producer: AsyncProducer
    publisher: EventPublisher
    types: LiveCatalogue
    """The event types the ingress accepts: built-in and tenants' own, refreshed in the background."""
    principal: Callable[[str], Principal | None]
    """Who presents this API key, or None."""
    source: Callable[[str], SourceEndpoint | None]
    """Which source endpoint this webhook URL token names, or None."""
    history: Callable[[uuid.UUID, str], EventHistory]
    """The router's decision on and the delivery attempts of (event id, tenant id)."""
    ping_database: Callable[[], None]
    """Returns once PostgreSQL answered."""
    claim_signature: Callable[[str, str], bool]
    """Claim a webhook signature for a tenant across every ingress: False when it was used."""
    release_signature: Callable[[str, str], None]
    """Forget a claimed signature whose request was not accepted."""
    health_checks: Callable[[], list[CheckRow]]
    """The proactive checks' latest results, for ``/health/detailed``."""
    session_event: Callable[[str, str, str, SessionStatus, str | None], int]
    """A WhatsApp provider's webhook said a session changed: (tenant, provider, instance, status, reason)."""


@dataclass(slots=True)
class IngressState:
    settings: Settings
    producer: AsyncProducer
    publisher: EventPublisher
    types: LiveCatalogue
    api_keys: CachedLookup[Principal]
    sources: CachedLookup[SourceEndpoint]
    replays: SignatureGuard
    limits: RequestLimits
    history: Callable[[uuid.UUID, str], EventHistory]
    ping_database: Callable[[], None]
    health_checks: Callable[[], list[CheckRow]]
    session_event: Callable[[str, str, str, SessionStatus, str | None], int]

    async def principal(self, request: web.Request, scope: Scope) -> Caller:
        """The caller's tenant and key from ``Authorization: Bearer <key>`` (or ``X-Api-Key``):
        401 without a valid key; 403 when the key lacks ``scope`` or belongs to no tenant (a
        platform key manages the bus, it sends and reads no tenant's events)."""
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        presented = credentials.strip() if scheme.lower() == "bearer" else request.headers.get("X-Api-Key", "")
        principal = await self.api_keys.get(presented) if presented else None
        if principal is None:
            raise unauthenticated()
        if not principal.may(scope):
            raise missing_scope(scope)
        if principal.tenant_id is None:
            raise forbidden("a platform key acts on no tenant's events: use a key of the tenant")
        return Caller(principal.tenant_id, principal.key_id, principal.partitioning)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends or reads events: a tenant's key."""

    tenant_id: str
    key_id: uuid.UUID
    partitioning: Partitioning


STATE = web.AppKey("crmbus_state", IngressState)
