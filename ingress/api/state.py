"""What every handler shares: settings, the publisher, authentication, limits, the database."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import Engine

from connectors.kafka.producer import AsyncProducer
from infra.core.settings import Settings
from infra.db.api_keys import Principal
from infra.db.inbound_sources import SourceEndpoint
from ingress.api.auth import CachedLookup
from ingress.api.limits import RequestLimits
from ingress.api.publisher import EventPublisher
from ingress.http.problems import unauthenticated
from streams.signatures import ReplayGuard


@dataclass(slots=True)
class IngressState:
    settings: Settings
    engine: Engine
    producer: AsyncProducer
    publisher: EventPublisher
    api_keys: CachedLookup[Principal]
    sources: CachedLookup[SourceEndpoint]
    replays: ReplayGuard
    limits: RequestLimits

    async def principal(self, request: web.Request) -> Principal:
        """The caller's identity from ``Authorization: Bearer <key>`` (or ``X-Api-Key``); 401 otherwise."""
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        presented = credentials.strip() if scheme.lower() == "bearer" else request.headers.get("X-Api-Key", "")
        principal = await self.api_keys.get(presented) if presented else None
        if principal is None:
            raise unauthenticated()
        return principal


STATE = web.AppKey("crmbus_state", IngressState)
