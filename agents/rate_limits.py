"""The rate limits of one sink process: a token bucket per destination, as its config asks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from infra.db.endpoints import Destination
from streams.rate_limit import Limit, Reservation, TokenBucket

log = logging.getLogger(__name__)

_UNLIMITED = Reservation(0.0, 0.0)


class RateLimits:
    """A token bucket per destination, from its config ``rate_limit: {per_s, burst}``, refilled by
    a ``monotonic`` clock so that a step of the wall clock neither floods nor starves a destination."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._clock = monotonic

    def reserve(self, destination: Destination, max_wait_s: float) -> Reservation:
        """A token for one call to ``destination``, if one is free within ``max_wait_s``
        (``TokenBucket.reserve``); a destination without a rate limit never waits."""
        settings = destination.config.get("rate_limit")
        if not isinstance(settings, Mapping):
            return _UNLIMITED
        try:
            limit = Limit(float(settings.get("per_s", 10)), float(settings.get("burst", settings.get("per_s", 10))))
        except (TypeError, ValueError):
            log.warning("destination %s: rate_limit config ignored", destination.id)
            return _UNLIMITED
        bucket = self._buckets.get(destination.id)
        if bucket is None or bucket.limit != limit:
            bucket = self._buckets[destination.id] = TokenBucket(limit, limit.burst, self._clock())
        return bucket.reserve(self._clock(), max_wait_s)
