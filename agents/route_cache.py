"""The routes a worker applies: loaded from PostgreSQL, reloaded when they change.

Workers never ask PostgreSQL per event. Every ``routes_poll_s`` they ask for the routes'
fingerprint (one cheap query) and reload only when it changed, so ``crmbus routes add|disable``
takes effect within seconds without a restart. While PostgreSQL is unreachable the last routes
loaded stay in force; before the first load succeeds, routers wait (``ready``) rather than
route with no routes, which would drop every event's fan-out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from infra.metrics import ROUTES_LOADED, ROUTES_RELOADS
from streams.routes import Route, RouteBook

log = logging.getLogger("crmbus.agents.routes")

_RETRY_S = 1.0


class RouteCache:
    def __init__(self, load: Callable[[], Sequence[Route]], fingerprint: Callable[[], str], poll_s: float) -> None:
        self._load, self._fingerprint, self._poll_s = load, fingerprint, poll_s
        self.book = RouteBook(())
        self.ready = asyncio.Event()

    async def refresh(self) -> bool:
        """Reload when the fingerprint moved; True when the book changed. Errors propagate."""
        fingerprint = await asyncio.to_thread(self._fingerprint)
        if self.ready.is_set() and fingerprint == self.book.version:
            return False
        routes = await asyncio.to_thread(self._load)
        self.book = RouteBook(routes, fingerprint)
        ROUTES_LOADED.set(len(self.book))
        ROUTES_RELOADS.labels(outcome="loaded").inc()
        log.info("routes loaded", extra={"routes": len(self.book)})
        self.ready.set()
        return True

    async def run(self) -> None:
        """Keep the book fresh until cancelled."""
        while True:
            try:
                await self.refresh()
                delay = self._poll_s
            except Exception as exc:  # noqa: BLE001 - PostgreSQL away: keep the routes we have
                ROUTES_RELOADS.labels(outcome="failed").inc()
                log.warning("routes not refreshed: %s", type(exc).__name__)
                delay = min(self._poll_s, _RETRY_S) if not self.ready.is_set() else self._poll_s
            await asyncio.sleep(delay)
