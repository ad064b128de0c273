"""What a source mapper produces: a canonical event plus the keys that dedupe and order it.

``idempotency_key`` and ``ordering_key`` travel in the envelope, outside ``payload``, where the
design allows no personal data. Keys are therefore built from our own ids, the provider's opaque
ids, or a SHA-256 digest when the natural key is a phone number (WAHA's message ids embed one).
A digest of a phone number is pseudonymous, not anonymous: the space of numbers is small enough
to enumerate, so the keys still deserve the care of any internal identifier.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.errors import InvalidEventError
from streams.event_catalogue import PayloadValidator


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """One canonical event read from a source's webhook; ``validated`` checks and normalises it."""

    type: str
    payload: dict[str, Any]
    occurred_at: datetime | None
    idempotency_key: str | None
    ordering_key: str | None
    source_fields: Mapping[str, str] = field(default_factory=dict, repr=False)
    order_by: str | None = None

    def validated(self, validate: PayloadValidator) -> SourceEvent:
        """This event with its payload checked against its type and normalised, and its ordering
        key taken from the normalised value; errors name the field as the source spelt it."""
        try:
            normalised = validate(self.type, {k: v for k, v in self.payload.items() if v is not None})
        except InvalidEventError as exc:
            canonical = exc.field or "payload"
            where = self.source_fields.get(canonical, canonical)
            rule = str(exc).removeprefix(f"{canonical}: ")
            raise InvalidEventError(f"{where}: {rule}", field=where) from None
        ordering_key = self.ordering_key or _ordering_key(normalised, self.order_by)
        return SourceEvent(self.type, normalised, self.occurred_at, self.idempotency_key, ordering_key)


def canonical_event(
    event_type: str,
    payload: Mapping[str, Any],
    *,
    source_fields: Mapping[str, str],
    occurred_at: datetime | None,
    idempotency_key: str | None,
    order_by: str | None,
) -> SourceEvent:
    """``payload`` as an ``event_type`` event, still to be ``validated`` against its type.

    ``source_fields`` maps a canonical field path to its path in the source's body, so a Z-API
    sender reads ``text.message`` in the error rather than our ``text``. ``order_by`` names the
    canonical field whose normalised value orders the entity (``"client_id"``, ``"phone"``...).
    """
    return SourceEvent(
        event_type, dict(payload), occurred_at, idempotency_key, None, source_fields=source_fields, order_by=order_by
    )


def digest(value: str) -> str:
    """A short, stable SHA-256 digest of ``value``, for keys that must not carry it in clear."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _ordering_key(payload: Mapping[str, Any], field: str | None) -> str | None:
    value = payload.get(field) if field else None
    if not isinstance(value, str):
        return None
    # A phone is personal data: the key carries its digest, so one person's events from any
    # channel (site form, WhatsApp) still share a key.
    return f"phone:{digest(value)}" if field == "phone" else f"{field}:{value}"
