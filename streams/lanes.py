"""Priority lanes: which ingress topic an event type is written to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HIGH, DEFAULT, LOW = "crmbus.events.high", "crmbus.events", "crmbus.events.low"


@dataclass(frozen=True, slots=True)
class Lanes:
    high_types: frozenset[str]
    low_types: frozenset[str]
    prefix: str = ""

    @classmethod
    def configure(cls, high: Iterable[str], low: Iterable[str], prefix: str = "") -> Lanes:
        high_set, low_set = frozenset(high), frozenset(low)
        both = high_set & low_set
        if both:
            raise ValueError(f"event types in both the high and the low lane: {sorted(both)}")
        return cls(high_set, low_set, prefix)

    def topic_for(self, event_type: str) -> str:
        if event_type in self.high_types:
            return self.prefix + HIGH
        if event_type in self.low_types:
            return self.prefix + LOW
        return self.prefix + DEFAULT

    @property
    def topics(self) -> tuple[str, str, str]:
        return (self.prefix + HIGH, self.prefix + DEFAULT, self.prefix + LOW)
