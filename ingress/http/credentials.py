"""Credential look-ups (API keys, webhook tokens) with a bounded in-process cache, shared by the
HTTP surfaces that authenticate callers (the events API, the admin API).

PostgreSQL is asked at most once per credential per ``ttl``; while it is unreachable,
credentials verified within ``stale`` still work, so a database blip does not stop the
intake. Revocation therefore takes effect within ``ttl`` seconds. Entries are keyed by the
credential's SHA-256: no secret is kept in memory.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from infra.db.api_keys import Principal
from streams.api_keys import digest_of
from streams.errors import ServiceUnreachableError

T = TypeVar("T")
_NEGATIVE_TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    value: T | None
    checked_at: float


class CachedLookup(Generic[T]):
    def __init__(
        self,
        lookup: Callable[[str], T | None],
        ttl_s: float,
        stale_s: float,
        still_valid: Callable[[T], bool] = lambda _: True,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup, self._still_valid = lookup, still_valid
        self._ttl, self._stale, self._max = ttl_s, stale_s, max_entries
        self._clock = clock
        self._cache: OrderedDict[bytes, _Entry[T]] = OrderedDict()

    async def get(self, presented: str) -> T | None:
        """The credential's owner, None for a bad one; ServiceUnreachableError if nobody can tell."""
        digest = digest_of(presented)
        now = self._clock()
        entry = self._cache.get(digest)
        usable = entry is not None and (entry.value is None or self._still_valid(entry.value))
        fresh_for = self._ttl if entry is not None and entry.value is not None else _NEGATIVE_TTL_S
        if entry is not None and usable and now - entry.checked_at < fresh_for:
            self._cache.move_to_end(digest)
            return entry.value
        try:
            value = await asyncio.to_thread(self._lookup, presented)
        except ServiceUnreachableError:
            if entry is not None and usable and entry.value is not None and now - entry.checked_at < self._stale:
                return entry.value
            raise
        self._cache[digest] = _Entry(value, now)
        self._cache.move_to_end(digest)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return value


def not_rotated_out(principal: Principal) -> bool:
    """A rotated-out key stops at its overlap's end, cached or not."""
    return principal.expires_at is None or datetime.now(UTC) < principal.expires_at
