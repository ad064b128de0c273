"""The event envelope every crmbus topic carries: who, what, when, and the payload.

Personal data lives only inside ``payload``; every other field is safe to log.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from streams.errors import SchemaMismatchError

SCHEMA_VERSION = 1


def _json_text(payload: Mapping[str, Any]) -> str:
    """Compact UTF-8 JSON, keys in order; orjson, or the standard library for what orjson
    refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(payload).decode()
    except orjson.JSONEncodeError:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One canonical event, as accepted by the ingress."""

    tenant_id: str
    type: str
    source: str
    payload: Mapping[str, Any]
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=_utcnow)
    received_at: datetime = field(default_factory=_utcnow)
    idempotency_key: str | None = None
    correlation_id: str | None = None
    ordering_key: str | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        for name in ("tenant_id", "type", "source"):
            if not getattr(self, name):
                raise ValueError(f"envelope field {name!r} must not be empty")
        for name in ("occurred_at", "received_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"envelope field {name!r} must be timezone-aware")

    @property
    def dedupe_key(self) -> str:
        """What makes two deliveries of this event the same: the producer's key, else the id."""
        return self.idempotency_key or str(self.event_id)

    def to_record(self) -> dict[str, Any]:
        """The Avro record (see schemas/avro/envelope.v1.avsc) for this envelope."""
        return {
            "event_id": self.event_id,
            "tenant_id": self.tenant_id,
            "type": self.type,
            "source": self.source,
            "occurred_at": self.occurred_at,
            "received_at": self.received_at,
            "idempotency_key": self.idempotency_key,
            "correlation_id": self.correlation_id,
            "ordering_key": self.ordering_key,
            "schema_version": self.schema_version,
            "payload": _json_text(self.payload),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Envelope:
        """Rebuild an envelope from a decoded Avro record; a wrong shape is a poison message."""
        try:
            payload = json.loads(record["payload"])  # exact for integers beyond 64 bits, unlike orjson
            if not isinstance(payload, dict):
                raise SchemaMismatchError("envelope payload is not a JSON object")
            event_id = record["event_id"]
            return cls(
                event_id=event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(event_id),
                tenant_id=record["tenant_id"],
                type=record["type"],
                source=record["source"],
                occurred_at=record["occurred_at"],
                received_at=record["received_at"],
                idempotency_key=record.get("idempotency_key"),
                correlation_id=record.get("correlation_id"),
                ordering_key=record.get("ordering_key"),
                schema_version=record.get("schema_version", SCHEMA_VERSION),
                payload=payload,
            )
        except (KeyError, TypeError, ValueError) as exc:
            # The message names the problem class only: the record may hold personal data.
            raise SchemaMismatchError(f"not an envelope record: {type(exc).__name__}") from exc
