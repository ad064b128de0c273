"""API-key authentication with a bounded in-process cache.

PostgreSQL is asked at most once per key per ``ttl``; while it is unreachable, keys verified
within ``stale`` still work, so a database blip does not stop the intake. Revocation
therefore takes effect within ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from infra.db.api_keys import Principal
from streams.errors import ServiceUnreachableError

_NEGATIVE_TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal | None
    checked_at: float


def _expired(principal: Principal | None) -> bool:
    """A rotated-out key stops at its overlap's end, cached or not."""
    return principal is not None and principal.expires_at is not None and datetime.now(UTC) >= principal.expires_at


class ApiKeyAuthenticator:
    def __init__(
        self,
        lookup: Callable[[str], Principal | None],
        ttl_s: float,
        stale_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl, self._stale, self._max = ttl_s, stale_s, max_entries
        self._clock = clock
        self._cache: OrderedDict[bytes, _Entry] = OrderedDict()

    async def authenticate(self, presented: str) -> Principal | None:
        """The principal, None for a bad key; ServiceUnreachableError if neither cache nor database can say."""
        digest = hashlib.sha256(presented.encode()).digest()  # cache by hash: no secret kept in memory
        now = self._clock()
        entry = self._cache.get(digest)
        if entry is not None and not _expired(entry.principal):
            age = now - entry.checked_at
            if age < (self._ttl if entry.principal else _NEGATIVE_TTL_S):
                self._cache.move_to_end(digest)
                return entry.principal
        try:
            principal = await asyncio.to_thread(self._lookup, presented)
        except ServiceUnreachableError:
            if (
                entry is not None
                and entry.principal
                and not _expired(entry.principal)
                and now - entry.checked_at < self._stale
            ):
                return entry.principal
            raise
        self._cache[digest] = _Entry(principal, now)
        self._cache.move_to_end(digest)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return principal
