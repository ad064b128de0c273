"""What a worker applies — routes and destinations — loaded from PostgreSQL, reloaded when changed.

Workers never ask PostgreSQL per event. Every ``routes_poll_s`` they ask for a fingerprint of
routes, destinations and tenants (one cheap query) and reload only when it moved, so
``crmbus routes …`` and destination changes take effect within seconds without a restart. While
PostgreSQL is unreachable the last configuration loaded stays in force; before the first load
succeeds, agents wait (``ready``) rather than route or deliver with nothing, which would drop work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence

from infra.core.metrics import ROUTES_LOADED, ROUTES_RELOADS
from infra.db.endpoints import Destination
from streams.routes import Route, RouteBook
from streams.sync_jobs import synced_endpoint

log = logging.getLogger(__name__)

_RETRY_S = 1.0


class DestinationBook:
    """Enabled destinations by id, and each tenant's first destination of each kind."""

    def __init__(self, destinations: Iterable[Destination] = ()) -> None:
        self._by_id: dict[str, Destination] = {}
        self._by_kind: dict[tuple[str, str], Destination] = {}
        self._by_name: dict[tuple[str, str], Destination] = {}
        for destination in sorted(destinations, key=lambda d: d.name):
            self._by_id[destination.id] = destination
            self._by_kind.setdefault((destination.tenant_id, destination.kind), destination)
            self._by_name[(destination.tenant_id, destination.name)] = destination

    def get(self, destination_id: str) -> Destination | None:
        return self._by_id.get(destination_id)

    def of_kind(self, tenant_id: str, kind: str) -> Destination | None:
        return self._by_kind.get((tenant_id, kind))

    def named(self, tenant_id: str, name: str) -> Destination | None:
        return self._by_name.get((tenant_id, name))

    def __len__(self) -> int:
        return len(self._by_id)


class ConfigCache:
    def __init__(
        self,
        load_routes: Callable[[], Sequence[Route]],
        load_destinations: Callable[[], Sequence[Destination]],
        fingerprint: Callable[[], str],
        poll_s: float,
    ) -> None:
        self._load_routes, self._load_destinations = load_routes, load_destinations
        self._fingerprint, self._poll_s = fingerprint, poll_s
        self.book = RouteBook(())
        self.destinations = DestinationBook()
        self.ready = asyncio.Event()

    def destination_for(self, tenant_id: str, route_id: str, kind: str) -> Destination | None:
        """The destination a delivery of ``route_id`` goes to: its route's, else the tenant's of
        ``kind``; a sync job's delivery goes to the endpoint its route id names, or nowhere."""
        route = self.book.route(route_id)
        synced = synced_endpoint(route_id) if route is None else None
        if synced is not None:
            found = self.destinations.get(synced)
            return found if found is not None and found.tenant_id == tenant_id else None
        found = self.destinations.get(route.endpoint_id) if route is not None else None
        if found is None or found.tenant_id != tenant_id:
            found = self.destinations.of_kind(tenant_id, kind)
        return found

    def fallback_for(self, destination: Destination) -> Destination | None:
        """The same tenant's destination named in ``destination``'s config ``fallback``, if enabled:
        one link of its fallback chain (``streams.sink_decisions.fallback_chain`` follows them)."""
        name = destination.config.get("fallback")
        return self.destinations.named(destination.tenant_id, name) if isinstance(name, str) else None

    async def refresh(self) -> bool:
        """Reload when the fingerprint moved; True when something changed. Errors propagate."""
        fingerprint = await asyncio.to_thread(self._fingerprint)
        if self.ready.is_set() and fingerprint == self.book.version:
            return False
        routes = await asyncio.to_thread(self._load_routes)
        destinations = await asyncio.to_thread(self._load_destinations)
        self.book, self.destinations = RouteBook(routes, fingerprint), DestinationBook(destinations)
        ROUTES_LOADED.set(len(self.book))
        ROUTES_RELOADS.labels(outcome="loaded").inc()
        log.info("configuration loaded", extra={"routes": len(self.book), "destinations": len(self.destinations)})
        self.ready.set()
        return True

    async def run(self) -> None:
        """Keep the configuration fresh until cancelled."""
        while True:
            try:
                await self.refresh()
                delay = self._poll_s
            except Exception as exc:  # noqa: BLE001 - PostgreSQL away: keep what we have
                ROUTES_RELOADS.labels(outcome="failed").inc()
                log.warning("configuration not refreshed: %s", type(exc).__name__)
                delay = self._poll_s if self.ready.is_set() else min(self._poll_s, _RETRY_S)
            await asyncio.sleep(delay)
