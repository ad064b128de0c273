"""Whose event an id is: the console's event page asks before it reads the event's history, which
is kept per tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, select, union_all

from infra.db.errors import translated
from infra.db.models import EventStatus, WebhookDelivery


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
