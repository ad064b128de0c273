"""Matching what the sandbox destinations received to the deliveries a phase expected.

Pure bookkeeping, no HTTP. A delivery is expected under its delivery id (the ``Idempotency-Key``
of its request) with the destination it goes to and the instant its event was accepted. The
sandbox journal says, per request, when it arrived, whether the system acted on it (``applied``:
a success that was not a replay) and whether it was a replay of a key already applied.

- ``lost``: expected ids never applied;
- ``duplicates``: expected ids applied more than once (the sandbox applies a key once by
  design, so anything here is a broken destination, not a broken sink);
- ``redeliveries``: requests answered as replays (``duplicate``): the sink sent a delivery the
  destination had already taken — harmless thanks to the key, but work done twice;
- ``failed_requests``: requests answered with an error or not at all (injected failures).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Due:
    """One expected delivery: where it goes and when its event was accepted (epoch ms)."""

    destination: str
    accepted_ms: float


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request as the sandbox journal recorded it (``at_s``: epoch seconds of arrival)."""

    key: str | None
    system: str
    at_s: float
    applied: bool
    duplicate: bool


@dataclass(slots=True)
class Receipts:
    """What the destinations received of one phase's ``expected`` deliveries."""

    expected: int
    applied: int = 0  # distinct expected ids applied
    duplicates: int = 0
    redeliveries: int = 0
    failed_requests: int = 0
    foreign: int = 0  # applied keys the phase did not expect (another phase's, or junk)
    by_destination: dict[str, int] = field(default_factory=dict)  # distinct applied ids
    latencies_ms: list[float] = field(default_factory=list)  # first application - acceptance
    applied_at_ms: dict[str, list[float]] = field(default_factory=dict)  # per destination, first applications

    @property
    def lost(self) -> int:
        return self.expected - self.applied

    def times(self, destinations: Iterable[str] | None = None) -> list[float]:
        """First-application times of the given destinations (all when None)."""
        names = self.applied_at_ms.keys() if destinations is None else destinations
        return [at for name in names for at in self.applied_at_ms.get(name, [])]


def match(expected: Mapping[str, Due], arrivals: Iterable[Arrival]) -> Receipts:
    """Match ``arrivals`` (in any order) to ``expected`` by idempotency key."""
    result = Receipts(expected=len(expected))
    first: dict[str, float] = {}
    for arrival in arrivals:
        if arrival.duplicate:
            result.redeliveries += 1
        if not arrival.applied:
            result.failed_requests += not arrival.duplicate
            continue
        due = expected.get(arrival.key) if arrival.key is not None else None
        if due is None or arrival.key is None:
            result.foreign += 1
            continue
        at_ms = 1000 * arrival.at_s
        if arrival.key in first:
            result.duplicates += 1
            first[arrival.key] = min(first[arrival.key], at_ms)
            continue
        first[arrival.key] = at_ms
    for key, at_ms in first.items():
        due = expected[key]
        result.applied += 1
        result.by_destination[due.destination] = result.by_destination.get(due.destination, 0) + 1
        result.applied_at_ms.setdefault(due.destination, []).append(at_ms)
        result.latencies_ms.append(at_ms - due.accepted_ms)
    return result


def healthy_drop_pct(healthy_rate: float, failing_rate: float) -> float | None:
    """How much slower the healthy destinations went while another one failed, in percent.

    Negative when they went faster (a failing destination that answers at once frees CPU).
    """
    if healthy_rate <= 0:
        return None
    return 100.0 * (1.0 - failing_rate / healthy_rate)
