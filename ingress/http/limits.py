"""Per-tenant and per-key rate limits (token buckets), with the RateLimit headers clients expect;
shared by the events API and the admin API."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ingress.http.problems import Problem
from streams.rate_limit import Decision, Limit, RateLimiter


def _headers(decision: Decision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(int(decision.limit.burst)),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(math.ceil(decision.reset_s)),
    }


class RequestLimits:
    """Limits are per process: each of N ingress processes enforces 1/N of the configured rate.

    Deliberately not shared: a shared bucket costs every request a round trip (``bench run
    signatures`` measures one). So the configured rate holds per host when a client's requests
    spread over the processes, one keep-alive connection gets 1/N of it, and H hosts let through
    H times it (docs/sending-events.md).
    """

    def __init__(self, tenant: Limit | None, key: Limit, clock: Callable[[], float] = time.monotonic) -> None:
        """``tenant`` None: keys only (the admin API limits each key, whichever tenant it acts for)."""
        self._tenants = RateLimiter(tenant) if tenant is not None else None
        self._keys = RateLimiter(key)
        self._clock = clock

    def check(self, tenant_id: str, credential_id: str, cost: int = 1) -> dict[str, str]:
        """Headers for the answer; a Problem 429 with Retry-After when a bucket is empty.

        ``credential_id`` is the API key's id, or the webhook endpoint's.
        """
        now = self._clock()
        tenant = self._tenants.take(tenant_id, now, cost) if self._tenants is not None else None
        # An empty tenant bucket spends none of the key's tokens.
        key = tenant if tenant is not None and not tenant.allowed else self._keys.take(credential_id, now, cost)
        tenant = tenant if tenant is not None else key
        tightest = min((tenant, key), key=lambda d: (d.allowed, d.remaining))
        if not (tenant.allowed and key.allowed):
            retry = max(1, math.ceil(max(tenant.retry_after_s, key.retry_after_s)))
            scope = "tenant" if not tenant.allowed else "API key"
            raise Problem(
                429, "rate-limited", "Too many requests",
                f"this {scope} is over its rate limit; retry after {retry} s",
                reason="rate_limited", headers={"Retry-After": str(retry), **_headers(tightest)},
            )  # fmt: skip
        return _headers(tightest)
