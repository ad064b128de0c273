"""The event catalogue a process applies: the built-in types and every tenant's own, kept fresh.

Like routes (``agents.config_cache``), tenants' types are re-read from PostgreSQL only when a
cheap fingerprint moved, every ``poll_s``; while PostgreSQL is away the last catalogue stays in
force, and the built-in types are always there. A process that meets a type it does not know
(an event accepted by an ingress that saw the type first) asks for a refresh at once before
calling the type unknown: the ingress at most once a second (a client may send unknown types
in a loop), the router once per batch that holds one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from streams.event_catalogue import EventCatalogue
from streams.event_type import EventType

log = logging.getLogger(__name__)

_EARLIEST_REFRESH_S = 1.0


class LiveCatalogue:
    def __init__(
        self,
        built_in: EventCatalogue,
        load: Callable[[], Sequence[EventType]],
        fingerprint: Callable[[], str],
        poll_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.current = built_in
        self._load, self._fingerprint, self._poll_s, self._clock = load, fingerprint, poll_s, clock
        self._last_refresh = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> bool:
        """Reload the tenants' types when their fingerprint moved; True when it did. Errors propagate."""
        async with self._lock:
            self._last_refresh = self._clock()
            fingerprint = await asyncio.to_thread(self._fingerprint)
            if fingerprint == self.current.version:
                return False
            types = await asyncio.to_thread(self._load)
            self.current = self.current.with_tenant_types(types, fingerprint)
            log.info("event types loaded", extra={"types": len(self.current)})
            return True

    async def refresh_for_unknown(self, *, at_most_every_s: float = _EARLIEST_REFRESH_S) -> None:
        """Refresh now, unless that was done in the last ``at_most_every_s``: a type unknown here
        may be new. A refresh under way is waited for: its answer is as fresh as ours would be."""
        if self._lock.locked():
            async with self._lock:
                return
        if self._clock() - self._last_refresh < at_most_every_s:
            return
        try:
            await self.refresh()
        except Exception as exc:  # noqa: BLE001 - PostgreSQL away: the type stays unknown for now
            log.warning("event types not refreshed: %s", type(exc).__name__)

    async def run(self, until: asyncio.Event | None = None) -> None:
        """Keep the catalogue fresh until cancelled, or until ``until`` is set: then a refresh
        under way ends first (its query runs in a thread that a cancellation would leave behind,
        holding a connection of a pool about to be disposed)."""
        stop = until or asyncio.Event()
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - PostgreSQL away: keep what we have
                log.warning("event types not refreshed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._poll_s)
