"""What the console's event page reads besides the delivery history: whose event an id is, and
the DLQ records its deliveries left."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, union_all

from infra.db.errors import translated
from infra.db.models import DeadLetter, EventStatus, WebhookDelivery


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """One archived DLQ record of a delivery, without its bytes or its error message (they may
    quote personal data)."""

    id: int
    delivery_id: str
    destination: str | None
    error_class: str
    status_code: int | None
    attempts: int
    status: str
    """open, replayed or discarded."""
    last_failure_at: datetime | None


class EventTrail:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @translated("finding an event's tenant")
    def tenant_of(self, event_id: uuid.UUID) -> str | None:
        """The tenant of event ``event_id``, from its routing decision or an attempt; None if the
        history has neither."""
        decided = select(EventStatus.tenant_id).where(EventStatus.event_id == event_id)
        attempted = select(WebhookDelivery.tenant_id).where(WebhookDelivery.event_id == event_id).limit(1)
        with self.engine.connect() as connection:
            found = connection.execute(union_all(decided, attempted).limit(1)).scalar_one_or_none()
        return None if found is None else str(found)

    @translated("reading an event's DLQ records")
    def dead_letters(self, tenant_id: str, delivery_ids: Sequence[str]) -> list[DeadLetterView]:
        """``tenant_id``'s archived DLQ records of these deliveries, the oldest first."""
        if not delivery_ids:
            return []
        query = (
            select(
                DeadLetter.id, DeadLetter.delivery_id, DeadLetter.destination, DeadLetter.error_class,
                DeadLetter.status_code, DeadLetter.attempts, DeadLetter.status, DeadLetter.last_failure_at,
            )
            .where(DeadLetter.tenant_id == tenant_id, DeadLetter.delivery_id.in_(list(delivery_ids)))
            .order_by(DeadLetter.id)
        )  # fmt: skip
        with self.engine.connect() as connection:
            return [DeadLetterView(*row) for row in connection.execute(query)]
