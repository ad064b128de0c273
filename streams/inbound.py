"""Turn a generic-API request document into an envelope. Pure; raises InvalidEventError naming the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.envelope import Envelope
from streams.errors import InvalidEventError
from streams.event_catalogue import EventCatalogue
from streams.instants import InstantOutOfRangeError, as_utc

FIELDS = ("type", "version", "payload", "occurred_at", "idempotency_key", "correlation_id", "ordering_key")
MAX_KEY_LENGTH = 200
# Keys are opaque text: any character but the C0 and C1 controls. The OpenAPI document states the
# same pattern, so the document and the server agree on what a key may be.
KEY_PATTERN = rf"^[^\u0000-\u001f\u007f-\u009f]{{1,{MAX_KEY_LENGTH}}}$"
_KEY = re.compile(KEY_PATTERN)
# An HTTP header carries visible ASCII with no space at either end (anything else does not reach
# the server as sent).
HEADER_KEY_PATTERN = rf"^[!-~]([ -~]{{0,{MAX_KEY_LENGTH - 2}}}[!-~])?$"
_HEADER_KEY = re.compile(HEADER_KEY_PATTERN)
FUTURE_TOLERANCE = timedelta(minutes=5)


def _text(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or _KEY.fullmatch(value) is None:
        raise InvalidEventError(
            f"{name} must be a string of 1 to {MAX_KEY_LENGTH} characters without control characters", field=name
        )
    return value


def _instant(doc: Mapping[str, Any], name: str, now: datetime) -> datetime | None:
    value = doc.get(name)
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise InvalidEventError(f"{name} must be an ISO-8601 timestamp with a time zone", field=name)
    try:
        instant = as_utc(instant)
    except InstantOutOfRangeError as exc:
        raise InvalidEventError(f"{name} {exc}", field=name) from None
    if instant - now > FUTURE_TOLERANCE:
        raise InvalidEventError(f"{name} is more than 5 minutes in the future", field=name)
    return instant


def envelope_from_request(
    doc: Mapping[str, Any],
    *,
    tenant_id: str,
    source: str,
    catalogue: EventCatalogue,
    idempotency_header: str | None = None,
    now: datetime | None = None,
) -> Envelope:
    """The envelope for one event of the generic API; the tenant comes from the caller's key only.

    ``version`` names the type's major version (1 when absent). Without an ``ordering_key``, the
    type's entity key gives one (``lead_id:L-1``), so the events of one entity can be kept in order.
    """
    now = now or datetime.now(UTC)
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise InvalidEventError(f"unknown field {unknown[0]!r}; allowed: {', '.join(FIELDS)}", field=unknown[0])
    event_type = doc.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidEventError("type is required and must be a string such as 'lead.created'", field="type")
    payload = doc.get("payload")
    if not isinstance(payload, Mapping):
        raise InvalidEventError("payload is required and must be a JSON object", field="payload")
    body_key = _text(doc, "idempotency_key")
    if idempotency_header is not None:
        if _HEADER_KEY.fullmatch(idempotency_header) is None:
            raise InvalidEventError(
                f"the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (spaces inside)",
                field="Idempotency-Key",
            )
        header_key = idempotency_header
        if body_key is not None and body_key != header_key:
            raise InvalidEventError("the Idempotency-Key header and idempotency_key differ", field="idempotency_key")
        body_key = header_key
    version = doc.get("version")
    version = 1 if version is None else version
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidEventError("version must be a whole number from 1 (the type's major version)", field="version")
    try:
        normalised = catalogue.validate(tenant_id, event_type, payload, version)
    except InvalidEventError as exc:
        field = exc.field if exc.field in ("type", "version") else f"payload.{exc.field}" if exc.field else "payload"
        raise InvalidEventError(str(exc), field=field) from exc
    found = catalogue.get(tenant_id, event_type, version)
    ordering_key = _text(doc, "ordering_key")
    if ordering_key is None and found is not None:
        ordering_key = found.entity_value(normalised)
    return Envelope(
        tenant_id=tenant_id,
        type=event_type,
        source=source,
        payload=normalised,
        occurred_at=_instant(doc, "occurred_at", now) or now,
        received_at=now,
        idempotency_key=body_key,
        correlation_id=_text(doc, "correlation_id"),
        ordering_key=ordering_key,
        schema_version=version,
    )
