"""The stores that hold personal data, as LGPD subject rights see them: the one list that
``crmbus subject export|erase`` and the admin API walk (``infra.control.subject_rights``).

A store that keeps the digests of the people its rows are about (``subjects``: dead letters, the
event archive) is a ``SubjectStore``: it finds a person's rows by those digests. A store whose rows
name no one but belong to events (the delivery log; dead letters again, for a letter whose payload
names the person under a destination's own field names) is an ``EventStore``: it finds the rows of
the events the subject stores' rows belong to. Every row exported carries its ``table`` and, when
it belongs to an event, its ``event_id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine

from infra.core.secret_box import SecretBox
from infra.db.dead_letters import DeadLetters, Decode
from infra.db.delivery_log import DeliveryLog
from infra.db.event_archive import EventArchive


class SubjectStore(Protocol):
    name: str

    def export_subject(self, tenant_id: str, digests: Sequence[str]) -> list[dict[str, Any]]:
        """The tenant's rows about the people of ``digests``, opened, as JSON values."""
        ...

    def erase_subject(self, tenant_id: str, digests: Sequence[str]) -> int:
        """Delete them; how many rows went."""
        ...


class EventStore(Protocol):
    name: str

    def export_events(self, tenant_id: str, event_ids: Collection[uuid.UUID]) -> list[dict[str, Any]]: ...

    def erase_events(self, tenant_id: str, event_ids: Collection[uuid.UUID]) -> int: ...


@dataclass(frozen=True, slots=True)
class SubjectStores:
    """Every store of personal data in PostgreSQL."""

    by_subject: Sequence[SubjectStore]
    by_event: Sequence[EventStore]


def subject_stores(engine: Engine, box: SecretBox, decode: Decode) -> SubjectStores:
    """The stores holding personal data, the one list of them. Those that find the person come last
    among the event stores: an erasure stopped half-way finds the same events when run again."""
    letters = DeadLetters(engine, "subject-rights", box=box, decode=decode)
    archive = EventArchive(engine, box, "subject-rights")
    return SubjectStores(by_subject=(archive, letters), by_event=(DeliveryLog(engine), letters))
