"""LGPD subject rights: export everything PostgreSQL holds about a person, or erase it.

A person is named by phone, e-mail or CPF (``streams.subjects``); the stores find their rows by
the keyed digests of those identifiers (``infra.core.subject_index``), never by the identifiers,
which are neither stored nor written to the audit log: an erasure is audited with the kinds of
identifier it was asked by and the rows each store erased. First the stores that know the person
(``SubjectStore``) name the events their rows belong to; then the stores of those events'
deliveries (``EventStore``) answer for them too.

Kafka is not PostgreSQL: records cannot be deleted from a topic, they age out. An erasure says
which topics may still hold the person's events, and until when (each topic's retention, from the
topic catalogue).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra.core.subject_index import SubjectIndex
from infra.db.audit import audit_alone
from infra.db.engine import Engine
from infra.db.subject_stores import SubjectStores
from schemas.catalogue import Catalogue
from streams.errors import ConfigurationError
from streams.subjects import Subject

_NO_PERSONAL_DATA = frozenset({"delivery_outcome.v2.avsc"})
"""Value schemas without a payload: their records name no one."""
_CHANGELOGS = (
    "the workers' 'scheduled' table changelog (compacted) keeps a delayed action's record until it is "
    "released; the deliver and retry topics then age out as above"
)


@dataclass(frozen=True, slots=True)
class KafkaCopy:
    """A topic that may still hold the person's records, and for how long at most."""

    topic: str
    retention_ms: int

    def to_json(self) -> dict[str, Any]:
        days = self.retention_ms / 86_400_000
        return {
            "topic": self.topic,
            "retention_ms": self.retention_ms,
            "until": "forever" if self.retention_ms < 0 else f"up to {days:g} days after each record was written",
        }


def kafka_copies(catalogue: Catalogue) -> list[KafkaCopy]:
    """The catalogue's topics whose records carry payloads (``catalogue`` with the deployment's prefix)."""
    return [KafkaCopy(spec.name, spec.retention_ms) for spec in catalogue if spec.value_schema not in _NO_PERSONAL_DATA]


class SubjectRights:
    def __init__(
        self, engine: Engine, stores: SubjectStores, index: SubjectIndex, kafka: Sequence[KafkaCopy], actor: str
    ) -> None:
        self._engine, self._stores, self._index, self._kafka, self._actor = engine, stores, index, kafka, actor

    def export(self, tenant_id: str, subjects: Sequence[Subject]) -> dict[str, Any]:
        """Everything stored about the people ``subjects`` name, as JSON: each store's rows."""
        digests = self._digests(subjects)
        found: dict[str, list[dict[str, Any]]] = {}
        for store in self._stores.by_subject:
            found[store.name] = store.export_subject(tenant_id, digests)
        events = _event_ids(found)
        for linked in self._stores.by_event:
            rows = linked.export_events(tenant_id, events)
            known = {(row.get("table"), row.get("id")) for row in found.get(linked.name, [])}
            found.setdefault(linked.name, []).extend(
                row for row in rows if (row.get("table"), row.get("id")) not in known
            )
        return {
            "tenant_id": tenant_id,
            "asked_by": sorted({item.kind for item in subjects}),
            "event_ids": sorted(str(event) for event in events),
            "stores": found,
        }

    def erase(self, tenant_id: str, subjects: Sequence[Subject]) -> dict[str, Any]:
        """Delete the people's rows from every store; audited with counts only. Each store erases
        in its own transaction, the stores that find the person last: stopped half-way, an
        erasure run again finds what is left."""
        digests = self._digests(subjects)
        events: set[uuid.UUID] = set()
        for store in self._stores.by_subject:
            events |= _event_ids({store.name: store.export_subject(tenant_id, digests)})
        erased: dict[str, int] = {}
        for linked in self._stores.by_event:
            erased[linked.name] = erased.get(linked.name, 0) + linked.erase_events(tenant_id, events)
        for store in self._stores.by_subject:
            erased[store.name] = erased.get(store.name, 0) + store.erase_subject(tenant_id, digests)
        kinds = sorted({item.kind for item in subjects})
        audit_alone(
            self._engine, actor=self._actor, tenant_id=tenant_id, action="subject.erase", target_type="subject",
            target_id=",".join(kinds),
            details={"events": str(len(events)), **{f"erased.{name}": str(count) for name, count in erased.items()}},
        )  # fmt: skip
        return {
            "tenant_id": tenant_id,
            "asked_by": kinds,
            "events": len(events),
            "erased": erased,
            "kafka": [copy.to_json() for copy in self._kafka],
            "kafka_changelogs": _CHANGELOGS,
        }

    def _digests(self, subjects: Sequence[Subject]) -> list[str]:
        if not subjects:
            raise ConfigurationError("name the person: a phone, an e-mail or a CPF")
        return self._index.digests(subjects)


def _event_ids(found: dict[str, list[dict[str, Any]]]) -> set[uuid.UUID]:
    ids = set()
    for rows in found.values():
        for row in rows:
            if row.get("event_id"):
                ids.add(uuid.UUID(str(row["event_id"])))
    return ids
