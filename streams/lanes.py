"""Priority lanes: which ingress topic an event type is written to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lanes:
    """The three lane topics, highest priority first, and the event types sent to the high and the
    low one; every other type goes to the default lane."""

    topics: tuple[str, str, str]
    high_types: frozenset[str]
    low_types: frozenset[str]

    @classmethod
    def configure(cls, topics: tuple[str, str, str], high: Iterable[str], low: Iterable[str]) -> Lanes:
        high_set, low_set = frozenset(high), frozenset(low)
        both = high_set & low_set
        if both:
            raise ValueError(f"event types in both the high and the low lane: {sorted(both)}")
        return cls(topics, high_set, low_set)

    def topic_for(self, event_type: str) -> str:
        if event_type in self.high_types:
            return self.topics[0]
        if event_type in self.low_types:
            return self.topics[2]
        return self.topics[1]
