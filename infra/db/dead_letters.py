"""The archived dead letters (``dead_letter``) as operators see and act on them, and the replays
(``replays``) that send them back.

A caller acts for one tenant (``tenant_id``) or, a platform operator only, for all of them
(``None``); another tenant's letter is not found, never told apart from one that does not exist.
Every change is written to the audit log with the repository's ``actor``, in its transaction.

A letter's value is sealed at rest (``infra.core.secret_box``): every read opens it, so the
listing, the console, the admin API and the replays see the record's bytes as they were. Letters
are also a store of LGPD subject rights (``infra.db.subject_stores``), found by the digests of
the people they are about (``subjects``) or by their events' ids.
"""

from __future__ import annotations

import base64
import builtins
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, delete, func, select, true, update
from sqlalchemy.orm import Session

from infra.core.secret_box import SecretBox
from infra.db.audit import audit
from infra.db.delivery_log import json_values
from infra.db.errors import translated
from infra.db.models import DeadLetter, Replay
from streams.errors import ConfigurationError, DecodeError, NotFoundError, ReplayRunningError
from streams.replay_filter import ReplayFilter


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """One archived dead letter; ``key`` and ``value`` are the record's bytes, unmasked."""

    id: int
    tenant_id: str | None
    destination: str | None
    delivery_id: str | None
    event_id: uuid.UUID | None
    original_topic: str
    original_partition: int
    original_offset: int
    error_class: str
    error_message: str
    status_code: int | None
    attempts: int
    first_failure_at: datetime | None
    last_failure_at: datetime | None
    status: str
    replay_id: uuid.UUID | None
    discard_reason: str | None
    headers: dict[str, str]
    key: bytes | None
    value: bytes | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReplayRun:
    """One replay: what it selects, who asked, how far it got (``state`` running, done or
    interrupted; ``selected`` the open letters found when it started, ``sent`` those sent back)."""

    id: uuid.UUID
    tenant_id: str | None
    selection: ReplayFilter
    requested_by: str
    state: str
    selected: int
    sent: int
    created_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime
    """When it last began or marked a page."""


RUNNING_LEASE = timedelta(seconds=60)
"""How stale a ``running`` replay's heartbeat must be before a resume may take it over: a page
waits at most the producer's delivery timeout (30 s by default) for Kafka, then is marked
(``CRMBUS_REPLAY_LEASE_S``)."""

_VIEW = (
    DeadLetter.id, DeadLetter.tenant_id, DeadLetter.destination, DeadLetter.delivery_id, DeadLetter.event_id,
    DeadLetter.original_topic, DeadLetter.original_partition, DeadLetter.original_offset, DeadLetter.error_class,
    DeadLetter.error_message, DeadLetter.status_code, DeadLetter.attempts, DeadLetter.first_failure_at,
    DeadLetter.last_failure_at, DeadLetter.status, DeadLetter.replay_id, DeadLetter.discard_reason,
    DeadLetter.headers, DeadLetter.key, DeadLetter.value, DeadLetter.created_at, DeadLetter.value_sealed,
)  # fmt: skip
Decode = Callable[[bytes | None], dict[str, Any]]


def _where(tenant_id: str | None, selection: ReplayFilter) -> ColumnElement[bool]:
    """The rows ``selection`` selects among those of ``tenant_id`` (None: every tenant's)."""
    found: list[ColumnElement[bool]] = []
    if tenant_id is not None:
        found.append(DeadLetter.tenant_id == tenant_id)
    for column, wanted in (
        (DeadLetter.tenant_id, selection.tenant),
        (DeadLetter.destination, selection.destination),
        (DeadLetter.error_class, selection.error_class),
        (DeadLetter.status, selection.status),
    ):
        if wanted is not None:
            found.append(column == wanted)
    if selection.since is not None:
        found.append(DeadLetter.last_failure_at >= selection.since)
    if selection.until is not None:
        found.append(DeadLetter.last_failure_at < selection.until)
    if selection.ids is not None:
        found.append(DeadLetter.id.in_(sorted(selection.ids)))
    if selection.delivery_ids is not None:
        found.append(DeadLetter.delivery_id.in_(sorted(selection.delivery_ids)))
    if selection.event_ids is not None:
        found.append(DeadLetter.event_id.in_(sorted(selection.event_ids)))
    if selection.through_id is not None:
        found.append(DeadLetter.id <= selection.through_id)
    return and_(true(), *found)


