"""How long a delivered event took from acceptance to delivery, and whether its class's SLA held.

Observed by the sink when a destination took a delivery, from the delivery record's ``ready_at``
(when the ingress accepted the event, or a delayed action fell due); records written before
that field existed carry none and are not timed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Histogram

from infra.core.metrics import ACCEPT_TO_DELIVERED, SLA_DELIVERIES
from streams.sla_classes import CLASS_OF_KIND, SlaThresholds, event_type_label, sla_verdict


class DeliveryTiming:
    """Times the deliveries of the sink of destination ``kind``."""

    def __init__(self, kind: str, thresholds: SlaThresholds, built_in_types: frozenset[str]) -> None:
        self._kind, self._thresholds, self._built_in = kind, thresholds, built_in_types
        # Children looked up once per label value, as the sink does for its counters.
        self._latency: dict[tuple[str, str], Histogram] = {}
        sla_class = CLASS_OF_KIND.get(kind)
        self._sla: dict[bool, Counter] = (
            {met: SLA_DELIVERIES.labels(**{"class": sla_class, "met": str(met).lower()}) for met in (True, False)}
            if sla_class is not None
            else {}
        )

    def delivered(self, delivery: Mapping[str, Any], via: str, now: float) -> None:
        """``delivery`` was taken by destination kind ``via`` (itself, or its fallback) at ``now``."""
        ready_at = delivery.get("ready_at")
        if ready_at is None:
            return
        took = max(0.0, now - ready_at.timestamp())
        key = (event_type_label(delivery["event_type"], self._built_in), via)
        child = self._latency.get(key)
        if child is None:
            child = self._latency[key] = ACCEPT_TO_DELIVERED.labels(event_type=key[0], destination=via)
        child.observe(took)
        verdict = sla_verdict(self._kind, took, self._thresholds)
        if verdict is not None:
            self._sla[verdict.met].inc()
