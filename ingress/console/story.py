"""An event's whole story, from its history: what the router decided, and for each delivery its
attempts, its DLQ records and where it is now. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infra.db.dead_letters import DeadLetterView
from infra.db.delivery_log import DeliveryAttempt, EventHistory

_NOW = {
    "delivered": "delivered",
    "duplicate": "delivered (a repeat was skipped)",
    "retrying": "waiting to retry",
    "dead_lettered": "dead-lettered",
}


@dataclass(frozen=True, slots=True)
class DeliveryStory:
    delivery_id: str
    destination: str
    attempts: tuple[DeliveryAttempt, ...]
    dead_letters: tuple[DeadLetterView, ...]

    @property
    def retryable(self) -> bool:
        """Its last attempt sent it to the DLQ, and its letter there is open (not yet replayed)."""
        return self.attempts[-1].status == "dead_lettered" and any(d.status == "open" for d in self.dead_letters)

    @property
    def now(self) -> str:
        """Where it is now, in words."""
        last = self.attempts[-1].status
        if last == "dead_lettered" and any(dead.status == "replayed" for dead in self.dead_letters):
            return "replayed from the DLQ, not yet attempted again"
        return _NOW.get(last, last)


def deliveries(history: EventHistory, dead_letters: Sequence[DeadLetterView]) -> list[DeliveryStory]:
    """One story per delivery, in the order of their first attempt."""
    attempts: dict[str, list[DeliveryAttempt]] = {}
    for attempt in history.attempts:
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return [
        DeliveryStory(
            delivery_id,
            tried[0].destination,
            tuple(tried),
            tuple(dead for dead in dead_letters if dead.delivery_id == delivery_id),
        )
        for delivery_id, tried in attempts.items()
    ]


def decision(history: EventHistory) -> str:
    """What the router did with the event, in words."""
    decided = history.decision
    if decided is None:
        return "accepted; the router's decision is not archived yet"
    at = decided.decided_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    if decided.decision == "routed":
        failed = f", {decided.failed_routes} route(s) failed to map" if decided.failed_routes else ""
        return f"accepted and routed to {decided.planned} destination(s) at {at}{failed}"
    if decided.decision == "no_route":
        return f"accepted; no route matched it ({at})"
    return f"accepted; a repeat of an event already routed, so not routed again ({at})"
