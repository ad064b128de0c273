"""Whether one tenant's destination met the delivery SLA over a window of its attempts.

The figures come from the delivery log (``webhook_deliveries``), one row per attempt. The SLA
judges *attempts*, not final outcomes: a destination that is down produces retries, not yet
dead letters, and an SLA on final outcomes would stay silent for hours while it is down. So the
success rate is the share of attempts the destination took, and the latency percentiles are
those of every attempt, a failure's time included (a timeout is the slowest answer there is).
Skipped duplicates never called anyone and are not attempts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["ok", "breached", "idle"]
"""``idle``: no attempt in the window, so nothing to judge."""


@dataclass(frozen=True, slots=True)
class DeliverySla:
    """At least ``success_rate`` of the attempts succeed, and 95 % answer within ``p95_ms``."""

    p95_ms: float
    success_rate: float

    def __post_init__(self) -> None:
        if not self.p95_ms > 0:
            raise ValueError("p95_ms must be positive")
        if not 0 < self.success_rate <= 1:
            raise ValueError("success_rate must be above 0 and at most 1")


@dataclass(frozen=True, slots=True)
class DeliveryFigures:
    """The attempts of one (tenant, destination) in a window, by how each ended.

    ``p50_ms`` and ``p95_ms`` are None exactly when there was no attempt.
    """

    delivered: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    last_error_class: str | None = None

    def __post_init__(self) -> None:
        if min(self.delivered, self.retrying, self.dead_lettered) < 0:
            raise ValueError("counts cannot be negative")
        if (self.p95_ms is None) != (self.attempts == 0) or (self.p50_ms is None) != (self.attempts == 0):
            raise ValueError("latency percentiles are given exactly when there were attempts")

    @property
    def attempts(self) -> int:
        return self.delivered + self.retrying + self.dead_lettered

    @property
    def success_rate(self) -> float | None:
        """Delivered attempts over all attempts; None without attempts."""
        return self.delivered / self.attempts if self.attempts else None


@dataclass(frozen=True, slots=True)
class SlaJudgement:
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    """Why it is breached, one short sentence per unmet target; empty unless breached."""


def judge(figures: DeliveryFigures, sla: DeliverySla) -> SlaJudgement:
    """``ok`` when both targets are met, ``breached`` (saying which) when one is not."""
    rate, p95 = figures.success_rate, figures.p95_ms
    if rate is None or p95 is None:
        return SlaJudgement("idle")
    reasons = []
    if rate < sla.success_rate:
        reasons.append(f"success {percent_down(rate)} < {sla.success_rate * 100:g} %")
    if p95 > sla.p95_ms:
        reasons.append(f"p95 {p95:.0f} ms > {sla.p95_ms:.0f} ms")
    return SlaJudgement("breached", tuple(reasons)) if reasons else SlaJudgement("ok")


def percent_down(rate: float) -> str:
    """``94.9 %`` for 0.9495: rounded down, so a rate just under its target never reads as the
    target itself (the epsilon keeps 0.57 from reading 56.9 through binary floating point)."""
    return f"{math.floor(rate * 1000 + 1e-9) / 10:.1f} %"
