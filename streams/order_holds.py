"""Order across retries: while a delivery of an ordered destination waits in a retry tier, the
later deliveries of its order wait behind it.

An *order* is the deliveries of one tenant's destination with the same ``ordering_key`` (all of
them, for events without one). Within a batch the sink calls an order's deliveries one after
another and stops at the first that does not get through. Across batches a *hold* says which
delivery of the order waits in which tier until when; it lives in a changelog-backed table (it
must outlive the process and follow its partition). A later delivery of the order that meets a
hold is parked behind it: into the same tier with the same due time, so it is written after the
waiting one to the same partition of that tier (both are keyed by tenant) and comes back after
it, in order. The waiting one coming back finds its own hold and is called; once it is delivered
or dead-lettered its hold is cleared and the ones behind it go through when they come back.

Everything here is pure: the caller passes the clock. Times are wall-clock epoch seconds, since a
hold outlives the process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams.retry_policy import Tier, tier_named

FORGOTTEN_AFTER_S = 3_600.0
"""A hold whose delivery is this long overdue is ignored and replaced: that delivery was lost
(its tier's records expired, or it was moved by hand), and an order must not wait for it forever."""

_FORMAT = 1


def order_key(tenant_id: str, kind: str, ordering_key: str | None) -> bytes:
    """The hold-table key of the order a delivery belongs to."""
    return f"{tenant_id}\x1f{kind}\x1f{ordering_key or ''}".encode()


@dataclass(frozen=True, slots=True)
class Hold:
    """Delivery ``delivery_id`` waits in ``tier`` until ``not_before`` (epoch seconds); the later
    deliveries of its order wait behind it."""

    delivery_id: str
    tier: str
    not_before: float

    def to_bytes(self) -> bytes:
        return json.dumps([_FORMAT, self.delivery_id, self.tier, self.not_before], separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Hold:
        """The hold ``to_bytes`` wrote. Raises ``ValueError`` on anything else."""
        try:
            doc: Any = json.loads(data)
            version, delivery_id, tier, not_before = doc
            if version != _FORMAT or not isinstance(delivery_id, str):
                raise ValueError(f"format {version!r}")
            return cls(delivery_id, tier_named(tier).name, float(not_before))
        except (ValueError, TypeError) as error:
            raise ValueError(f"not an order hold of format {_FORMAT}: {error}") from None


def waits_behind(hold: Hold | None, delivery_id: str, now: float) -> Hold | None:
    """The hold ``delivery_id`` must wait behind, or None when it may be called: no delivery of its
    order waits, it is the one waiting, or the one waiting is lost (``FORGOTTEN_AFTER_S``)."""
    if hold is None or hold.delivery_id == delivery_id or now > hold.not_before + FORGOTTEN_AFTER_S:
        return None
    return hold


def behind(hold: Hold) -> tuple[Tier, datetime]:
    """Where and until when a delivery waits behind ``hold``: its tier, its due time."""
    return tier_named(hold.tier), datetime.fromtimestamp(hold.not_before, UTC)


def after_settling(
    hold: Hold | None, delivery_id: str, waiting: tuple[Tier, datetime] | None, now: float
) -> Hold | None:
    """The order's hold once ``delivery_id`` settled: ``waiting`` is the tier and due time it went
    to, or None when it is done (delivered, or in the DLQ).

    A delivery that goes to a tier holds its order unless another one already does (then it was
    parked behind that one); a waiting delivery that is done clears its own hold. A lost hold is
    replaced or cleared like an absent one.
    """
    live = waits_behind(hold, delivery_id, now) is not None
    if waiting is not None:
        if live:
            return hold
        tier, not_before = waiting
        return Hold(delivery_id, tier.name, not_before.timestamp())
    return hold if live else None
