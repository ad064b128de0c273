"""The archive agent: delivery outcomes, routing decisions and DLQ records into PostgreSQL, in batches.

It reads ``crmbus.deliveries`` (the sinks' attempts and the router's decision for each event)
and ``crmbus.dlq`` and writes one transaction per batch
(``infra.db.delivery_log``). PostgreSQL being away only holds this agent back: it retries the
batch with backoff and acknowledges it once written, while routing and delivery go on. A DLQ
row keeps the record's key, bytes and headers, so the archive alone can explain and replay it:
the bytes sealed (``infra.db.delivery_log``), with the digests of the people its payload names
(``subjects``, for LGPD export and erasure), and its error message without long numbers or
e-mail addresses (a destination's answer may echo the request).
The DLQ depth gauge is refreshed from PostgreSQL after each batch with letters and on a timer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from agents.records import Consumed
from infra.core.metrics import DLQ_DEPTH
from infra.core.subject_index import SubjectIndex
from infra.db.delivery_log import DeliveryLog
from infra.db.errors import error_name
from schemas.codec import AvroCodec
from streams import dead_letter as dlq
from streams.errors import PoisonMessageError, ServiceUnreachableError, StoreError, StoreRefusedError
from streams.event_catalogue import EventCatalogue
from streams.event_status import DECISIONS
from streams.redact import safe_excerpt
from streams.subjects import subjects_in

SubjectsOf = Callable[[str | None, bytes | None], list[str]]
"""The digests of the people a letter's value (of a tenant) names."""

log = logging.getLogger(__name__)

_BACKOFF_FIRST_S, _BACKOFF_MAX_S = 0.5, 30.0
_MESSAGE_CHARS = 1000
# webhook_deliveries.status is at most 16 characters.
_STATUS = {"delivered": "delivered", "retrying": "retrying", "dead_lettered": "dead_lettered"}


