"""Priority lanes: which ingress topic an event type is written to.

Each type names its lane in its definition; the deployment's settings may move types to the high
or the low lane over that (``CRMBUS_HIGH_PRIORITY_TYPES``, ``CRMBUS_LOW_PRIORITY_TYPES``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lanes:
    """The three lane topics, highest priority first, and the event types the settings send to the
    high and the low one whatever their definition says."""

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

    def topic_for(self, event_type: str, lane: str = "default") -> str:
        """The topic of ``event_type`` events, whose definition puts them in ``lane``."""
        if event_type in self.high_types:
            return self.topics[0]
        if event_type in self.low_types:
            return self.topics[2]
        return self.topics[("high", "default", "low").index(lane)]
