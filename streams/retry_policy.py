"""When a failed delivery is tried again, and when it goes to the DLQ instead.

A delivery that failed with a transient error waits in a retry *tier*: one topic per fixed delay
(``crmbus.retry.5s`` … ``crmbus.retry.6h``), rather than one retry topic for every delay. In a
topic where every record waits about as long, records arrive in the order they fall due, so the
retry agent only ever looks at the head of a partition: it pauses the partition until the head's
``not_before`` and never has to scan, hold in memory or re-queue records that are not due yet. One
shared topic would mix a 5-second wait behind a 6-hour one and stall it.

``decide`` is the whole decision, pure: the caller passes the clock and the random draw, so the
same inputs always give the same answer and tests need neither sleeps nor seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from streams.errors import DeliveryError, InvalidRouteError, TransientDeliveryError


@dataclass(frozen=True, slots=True)
class Tier:
    """A retry topic, ``crmbus.retry.<name>``, whose records wait about ``delay_s`` seconds."""

    name: str
    delay_s: float


TIERS: tuple[Tier, ...] = (
    Tier("5s", 5),
    Tier("30s", 30),
    Tier("2m", 120),
    Tier("10m", 600),
    Tier("1h", 3_600),
    Tier("6h", 21_600),
)
"""Every tier the topic catalogue creates (``schemas/topics/retry.yaml``); a policy picks from these."""

_TIERS_BY_NAME = {tier.name: tier for tier in TIERS}


def tier_named(name: str) -> Tier:
    """The tier ``crmbus.retry.<name>``; raises ``ValueError`` for a name no tier has."""
    try:
        return _TIERS_BY_NAME[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a retry tier; use {', '.join(_TIERS_BY_NAME)}") from None


_CONFIG_KEYS = ("tiers", "max_attempts", "max_age_s", "jitter", "retry_after_cap_s")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a route or destination retries. Invalid values raise ``InvalidRouteError`` naming the field.

    ``max_attempts`` counts every attempt, the first included: 8 means one try and seven retries.
    ``max_age_s`` bounds the time from the first failure to the last attempt.
    ``jitter`` spreads each wait over ±that fraction, so deliveries that failed together (a
    destination outage) do not all come back in the same second.
    ``retry_after_cap_s`` is the longest Retry-After we honour; a destination cannot park a
    record for days. The longest tier is a second cap (see ``decide``).
    """

    tiers: tuple[Tier, ...] = TIERS
    max_attempts: int = 8
    max_age_s: float = 24 * 3_600
    jitter: float = 0.2
    retry_after_cap_s: float = 6 * 3_600

    def __post_init__(self) -> None:
        if not self.tiers:
            raise InvalidRouteError("tiers: name at least one tier", field="tiers")
        for i, (shorter, longer) in enumerate(zip(self.tiers, self.tiers[1:], strict=False), start=1):
            if longer.delay_s <= shorter.delay_s:
                raise InvalidRouteError(
                    f"tiers[{i}]: tiers must be listed from shortest to longest", field=f"tiers[{i}]"
                )
        if self.max_attempts < 1:
            raise InvalidRouteError("max_attempts: must be at least 1", field="max_attempts")
        if self.max_age_s <= 0:
            raise InvalidRouteError("max_age_s: must be positive", field="max_age_s")
        if not 0 <= self.jitter < 1:
            raise InvalidRouteError("jitter: must be at least 0 and below 1", field="jitter")
        if self.retry_after_cap_s < 0:
            raise InvalidRouteError("retry_after_cap_s: must not be negative", field="retry_after_cap_s")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, base: RetryPolicy | None = None) -> RetryPolicy:
        """The policy a route's or destination's retry config asks for, e.g.
        ``{"max_attempts": 5, "max_age_s": 3600, "tiers": ["5s", "30s"]}``.

        Fields left out keep their value in ``base`` (the defaults without it), so a route's config
        can refine its destination's: ``from_config(route, base=from_config(destination))``.
        Unknown fields are refused rather than ignored: a misspelt ``max_attempt`` would otherwise
        silently retry eight times. Raises ``InvalidRouteError`` whose ``field`` names the key.
        """
        for key in config:
            if key not in _CONFIG_KEYS:
                raise InvalidRouteError(f"{key}: not a retry setting; use {', '.join(_CONFIG_KEYS)}", field=str(key))
        changes: dict[str, Any] = {}
        if "tiers" in config:
            changes["tiers"] = _tiers(config["tiers"])
        if "max_attempts" in config:
            changes["max_attempts"] = _whole(config["max_attempts"], "max_attempts")
        for key in ("max_age_s", "jitter", "retry_after_cap_s"):
            if key in config:
                changes[key] = _number(config[key], key)
        return replace(base or cls(), **changes)


@dataclass(frozen=True, slots=True)
class Retry:
    """Send the delivery to ``tier``'s topic, not to be attempted before ``not_before``."""

    tier: Tier
    not_before: datetime


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Stop trying: the delivery goes to the DLQ, with ``reason`` in its headers."""

    reason: Literal["permanent", "attempts_exhausted", "too_old"]


def decide(
    policy: RetryPolicy,
    *,
    attempt: int,
    first_failure_at: datetime,
    now: datetime,
    error: DeliveryError,
    rand: float,
) -> Retry | DeadLetter:
    """What to do with a delivery whose attempt number ``attempt`` (1 for the first) just failed.

    ``attempt`` is the Delivery record's ``attempt`` (attempts made before) plus one.
    ``first_failure_at`` is the record's, or ``now`` when this is its first failure.
    ``rand`` is a uniform draw from [0, 1] (``random.random()``); it only moves the jitter.

    Only a ``TransientDeliveryError`` is retried: a ``PermanentDeliveryError``, and a bare
    ``DeliveryError`` that no connector classified, cannot be shown to be worth another try.

    The wait is the tier of this attempt (the last tier repeats), jittered, and at least the
    destination's Retry-After. The tier is the shortest one that lasts as long as the unjittered
    wait, so a record never sits at the head of a shorter tier, where it would hold up every record
    behind it; for the same reason Retry-After is honoured up to the longest tier of the policy.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if not 0 <= rand <= 1:
        raise ValueError(f"rand must be a draw from [0, 1], got {rand}")
    if not isinstance(error, TransientDeliveryError):
        return DeadLetter("permanent")
    if attempt >= policy.max_attempts:
        return DeadLetter("attempts_exhausted")
    scheduled = policy.tiers[min(attempt, len(policy.tiers)) - 1].delay_s
    asked = min(max(error.retry_after_s or 0.0, 0.0), policy.retry_after_cap_s, policy.tiers[-1].delay_s)
    tier = next(t for t in policy.tiers if t.delay_s >= max(scheduled, asked))
    jittered = scheduled * (1 + policy.jitter * (2 * rand - 1))
    not_before = now + timedelta(seconds=max(jittered, asked))
    if not_before > first_failure_at + timedelta(seconds=policy.max_age_s):
        return DeadLetter("too_old")
    return Retry(tier, not_before)


def _tiers(value: Any) -> tuple[Tier, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidRouteError("tiers: must be a list of tier names", field="tiers")
    tiers = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or name not in _TIERS_BY_NAME:
            raise InvalidRouteError(
                f"tiers[{i}]: not a retry tier; use {', '.join(_TIERS_BY_NAME)}", field=f"tiers[{i}]"
            )
        tiers.append(_TIERS_BY_NAME[name])
    return tuple(tiers)


def _whole(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidRouteError(f"{key}: must be a whole number", field=key)


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRouteError(f"{key}: must be a number", field=key)
    return float(value)
