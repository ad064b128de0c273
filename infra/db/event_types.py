"""Tenants' event types in PostgreSQL (``event_types``): add, list, show, deprecate, and load them.

Each row is one revision of one major version of a type, holding the whole type document. Adding
a document for a major version that exists makes its next revision, after the evolution rules
(``streams.type_evolution``) show it accepts every payload the latest revision accepts; anything
else is refused with ``IncompatibleSchemaError`` naming the field, and must come as a new major
version, numbered next after the highest the type has (1 for a new type), beside the old ones.

The ingress and the workers poll ``fingerprint`` (one cheap query) and call ``load_active`` only
when it changed, as they do for routes.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, Select, String, cast, func, literal_column, select
from sqlalchemy.orm import Session

from infra.db.audit import audit
from infra.db.errors import translated
from infra.db.models import EventTypeRevision, Tenant
from schemas.event_types import built_in_catalogue, built_in_types
from streams.errors import ConfigurationError, InvalidEventTypeError
from streams.event_catalogue import EventCatalogue
from streams.event_type import EventType, event_type_from_document
from streams.type_evolution import check_revision

log = logging.getLogger(__name__)

Outcome = Literal["new type", "new version", "new revision", "unchanged"]


@dataclass(frozen=True, slots=True)
class TypeAdded:
    """What ``add`` stored: the type as it now stands, and whether it is new, or what changed."""

    event_type: EventType
    outcome: Outcome


class EventTypes:
    def __init__(self, engine: Engine, actor: str = "cli") -> None:
        self.engine = engine
        self.actor = actor

    @translated("adding an event type")
    def add(
        self,
        tenant_id: str,
        document: Mapping[str, Any],
        *,
        before_commit: Callable[[EventType], None] | None = None,
    ) -> TypeAdded:
        """Register ``document`` for ``tenant_id``: a new type, a new major version of one, or the
        next revision of an existing major version (the document's own ``revision`` is replaced by
        the number it gets). Adding the latest revision again changes nothing.

        ``before_commit`` is called with the type as it will stand (unchanged ones included), once
        every check passed and before anything is committed: what it raises stores nothing. The CLI
        prepares a typed topic there (its schema registered, the topic created).

        Raises ``InvalidEventTypeError`` naming the field for a document that is not a valid type,
        a built-in type's name, a major version out of sequence or a deprecated one;
        ``IncompatibleSchemaError`` for a revision that would break its major version;
        ``ConfigurationError`` for an unknown tenant.
        """
        proposed = event_type_from_document(document, tenant_id=tenant_id)
        if proposed.deprecated:
            raise InvalidEventTypeError(
                "deprecated: is not registered; deprecate a version with 'crmbus types deprecate'", field="deprecated"
            )
        if proposed.name in {built_in.name for built_in in built_in_types()}:
            raise InvalidEventTypeError(
                f"name: {proposed.name} is a built-in type; a tenant's own type needs another name", field="name"
            )
        with Session(self.engine) as session, session.begin():
            # One registration per tenant at a time: two may not both take the same next revision.
            if session.get(Tenant, tenant_id, with_for_update=True) is None:
                raise ConfigurationError(f"no tenant {tenant_id!r}; create it with 'crmbus tenants create'")
            latest = _latest_revisions(session, tenant_id, proposed.name)
            current = latest.get(proposed.version)
            outcome: Outcome
            if current is None:
                highest = max(latest, default=0)
                if proposed.version != highest + 1:
                    raise InvalidEventTypeError(
                        f"version: {proposed.name} has versions up to {highest}; a new major version is {highest + 1}"
                        if highest
                        else f"version: {proposed.name} is a new type; its first version is 1",
                        field="version",
                    )
                revision, outcome = 1, "new version" if highest else "new type"
            else:
                if current.deprecated_at is not None:
                    raise InvalidEventTypeError(
                        f"version: {proposed.name} v{proposed.version} is deprecated; register a new major version",
                        field="version",
                    )
                if _without_revision(current.document) == _without_revision(proposed.to_document()):
                    unchanged = _event_type(current)
                    if before_commit is not None:
                        before_commit(unchanged)
                    return TypeAdded(unchanged, "unchanged")
                check_revision(_event_type(current), proposed, next_version=max(latest) + 1)
                revision, outcome = current.revision + 1, "new revision"
            document = {**proposed.to_document(), "revision": revision}
            row = EventTypeRevision(
                tenant_id=tenant_id,
                name=proposed.name,
                version=proposed.version,
                revision=revision,
                document=document,
            )
            session.add(row)
            session.flush()
            stored = _event_type(row)
            if before_commit is not None:
                before_commit(stored)
            audit(
                session,
                actor=self.actor,
                tenant_id=tenant_id,
                action="event_type.add",
                target_type="event_type",
                target_id=f"{proposed.name}.v{proposed.version}",
                details={"revision": str(revision), "outcome": outcome},
            )
            return TypeAdded(stored, outcome)

    @translated("listing event types")
    def list(self, tenant_id: str | None = None) -> builtins.list[EventType]:
        """The latest revision of each major version of the tenant's types (every tenant's when
        ``tenant_id`` is None), deprecated ones included and marked, by tenant, name and version."""
        with Session(self.engine) as session:
            return [_event_type(row) for row in session.scalars(_latest_query(tenant_id))]

    @translated("reading an event type")
    def show(self, tenant_id: str, name: str, version: int | None = None) -> EventType:
        """The latest revision of ``name`` v``version`` of ``tenant_id`` (of its highest major
        version when ``version`` is None); ``ConfigurationError`` when there is none."""
        with Session(self.engine) as session:
            latest = _latest_revisions(session, tenant_id, name)
            if not latest:
                raise ConfigurationError(f"tenant {tenant_id!r} has no event type {name}")
            chosen = max(latest) if version is None else version
            if chosen not in latest:
                listed = ", ".join(str(number) for number in sorted(latest))
                raise ConfigurationError(f"{name} of tenant {tenant_id!r} has no version {chosen} (it has {listed})")
            return _event_type(latest[chosen])

    @translated("deprecating an event type")
    def deprecate(self, tenant_id: str, name: str, version: int) -> EventType:
        """Mark ``name`` v``version`` of ``tenant_id`` deprecated: it is still accepted and routed,
        listed as deprecated, and takes no new revision. Deprecating it again changes nothing."""
        with Session(self.engine) as session, session.begin():
            rows = session.scalars(
                select(EventTypeRevision)
                .where(
                    EventTypeRevision.tenant_id == tenant_id,
                    EventTypeRevision.name == name,
                    EventTypeRevision.version == version,
                )
                .order_by(EventTypeRevision.revision)
                .with_for_update()
            ).all()
            if not rows:
                raise ConfigurationError(f"tenant {tenant_id!r} has no event type {name} v{version}")
            if rows[-1].deprecated_at is None:
                for row in rows:
                    row.deprecated_at = func.now()
                session.flush()
                audit(
                    session,
                    actor=self.actor,
                    tenant_id=tenant_id,
                    action="event_type.deprecate",
                    target_type="event_type",
                    target_id=f"{name}.v{version}",
                )
                session.refresh(rows[-1])
            return _event_type(rows[-1])

    def catalogue(self) -> EventCatalogue:
        """The built-in types and every tenant's own, as PostgreSQL holds them now."""
        return built_in_catalogue().with_tenant_types(self.load_active(), "")

    @translated("loading event types")
    def load_active(self) -> builtins.list[EventType]:
        """Every tenant's types as the ingress and workers apply them: the latest revision of each
        major version, deprecated ones included (marked ``deprecated``: still accepted).

        A stored document that no longer loads (a rule of ``event_type_from_document`` it predates)
        is left out with a warning naming it: one bad row must not stop every tenant's events.
        """
        with Session(self.engine) as session:
            rows = session.scalars(_latest_query(None)).all()
        loaded = []
        for row in rows:
            try:
                loaded.append(_event_type(row))
            except InvalidEventTypeError as exc:
                log.warning("event type %s v%d of %s skipped, it no longer loads: %s", row.name, row.version,
                            row.tenant_id, exc)  # fmt: skip
        return loaded

    @translated("fingerprinting event types")
    def fingerprint(self) -> str:
        """A short digest that changes whenever what ``load_active`` returns may have changed.

        Rows are only ever added, deprecated or (with their tenant) deleted, so the row count and
        the sum of a hash of each row's id and ``deprecated_at`` see every change, in one query.
        """
        row_text = func.concat_ws(
            ":", cast(EventTypeRevision.id, String), cast(EventTypeRevision.deprecated_at, String)
        )
        summary = select(
            func.count(), func.coalesce(func.sum(func.hashtext(row_text)), literal_column("0"))
        ).select_from(EventTypeRevision)
        with Session(self.engine) as session:
            count, total = session.execute(summary).one()
        return hashlib.sha256(f"{count}:{total}".encode()).hexdigest()[:32]


def _latest_query(tenant_id: str | None) -> Select[tuple[EventTypeRevision]]:
    """The latest revision of each major version of each type (of ``tenant_id``, when given)."""
    query = (
        select(EventTypeRevision)
        .distinct(EventTypeRevision.tenant_id, EventTypeRevision.name, EventTypeRevision.version)
        .order_by(
            EventTypeRevision.tenant_id,
            EventTypeRevision.name,
            EventTypeRevision.version,
            EventTypeRevision.revision.desc(),
        )
    )
    if tenant_id is not None:
        query = query.where(EventTypeRevision.tenant_id == tenant_id)
    return query


def _latest_revisions(session: Session, tenant_id: str, name: str) -> dict[int, EventTypeRevision]:
    """Major version to its latest revision, of ``name`` of ``tenant_id``."""
    rows = session.scalars(_latest_query(tenant_id).where(EventTypeRevision.name == name))
    return {row.version: row for row in rows}


def _event_type(row: EventTypeRevision) -> EventType:
    document = row.document if row.deprecated_at is None else {**row.document, "deprecated": True}
    return event_type_from_document(document, tenant_id=row.tenant_id)


def _without_revision(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "revision"}
