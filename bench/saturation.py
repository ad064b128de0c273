"""Saturation search: raise the offered rate until the server stops keeping up, then narrow in.

A step passes when at most ``max_error_rate`` of its events were not accepted and its p99
stays under ``p99_limit_ms``. The rate grows by ``factor`` while steps pass (and drops to
just under the accepted rate when the very first step fails); after a failure it bisects
between the best pass and the failure's bound (its offered rate, or a little above what it
accepted when it was overloaded) until they are within ``resolution`` of each other. The
result is the highest *accepted* rate among the passing steps: what the server sustained,
not what it was offered.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# A server that accepted A events/s while overloaded will not sustain much more than this times A.
_OVERLOAD_HEADROOM = 1.25


@dataclass(frozen=True, slots=True)
class Step:
    offered_per_s: float  # events per second
    accepted_per_s: float
    error_rate: float
    p99_ms: float
    generator_late: float = 0.0  # share of sends the generator made more than 5 ms late

    def verdict(self, policy: SearchPolicy) -> str | None:
        """Why this step fails the policy, or None when it passes."""
        if self.error_rate > policy.max_error_rate:
            return f"errors {self.error_rate:.1%}"
        if math.isnan(self.p99_ms) or self.p99_ms > policy.p99_limit_ms:
            return f"p99 {self.p99_ms:.0f} ms"
        return None


@dataclass(frozen=True, slots=True)
class SearchPolicy:
    start_per_s: float
    factor: float = 1.5
    max_error_rate: float = 0.01
    p99_limit_ms: float = 200.0
    resolution: float = 1.1  # stop when lowest failure / best pass is below this
    max_steps: int = 7

    def __post_init__(self) -> None:
        if self.start_per_s <= 0 or self.factor <= 1 or self.resolution <= 1 or self.max_steps < 1:
            raise ValueError("a search needs a positive start, and factor and resolution above 1")


def _upper_bound(failed: Step) -> float:
    """A failed step bounds capacity from above; an overloaded one also says roughly where."""
    if failed.accepted_per_s <= 0:
        return failed.offered_per_s
    return min(failed.offered_per_s, _OVERLOAD_HEADROOM * failed.accepted_per_s)


def search(measure: Callable[[float], Step], policy: SearchPolicy, first: Step | None = None) -> list[Step]:
    """The steps taken, in order; ``first`` is a step already measured at ``policy.start_per_s``."""
    steps: list[Step] = []
    best_pass: float | None = None
    upper: float | None = None
    rate = policy.start_per_s
    while len(steps) < policy.max_steps:
        step = first if first is not None and not steps else measure(rate)
        steps.append(step)
        if step.verdict(policy) is None:
            best_pass = max(best_pass or 0.0, step.offered_per_s)
        else:
            upper = min(upper or math.inf, _upper_bound(step))
        if upper is None:
            rate = step.offered_per_s * policy.factor
        elif best_pass is None:
            # Overloaded from the start: go to just under what it did accept.
            rate = min(step.offered_per_s / policy.factor, 0.9 * step.accepted_per_s) or step.offered_per_s / 4
        elif upper / best_pass < policy.resolution:
            break
        else:
            rate = (best_pass + upper) / 2
    return steps


def sustained_per_s(steps: list[Step], policy: SearchPolicy) -> float:
    """Highest accepted rate among passing steps; 0 when none passed."""
    return max((s.accepted_per_s for s in steps if s.verdict(policy) is None), default=0.0)