class Archive:
    def __init__(self, *, log_: DeliveryLog, outcomes: AvroCodec, dlq_topic: str, subjects_of: SubjectsOf) -> None:
        self._log, self._outcomes, self._dlq_topic, self._subjects_of = log_, outcomes, dlq_topic, subjects_of

    async def handle(self, batch: Sequence[Consumed]) -> None:
        attempts: list[dict[str, Any]] = []
        letters: list[dict[str, Any]] = []
        decisions: dict[Any, dict[str, Any]] = {}  # one per event and batch: an upsert takes a row once
        for record in batch:
            if record.origin.topic == self._dlq_topic:
                row = dead_letter_row(record)
                letters.append(row | {"subjects": self._subjects_of(row["tenant_id"], record.value)})
                continue
            try:
                outcome = self._outcomes.decode(record.value)
            except PoisonMessageError:
                log.warning("undecodable delivery outcome skipped", extra={"offset": record.origin.offset})
                continue
            if outcome["outcome"] in DECISIONS:
                decisions[outcome["event_id"]] = decision_row(outcome)
            else:
                attempts.append(attempt_row(outcome))
        await self._write(attempts, letters, list(decisions.values()))

    async def _write(
        self, attempts: list[dict[str, Any]], letters: list[dict[str, Any]], decisions: list[dict[str, Any]]
    ) -> None:
        backoff = _BACKOFF_FIRST_S
        while True:
            try:
                await asyncio.to_thread(self._log.record, attempts, letters, decisions)
                if letters:
                    await refresh_depth(self._log)
                return
            except StoreRefusedError as exc:
                # Rows PostgreSQL can never take: retrying would stall this agent and, through Faust's
                # shared conductor, its process. Kafka keeps the records (crmbus.deliveries, crmbus.dlq).
                log.error("archive batch refused by PostgreSQL, skipped: %s", error_name(exc))
                return
            except Exception as exc:  # noqa: BLE001 - PostgreSQL away: wait, keep the batch unacknowledged
                log.warning("archive batch not written, retrying in %.1f s: %s", backoff, error_name(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)


async def refresh_depth(log_: DeliveryLog) -> None:
    """Set the DLQ depth gauge from PostgreSQL: after a batch with letters, and on the archive
    role's timer, since replays and discards (by the CLI, the admin API) lower it elsewhere.
    PostgreSQL being away leaves the gauge as it was."""
    try:
        DLQ_DEPTH.set(await asyncio.to_thread(log_.open_dead_letters))
    except (ServiceUnreachableError, StoreError) as exc:
        log.warning("DLQ depth not refreshed: %s", error_name(exc))


def attempt_row(outcome: dict[str, Any]) -> dict[str, Any]:
    endpoint = outcome.get("endpoint_id")
    return {
        "delivery_id": outcome["delivery_id"],
        "attempt": outcome["attempt"],
        "tenant_id": outcome["tenant_id"],
        "endpoint_id": uuid.UUID(endpoint) if endpoint else None,
        "destination": outcome["destination"],
        "event_id": outcome["event_id"],
        "event_type": outcome["event_type"],
        "status": _STATUS.get(outcome["outcome"], "duplicate"),
        "status_code": outcome["status_code"],
        "latency_ms": outcome["latency_ms"],
        "error_class": outcome["error_class"],
        "response_excerpt": outcome.get("response_excerpt"),
        "created_at": outcome["at"],
    }


def decision_row(outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": outcome["event_id"],
        "tenant_id": outcome["tenant_id"],
        "event_type": outcome["event_type"],
        "decision": outcome["outcome"],
        "planned": outcome["planned"],
        "failed_routes": outcome["failed_routes"],
        "decided_at": outcome["at"],
    }


def dead_letter_row(record: Consumed, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dict[str, Any]:
    headers = record.headers
    failed_at = _time(dlq.header(headers, dlq.FAILED_AT)) or now()
    status = dlq.header(headers, dlq.STATUS_CODE)
    attempts = dlq.header(headers, dlq.ATTEMPTS)
    event_id = _uuid(dlq.header(headers, dlq.EVENT_ID))
    return {
        "tenant_id": dlq.header(headers, dlq.TENANT) or _tenant_of(record.key),
        "destination": dlq.header(headers, dlq.DESTINATION),
        "delivery_id": dlq.header(headers, dlq.DELIVERY_ID),
        "event_id": event_id,
        "original_topic": dlq.header(headers, dlq.ORIGINAL_TOPIC) or record.origin.topic,
        "original_partition": int(dlq.header(headers, dlq.ORIGINAL_PARTITION) or record.origin.partition),
        "original_offset": int(dlq.header(headers, dlq.ORIGINAL_OFFSET) or record.origin.offset),
        "error_class": dlq.header(headers, dlq.ERROR_CLASS) or "unknown",
        "error_message": safe_excerpt(dlq.header(headers, dlq.ERROR_MESSAGE) or "", _MESSAGE_CHARS),
        "status_code": int(status) if status and status.isdigit() else None,
        "attempts": int(attempts) if attempts and attempts.isdigit() else 0,
        "first_failure_at": _time(dlq.header(headers, dlq.FIRST_FAILURE_AT)) or failed_at,
        "last_failure_at": failed_at,
        "created_at": failed_at,  # archived twice, the same record finds its row (the key holds it)
        "key": record.key,
        "value": record.value,
        "headers": {
            name: safe_excerpt(text, _MESSAGE_CHARS) if name == dlq.ERROR_MESSAGE else text
            for name, text in ((name, value.decode("utf-8", "replace")) for name, value in headers)
        },
    }


def subjects_of(
    tenant_id: str | None,
    value: bytes | None,
    *,
    decode: Callable[[bytes | None], dict[str, Any]],
    types: Callable[[], EventCatalogue],
    index: SubjectIndex,
) -> list[str]:
    """The digests of the phones, e-mails and CPFs in the payload of a letter's ``value``: an
    event's (at its type's personal paths too) or a delivery's; none for bytes that are neither."""
    try:
        record = decode(value)
    except PoisonMessageError:
        return index.digests(subjects_in(_json(value)))
    payload = _json(record.get("payload"))
    paths: tuple[str, ...] = ()
    if "type" in record:  # an envelope: its type says which paths are personal
        found = types().get(tenant_id or "", str(record["type"]), int(record.get("schema_version") or 1))
        paths = found.personal_data if found is not None else ()
    return index.digests(subjects_in(payload, paths))


def _json(raw: Any) -> Any:
    if not isinstance(raw, str | bytes):
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _tenant_of(key: bytes | None) -> str | None:
    """The tenant of a record keyed by tenant, or by ``tenant:entity``."""
    return key.decode("utf-8", "replace").partition(":")[0] if key else None


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
