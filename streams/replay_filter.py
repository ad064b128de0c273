"""Which dead letters an operator's replay, list or discard selects.

The selection is applied by the archive (``infra.db.dead_letters``) to its ``dead_letter`` rows,
which keep each letter's key, bytes and headers; it is stored with each replay (``to_json``),
so a resumed replay selects what the interrupted one did.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_T = TypeVar("_T")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
STATUSES = ("open", "replayed", "discarded")
"""A dead letter's status: waiting, sent back by a replay, or discarded by an operator."""


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Every field left ``None`` matches anything; the others must all match.

    ``tenant``, ``destination``, ``error_class`` (e.g. ``MappingError``) and ``status`` (one of
    ``STATUSES``) compare exactly. The last failure time must fall in [``since``, ``until``):
    since included, until excluded, so consecutive windows never select a letter twice. Both
    must carry a time zone. ``ids`` (dead-letter ids), ``delivery_ids`` and ``event_ids``
    narrow the selection to those letters; an empty set selects nothing. A replay only ever sends open letters,
    whatever ``status`` says. ``through_id`` selects letters up to that id only: a replay fixes it
    when it starts, so letters dead-lettered while it runs (its own failures again among them)
    wait for the next one.
    """

    tenant: str | None = None
    destination: str | None = None
    error_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    ids: frozenset[int] | None = None
    delivery_ids: frozenset[str] | None = None
    event_ids: frozenset[uuid.UUID] | None = None
    through_id: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone")
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")

    def to_json(self) -> dict[str, Any]:
        """The selection as a JSON object, only the fields set (``from_json`` reads it back)."""
        found: dict[str, Any] = {}
        for name in ("tenant", "destination", "error_class", "status", "through_id"):
            if getattr(self, name) is not None:
                found[name] = getattr(self, name)
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None:
                found[name] = moment.isoformat()
        if self.ids is not None:
            found["ids"] = sorted(self.ids)
        if self.delivery_ids is not None:
            found["delivery_ids"] = sorted(self.delivery_ids)
        if self.event_ids is not None:
            found["event_ids"] = sorted(str(event_id) for event_id in self.event_ids)
        return found

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReplayFilter:
        """The selection ``to_json`` wrote. Raises ``ValueError`` at anything else."""
        unknown = set(data) - {"tenant", "destination", "error_class", "status", "since", "until", "ids",
                               "delivery_ids", "event_ids", "through_id"}  # fmt: skip
        if unknown:
            raise ValueError(f"unknown selection fields: {', '.join(sorted(unknown))}")
        return cls(
            tenant=data.get("tenant"),
            destination=data.get("destination"),
            error_class=data.get("error_class"),
            since=_moment(data.get("since")),
            until=_moment(data.get("until")),
            status=data.get("status"),
            ids=_set(data.get("ids"), int),
            delivery_ids=_set(data.get("delivery_ids"), str),
            event_ids=_uuids(data.get("event_ids")),
            through_id=data.get("through_id"),
        )


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def _uuids(values: Iterable[Any] | None) -> frozenset[uuid.UUID] | None:
    texts = _set(values, str)
    if texts is None:
        return None
    try:
        return frozenset(uuid.UUID(text) for text in texts)
    except ValueError:
        raise ValueError("selection event ids must be UUIDs") from None


def _set(values: Iterable[Any] | None, kind: type[_T]) -> frozenset[_T] | None:
    if values is None:
        return None
    if not all(isinstance(value, kind) for value in values):
        raise ValueError(f"selection ids must be {kind.__name__}s")
    return frozenset(values)


def parse_since(text: str, now: datetime) -> datetime:
    """The time an operator means by ``--since`` (or ``--until``).

    Relative, counted back from ``now``: ``30m``, ``2h``, ``7d`` (also ``s`` and ``w``).
    Or ISO-8601: ``2026-03-06``, ``2026-03-06T10:00``, ``2026-03-06T10:00:00Z``; a time written
    without a zone is taken in ``now``'s zone, so the CLI decides by the ``now`` it passes.
    Raises ``ValueError`` naming the forms accepted.
    """
    if now.tzinfo is None:
        raise ValueError("now needs a time zone")
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative is not None:
        try:
            return now - timedelta(**{_UNIT[relative.group(2)]: int(relative.group(1))})
        except OverflowError:
            raise ValueError(f"{text!r} reaches back before the year 1") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use e.g. 30m, 2h, 7d or 2026-03-06T10:00:00Z)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=now.tzinfo)
