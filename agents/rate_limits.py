"""The rate limits of one sink process: a token bucket per destination, as its config asks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from infra.db.endpoints import Destination
from streams.rate_limit import Limit, TokenBucket

log = logging.getLogger(__name__)


class RateLimits:
    """A token bucket per destination, from its config ``rate_limit: {per_s, burst}``, refilled by
    a ``monotonic`` clock so that a step of the wall clock neither floods nor starves a destination."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._clock = monotonic

    async def wait(self, destination: Destination) -> None:
        settings = destination.config.get("rate_limit")
        if not isinstance(settings, Mapping):
            return
        try:
            limit = Limit(float(settings.get("per_s", 10)), float(settings.get("burst", settings.get("per_s", 10))))
        except (TypeError, ValueError):
            log.warning("destination %s: rate_limit config ignored", destination.id)
            return
        bucket = self._buckets.get(destination.id)
        if bucket is None or bucket.limit != limit:
            bucket = self._buckets[destination.id] = TokenBucket(limit, limit.burst, self._clock())
        while not (decision := bucket.take(self._clock())).allowed:
            await asyncio.sleep(decision.retry_after_s)
