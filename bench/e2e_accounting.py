"""What one phase's arrivals say: events fully delivered, lost, duplicated, and how late. Pure.

Event ``seq`` of a phase was due at ``start_s + seq / rate`` (the open loop's schedule, on the
``time.monotonic()`` clock); it is *complete* once each destination got it, and its latency is
the first arrival of its *last* destination minus that scheduled instant, so the slowest of the
three deliveries is what counts. A delivery that arrives more than once is a duplicate (each
arrival after the first). ``lost`` = events accepted (202) but not complete; it can only be
estimated in number, not per event, since the answers do not name their request: an event
complete although its answer was an error (a timeout) does not make up for another one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.stats import percentile


@dataclass(frozen=True, slots=True)
class Arrival:
    """One successful delivery as the receiver saw it (``at_s``: its ``time.monotonic()``)."""

    system: str
    seq: int
    at_s: float


@dataclass(frozen=True, slots=True)
class Schedule:
    start_s: float
    rate: float  # events per second
    total: int

    def due_s(self, seq: int) -> float:
        return self.start_s + seq / self.rate


@dataclass(frozen=True, slots=True)
class Percentiles:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    @classmethod
    def of(cls, values_ms: Iterable[float]) -> Percentiles:
        ordered = sorted(values_ms)
        p50, p95, p99, p999 = (percentile(ordered, f) for f in (0.50, 0.95, 0.99, 0.999))
        return cls(len(ordered), p50, p95, p99, p999, ordered[-1] if ordered else math.nan)


@dataclass(frozen=True, slots=True)
class Outcome:
    scheduled: int
    accepted: int
    complete: int  # events with every destination's delivery
    duplicates: int  # arrivals beyond the first of each (event, destination)
    foreign: int  # arrivals of sequence numbers the schedule did not send
    latency: Percentiles

    @property
    def lost(self) -> int:
        return max(0, self.accepted - self.complete)

    @property
    def incomplete_share(self) -> float:
        """Share of scheduled events not fully delivered: refused, lost or still on their way."""
        return 1.0 - self.complete / self.scheduled if self.scheduled else 0.0

    def delivered_per_s(self, duration_s: float) -> float:
        return self.complete / duration_s if duration_s > 0 else 0.0


def account(schedule: Schedule, accepted: int, arrivals: Iterable[Arrival], destinations: Sequence[str]) -> Outcome:
    """Match ``arrivals`` (any order) to the events of ``schedule``."""
    first: dict[tuple[int, str], float] = {}
    duplicates = foreign = 0
    for arrival in arrivals:
        if not 0 <= arrival.seq < schedule.total:
            foreign += 1
            continue
        key = (arrival.seq, arrival.system)
        if key in first:
            duplicates += 1
            first[key] = min(first[key], arrival.at_s)
        else:
            first[key] = arrival.at_s
    last: dict[int, float] = {}
    reached: dict[int, int] = {}
    wanted = set(destinations)
    for (seq, system), at_s in first.items():
        if system in wanted:
            reached[seq] = reached.get(seq, 0) + 1
            last[seq] = max(last.get(seq, at_s), at_s)
    done = [seq for seq, count in reached.items() if count == len(wanted)]
    latencies = [1000.0 * (last[seq] - schedule.due_s(seq)) for seq in done]
    return Outcome(
        scheduled=schedule.total,
        accepted=accepted,
        complete=len(done),
        duplicates=duplicates,
        foreign=foreign,
        latency=Percentiles.of(latencies),
    )