def _page(where: ColumnElement[bool], after_id: int | None, limit: int) -> Select[Any]:
    if limit < 1:
        raise ConfigurationError(f"limit must be at least 1, got {limit}")
    if after_id is not None:
        where = and_(where, DeadLetter.id > after_id)
    return select(*_VIEW).where(where).order_by(DeadLetter.id).limit(limit)


def _texts(selection: dict[str, Any]) -> dict[str, str]:
    """A selection as the audit log's details (text values; id lists cut short)."""
    return {name: str(value)[:200] for name, value in selection.items()}


class DeadLetters:
    name = "dead_letter"

    def __init__(
        self,
        engine: Engine,
        actor: str = "cli",
        *,
        lease: timedelta = RUNNING_LEASE,
        box: SecretBox | None = None,
        decode: Decode | None = None,
    ) -> None:
        """``lease``: how long a running replay's heartbeat keeps a resume out; ``box`` opens the
        sealed values (a reader without one may count and discard, not read them); ``decode``
        reads a value as its record, for an export."""
        self.engine, self.actor, self.lease = engine, actor, lease
        self._box, self._decode = box, decode

    def _view(self, row: Any) -> DeadLetterView:
        *fields, sealed = row
        view = DeadLetterView(*fields)
        if not sealed or view.value is None:
            return view
        if self._box is None:
            raise ConfigurationError("dead letters are sealed: reading them needs the secret box")
        return replace(view, value=self._box.open(view.value))

    @translated("listing dead letters")
    def list(
        self, tenant_id: str | None, selection: ReplayFilter, *, after_id: int | None = None, limit: int = 100
    ) -> list[DeadLetterView]:
        """Up to ``limit`` letters of ``selection``, by id, after the letter ``after_id`` (the cursor)."""
        with self.engine.connect() as connection:
            rows = connection.execute(_page(_where(tenant_id, selection), after_id, limit))
            return [self._view(row) for row in rows]

    @translated("reading a dead letter")
    def get(self, tenant_id: str | None, id_: int) -> DeadLetterView:
        """The letter ``id_``; ``NotFoundError`` when there is none, or it is another tenant's."""
        found = self.list(tenant_id, ReplayFilter(ids=frozenset({id_})), limit=1)
        if not found:
            raise NotFoundError(f"no dead letter {id_}", kind="dead_letter")
        return found[0]

    @translated("counting dead letters")
    def count(self, tenant_id: str | None, selection: ReplayFilter) -> int:
        with self.engine.connect() as connection:
            query = select(func.count()).select_from(DeadLetter).where(_where(tenant_id, selection))
            return int(connection.execute(query).scalar_one())

    @translated("counting open dead letters")
    def open_count(self) -> int:
        """Letters neither replayed nor discarded, of every tenant: the DLQ's depth."""
        return self.count(None, ReplayFilter(status="open"))

    @translated("discarding dead letters")
    def discard(self, tenant_id: str | None, ids: Collection[int], reason: str) -> int:
        """Discard the open letters ``ids`` for ``reason``; how many were open. An id that is not
        the tenant's (or does not exist) is ``NotFoundError``, and nothing is discarded."""
        if not reason.strip():
            raise ConfigurationError("a discard needs a reason")
        wanted = frozenset(ids)
        with Session(self.engine) as session, session.begin():
            where = _where(tenant_id, ReplayFilter(ids=wanted))
            known = set(session.scalars(select(DeadLetter.id).where(where)))
            if missing := sorted(wanted - known):
                raise NotFoundError(f"no dead letter {', '.join(map(str, missing))}", kind="dead_letter")
            done = session.execute(
                update(DeadLetter)
                .where(where, DeadLetter.status == "open")
                .values(status="discarded", discard_reason=reason.strip())
            )
            audit(
                session, actor=self.actor, tenant_id=tenant_id, action="dlq.discard", target_type="dead_letter",
                target_id=",".join(map(str, sorted(wanted)))[:128], details={"reason": reason.strip()[:200]},
            )  # fmt: skip
            return int(done.rowcount)  # type: ignore[attr-defined] # a CursorResult for an UPDATE

    # -- what the replay engine needs ---------------------------------------------------------

    @translated("reading a page of open dead letters")
    def open_page(
        self, tenant_id: str | None, selection: ReplayFilter, *, after_id: int | None, limit: int
    ) -> builtins.list[DeadLetterView]:
        """The next ``limit`` open letters of ``selection`` after ``after_id``, by id."""
        where = and_(_where(tenant_id, selection), DeadLetter.status == "open")
        with self.engine.connect() as connection:
            return [self._view(row) for row in connection.execute(_page(where, after_id, limit))]

    @translated("marking dead letters replayed")
    def mark_replayed(self, replay_id: uuid.UUID, ids: Collection[int]) -> int:
        """Mark the open letters ``ids`` replayed by ``replay_id`` and count them as sent by it,
        in one transaction; how many were open."""
        with self.engine.begin() as connection:
            done = connection.execute(
                update(DeadLetter)
                .where(DeadLetter.id.in_(sorted(ids)), DeadLetter.status == "open")
                .values(status="replayed", replayed_at=func.now(), replay_id=replay_id)
            )
            marked = int(done.rowcount)
            connection.execute(
                update(Replay).where(Replay.id == replay_id).values(sent=Replay.sent + marked, heartbeat_at=func.now())
            )
            return marked

    @translated("starting a replay")
    def create_replay(
        self, tenant_id: str | None, selection: ReplayFilter, *, action: str, actor: str | None = None
    ) -> ReplayRun:
        """A running replay of ``selection`` for ``tenant_id``, bounded by its newest open letter
        now (``through_id``), its open letters counted; audited as ``action`` by ``actor`` (else
        the repository's)."""
        actor = actor or self.actor
        with Session(self.engine) as session, session.begin():
            where = and_(_where(tenant_id, selection), DeadLetter.status == "open")
            selected, newest = session.execute(select(func.count(), func.max(DeadLetter.id)).where(where)).one()
            bounded = replace(selection, through_id=newest or 0)
            replay_id = uuid.uuid4()
            row = Replay(
                id=replay_id, tenant_id=tenant_id, selection=bounded.to_json(), requested_by=actor,
                state="running", selected=selected, sent=0,
            )  # fmt: skip
            session.add(row)
            audit(
                session, actor=actor, tenant_id=tenant_id, action=action, target_type="replay",
                target_id=str(replay_id), details={"selected": str(selected), **_texts(selection.to_json())},
            )  # fmt: skip
        return self.replay(None, replay_id)

    @translated("reading a replay")
    def replay(self, tenant_id: str | None, replay_id: uuid.UUID) -> ReplayRun:
        """The replay ``replay_id``; ``NotFoundError`` when there is none or it is another tenant's
        (a tenant does not see a platform-wide replay)."""
        query = select(Replay).where(Replay.id == replay_id)
        if tenant_id is not None:
            query = query.where(Replay.tenant_id == tenant_id)
        with Session(self.engine) as session:
            row = session.scalars(query).one_or_none()
            if row is None:
                raise NotFoundError(f"no replay {replay_id}", kind="replay")
            return ReplayRun(
                row.id, row.tenant_id, ReplayFilter.from_json(row.selection), row.requested_by, row.state,
                row.selected, row.sent, row.created_at, row.finished_at, row.heartbeat_at,
            )  # fmt: skip

    @translated("listing replays")
    def recent_replays(self, tenant_id: str | None, limit: int = 10) -> builtins.list[ReplayRun]:
        """The latest ``limit`` replays of ``tenant_id`` (None: of every tenant, platform-wide ones too)."""
        query = select(Replay.id).order_by(Replay.created_at.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(Replay.tenant_id == tenant_id)
        with Session(self.engine) as session:
            ids = session.scalars(query).all()
        return [self.replay(None, replay_id) for replay_id in ids]

    @translated("resuming a replay")
    def resume_replay(self, replay_id: uuid.UUID, *, actor: str | None = None) -> ReplayRun:
        """The replay ``replay_id`` running again (audited as by ``actor``, else the repository's);
        a finished one is returned unchanged. ``ReplayRunningError`` while another run of it is
        alive (its heartbeat within the lease): taking the row's lock, two resumes at
        once cannot both start."""
        with Session(self.engine) as session, session.begin():
            row = session.get(Replay, replay_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no replay {replay_id}", kind="replay")
            now = session.scalar(select(func.now()))
            if row.state == "running" and now is not None and now - row.heartbeat_at < self.lease:
                raise ReplayRunningError(
                    f"replay {replay_id} is running (it marked a page {(now - row.heartbeat_at).seconds} s ago): "
                    "follow it; a run stopped without a word may be resumed once it has been quiet for "
                    f"{self.lease.total_seconds():g} s"
                )
            if row.state != "done":
                row.state, row.finished_at, row.heartbeat_at = "running", None, func.now()
                audit(
                    session, actor=actor or self.actor, tenant_id=row.tenant_id, action="dlq.replay.resume",
                    target_type="replay", target_id=str(row.id), details={"sent": str(row.sent)},
                )  # fmt: skip
        return self.replay(None, replay_id)

    @translated("finishing a replay")
    def finish_replay(self, replay_id: uuid.UUID, state: str) -> ReplayRun:
        """Set the replay's ``state`` (done or interrupted) and when it stopped."""
        with self.engine.begin() as connection:
            connection.execute(update(Replay).where(Replay.id == replay_id).values(state=state, finished_at=func.now()))
        return self.replay(None, replay_id)

    # -- LGPD subject rights (infra.db.subject_stores) ----------------------------------------

    @translated("exporting a data subject's dead letters")
    def export_subject(self, tenant_id: str, digests: Sequence[str]) -> builtins.list[dict[str, Any]]:
        """The tenant's letters about the people of ``digests``, opened, as JSON."""
        return self._export(and_(DeadLetter.tenant_id == tenant_id, DeadLetter.subjects.overlap(sorted(digests))))

    @translated("erasing a data subject's dead letters")
    def erase_subject(self, tenant_id: str, digests: Sequence[str]) -> int:
        return self._erase(and_(DeadLetter.tenant_id == tenant_id, DeadLetter.subjects.overlap(sorted(digests))))

    @translated("exporting events' dead letters")
    def export_events(self, tenant_id: str, event_ids: Collection[uuid.UUID]) -> builtins.list[dict[str, Any]]:
        """The tenant's letters of the events ``event_ids`` (those whose payload names nobody
        recognisably: a delivery mapped to a destination's own field names)."""
        return self._export(and_(DeadLetter.tenant_id == tenant_id, DeadLetter.event_id.in_(sorted(event_ids))))

    @translated("erasing events' dead letters")
    def erase_events(self, tenant_id: str, event_ids: Collection[uuid.UUID]) -> int:
        return self._erase(and_(DeadLetter.tenant_id == tenant_id, DeadLetter.event_id.in_(sorted(event_ids))))

    def _export(self, where: ColumnElement[bool]) -> builtins.list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(*_VIEW).where(where).order_by(DeadLetter.id))
            return [self._exported(self._view(row)) for row in rows]

    def _exported(self, view: DeadLetterView) -> dict[str, Any]:
        fields = {name: getattr(view, name) for name in DeadLetterView.__slots__ if name not in ("key", "value")}
        key = view.key.decode("utf-8", "replace") if view.key is not None else None
        return {"table": "dead_letter", **json_values(fields), "key": key, "record": self._record(view.value)}

    def _record(self, value: bytes | None) -> Any:
        if value is None:
            return None
        if self._decode is not None:
            try:
                return self._decode(value)
            except DecodeError:
                pass  # not a record crmbus wrote (poison): its bytes, as they are
        return {"base64": base64.b64encode(value).decode()}

    def _erase(self, where: ColumnElement[bool]) -> int:
        with self.engine.begin() as connection:
            return int(connection.execute(delete(DeadLetter).where(where)).rowcount)
