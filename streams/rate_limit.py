"""Token buckets: how many requests a tenant or key may make, and how long to wait when out.

Pure: the caller passes the clock, so tests need no sleeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Limit:
    """``rate`` tokens per second, up to ``burst`` saved up."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a limit needs a positive rate and a burst of at least 1")


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: Limit
    remaining: int  # whole tokens left after this request
    retry_after_s: float  # 0 when allowed; else when the request would be allowed
    reset_s: float  # until the bucket is full again


@dataclass(slots=True)
class TokenBucket:
    limit: Limit
    tokens: float
    updated: float

    def take(self, now: float, cost: float = 1.0) -> Decision:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.limit.burst, self.tokens + elapsed * self.limit.rate)
        self.updated = now
        allowed = self.tokens >= cost
        if allowed:
            self.tokens -= cost
        retry = 0.0 if allowed else (cost - self.tokens) / self.limit.rate
        reset = (self.limit.burst - self.tokens) / self.limit.rate
        return Decision(allowed, self.limit, math.floor(self.tokens), retry, reset)

    def reserve(self, now: float, max_wait_s: float, cost: float = 1.0) -> Reservation:
        """A token for a call that may wait up to ``max_wait_s`` for it.

        Unlike ``take``, a request that must wait books its token now (the bucket goes into debt),
        so callers waiting at once are spread over the refill instead of all waking to the same
        token. A wait longer than ``max_wait_s`` books nothing: the caller should do something
        else (a sink parks the delivery in a retry tier) and ask again after ``retry_after_s``.
        """
        self.tokens = min(self.limit.burst, self.tokens + max(0.0, now - self.updated) * self.limit.rate)
        self.updated = now
        wait = max(0.0, (cost - self.tokens) / self.limit.rate)
        if wait > max_wait_s:
            return Reservation(None, wait)
        self.tokens -= cost
        return Reservation(wait, wait)


@dataclass(frozen=True, slots=True)
class Reservation:
    """``wait_s``: how long to wait before the call its token is booked for; None when the wait
    would be too long and nothing was booked. ``retry_after_s``: when a token would be free."""

    wait_s: float | None
    retry_after_s: float


@dataclass(slots=True)
class RateLimiter:
    """One bucket per key (a tenant id, an API key id), created full on first use."""

    limit: Limit
    max_keys: int = 100_000
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def take(self, key: str, now: float, cost: float = 1.0) -> Decision:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict_full(now)
            bucket = self._buckets[key] = TokenBucket(self.limit, self.limit.burst, now)
        return bucket.take(now, cost)

    def _evict_full(self, now: float) -> None:
        # A bucket that has refilled is indistinguishable from a new one: forgetting it is free.
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * b.limit.rate >= b.limit.burst]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]
