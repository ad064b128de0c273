"""Which DLQ records an operator's ``crmbus dlq replay`` selects.

A DLQ record explains itself in headers (``streams.dead_letter``) and keeps its original key,
the tenant id, so a filter needs nothing but the record: no archive lookup, no decoding of the
value (which may be the very bytes that could not be decoded).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from streams.dead_letter import DESTINATION, ERROR_CLASS, FAILED_AT, header

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Every field left ``None`` matches anything; the others must all match.

    ``tenant``, ``destination`` and ``error_class`` (e.g. ``MappingError``) compare exactly.
    The failure time must fall in [``since``, ``until``): since included, until excluded, so
    consecutive windows never replay a record twice. Both must carry a time zone.
    """

    tenant: str | None = None
    destination: str | None = None
    error_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone")

    def matches(self, key: bytes | None, headers: Sequence[tuple[str, bytes]], timestamp: datetime) -> bool:
        """Whether the DLQ record with this key, these headers and this (time-zone aware) Kafka
        timestamp is selected.

        The failure time is the ``crmbus-failed-at`` header, else (a record without it, or with a
        value that is not a time) the record's timestamp, which is when it was written to the DLQ.
        """
        if self.tenant is not None and (key is None or key.decode("utf-8", "replace") != self.tenant):
            return False
        if self.destination is not None and header(headers, DESTINATION) != self.destination:
            return False
        if self.error_class is not None and header(headers, ERROR_CLASS) != self.error_class:
            return False
        if self.since is None and self.until is None:
            return True
        failed_at = _failed_at(headers) or timestamp
        return (self.since is None or failed_at >= self.since) and (self.until is None or failed_at < self.until)


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


def _failed_at(headers: Sequence[tuple[str, bytes]]) -> datetime | None:
    text = header(headers, FAILED_AT)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
