"""The outbox relay's pure rules: a row, where it goes, and the progress record that tells a
restarted relay which rows its last Kafka transaction already published.

Order: rows are relayed in ``seq`` order among the rows visible when a batch is read, and a row
leaves the table (deleted) only after the Kafka transaction holding it committed. Producers that
write one aggregate serialise on it (they lock the aggregate's own row for their write), so a
later event of an aggregate is inserted after the earlier one committed and draws a larger
``seq``; whenever it is visible, the earlier one is visible too, or already relayed. Nothing is
skipped: there is no "relayed up to seq N" cursor a late-committing smaller ``seq`` could fall
behind. docs/architecture.md ("The outbox relay") says why not a snapshot-xmin rule or
``SKIP LOCKED`` workers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from streams.errors import InvalidOutboxRowError

_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_RELAY = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One row of a producer's ``outbox`` table (Debezium's outbox event router's columns)."""

    seq: int
    id: str
    aggregatetype: str
    aggregateid: str
    type: str
    payload: bytes | None
    created_at: datetime


def checked_topic(topic: str, row_id: str) -> str:
    """``topic`` when Kafka accepts it as a name; else InvalidOutboxRowError naming the row."""
    if not _TOPIC.fullmatch(topic) or topic in {".", ".."}:
        raise InvalidOutboxRowError(f"outbox row {row_id}: its aggregatetype makes no valid Kafka topic name")
    return topic


def checked_relay_name(name: str) -> str:
    """A relay's name (its transactional id and progress topic carry it): lower-case, short."""
    if not _RELAY.fullmatch(name):
        raise ValueError("a relay name is 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit")
    return name


def headers_of(row: OutboxRow) -> list[tuple[str, bytes]]:
    """The record's headers: the outbox id (a consumer's idempotency key) and the event type,
    as Debezium's router puts them (``id``; ``type`` where it is configured as a header)."""
    return [("id", row.id.encode()), ("type", row.type.encode())]


def progress_value(ids: list[str]) -> bytes:
    """The progress record of one batch: the outbox ids its transaction published."""
    return json.dumps({"ids": ids}, separators=(",", ":")).encode()


def progress_ids(value: bytes | None) -> list[str]:
    """The ids of a progress record (none when there is no record yet)."""
    if value is None:
        return []
    ids = json.loads(value)["ids"]
    return [str(one) for one in ids]
