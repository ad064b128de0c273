"""What an HTTP answer from a destination means for a delivery: done, try again later, or give up.

Pure: a status, the ``Retry-After`` header and the clock come in; ``None`` (delivered) or the
``DeliveryError`` to raise comes out. The connectors map aiohttp's exceptions (timeouts, refused
or reset connections, DNS failures) to ``TransientDeliveryError`` themselves; this module only
judges answers the destination actually gave.

Defaults, in the spirit of RFC 9110:

- 2xx: delivered.
- 408, 425, 429 and 5xx: transient. The destination is slow, busy or broken right now, and our
  ``Idempotency-Key`` makes a second attempt safe even if the first one was processed.
- everything else (3xx, because we never follow redirects; other 4xx): permanent. The same
  request will be refused the same way, so it belongs in the DLQ, not in a retry loop.

Destinations disagree with the defaults in known ways (a CRM answering 409 for "already exists"
means the upsert is done), so each endpoint may move statuses between classes in its config::

    {"statuses": {"success": [409], "transient": [423], "permanent": [501]}}

Error messages name the destination kind, the action and the status, never a URL (a Z-API URL
carries its instance token) nor anything from the response body (it may echo personal data).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from streams.errors import ConfigurationError, DeliveryError, PermanentDeliveryError, TransientDeliveryError

TRANSIENT_STATUSES = frozenset({408, 425, 429, *range(500, 600)})
DEFAULT_RETRY_AFTER_CAP_S = 3600.0
"""A destination asking us to wait longer than an hour is capped: our retry tiers decide past that."""


def _statuses(values: Iterable[Any], what: str) -> frozenset[int]:
    statuses = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
            raise ConfigurationError(f"statuses.{what} must hold HTTP statuses (100-599)")
        statuses.add(value)
    return frozenset(statuses)


@dataclass(frozen=True, slots=True)
class OutcomePolicy:
    """How one destination's statuses are read; the sets override the defaults and must not overlap."""

    success: frozenset[int] = frozenset()
    transient: frozenset[int] = frozenset()
    permanent: frozenset[int] = frozenset()
    retry_after_cap_s: float = DEFAULT_RETRY_AFTER_CAP_S

    def __post_init__(self) -> None:
        overlap = (self.success & self.transient) | (self.success & self.permanent) | (self.transient & self.permanent)
        if overlap:
            raise ConfigurationError(f"statuses {sorted(overlap)} are given more than one outcome")
        if not self.retry_after_cap_s > 0:
            raise ConfigurationError("retry_after_cap_s must be positive")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutcomePolicy:
        """Read ``statuses`` and ``retry_after_cap_s`` from an endpoint's config; both are optional."""
        statuses = config.get("statuses") or {}
        if not isinstance(statuses, Mapping) or set(statuses) - {"success", "transient", "permanent"}:
            raise ConfigurationError("statuses must be an object with success, transient and permanent lists")
        lists = {}
        for what in ("success", "transient", "permanent"):
            values = statuses.get(what, [])
            if not isinstance(values, list):
                raise ConfigurationError(f"statuses.{what} must be a list")
            lists[what] = _statuses(values, what)
        cap = config.get("retry_after_cap_s", DEFAULT_RETRY_AFTER_CAP_S)
        if isinstance(cap, bool) or not isinstance(cap, int | float):
            raise ConfigurationError("retry_after_cap_s must be a number of seconds")
        return cls(lists["success"], lists["transient"], lists["permanent"], float(cap))


DEFAULT_POLICY = OutcomePolicy()


def parse_retry_after(value: str | None, now: float, cap_s: float = DEFAULT_RETRY_AFTER_CAP_S) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

    A date in the past means "now" (0). An unreadable value is ignored (``None``): the retry
    policy's own back-off applies, which is what the header would have replaced.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), cap_s)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # HTTP-dates are GMT; the parser leaves "-0000" naive, which means UTC as well.
    moment = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return min(max(0.0, moment.timestamp() - now), cap_s)


def classify(
    status: int,
    *,
    retry_after: str | None = None,
    now: float,
    policy: OutcomePolicy = DEFAULT_POLICY,
    label: str = "the destination",
) -> DeliveryError | None:
    """``None`` if ``status`` means delivered, else the error to raise; ``label`` names who answered."""
    if status in policy.success:
        return None
    if status in policy.transient or (status not in policy.permanent and status in TRANSIENT_STATUSES):
        wait = parse_retry_after(retry_after, now, policy.retry_after_cap_s)
        return TransientDeliveryError(f"{label} answered HTTP {status}", status=status, retry_after_s=wait)
    if status in policy.permanent or not 200 <= status <= 299:
        return PermanentDeliveryError(f"{label} answered HTTP {status}", status=status)
    return None
