"""What a record sent to ``crmbus.dlq`` says about itself, in Kafka headers.

The DLQ keeps the original key and bytes untouched and explains in headers where the record
came from and why it stopped there, so an operator (or ``crmbus dlq replay``) can act on it
without the original topic. Header values are short ASCII; the error message is the typed
error's own text, which by contract names fields and rules, never personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

ORIGINAL_TOPIC = "crmbus-original-topic"
ORIGINAL_PARTITION = "crmbus-original-partition"
ORIGINAL_OFFSET = "crmbus-original-offset"
ERROR_CLASS = "crmbus-error-class"
ERROR_MESSAGE = "crmbus-error-message"
FAILED_AT = "crmbus-failed-at"
STAGE = "crmbus-stage"
ROUTE_ID = "crmbus-route-id"
DESTINATION = "crmbus-destination"
ATTEMPTS = "crmbus-attempts"
STATUS_CODE = "crmbus-status-code"
FIRST_FAILURE_AT = "crmbus-first-failure-at"
DELIVERY_ID = "crmbus-delivery-id"
EVENT_ID = "crmbus-event-id"
TENANT = "crmbus-tenant"
"""The tenant's id alone, also when the record is keyed ``tenant:entity``."""
REPLAY = "crmbus-replay"
"""Set by a replay: the router then skips its dedupe check (the sinks' delivery ids still hold)."""
REDELIVER = "crmbus-redeliver"
"""Set beside ``REPLAY`` by an events replay asked to deliver again (``--redeliver``): the router
derives new delivery ids from its value, so the sinks' finished-deliveries table lets them pass."""

_MESSAGE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a consumed record was read from."""

    topic: str
    partition: int
    offset: int


def dead_letter_headers(
    origin: Origin,
    error: BaseException,
    failed_at: datetime,
    *,
    stage: str,
    route_id: str | None = None,
    destination: str | None = None,
    attempts: int | None = None,
    status_code: int | None = None,
    first_failure_at: datetime | None = None,
    tenant_id: str | None = None,
    event_id: object | None = None,
    delivery_id: str | None = None,
) -> list[tuple[str, bytes]]:
    """The headers of the DLQ copy of the record at ``origin`` that failed with ``error``
    (``failed_at`` is the last failure; ``first_failure_at`` the first, for deliveries).

    The tenant, event and delivery ids are given when the failing stage knew them: the archive
    files the letter under them, and an operator can find it by event or delivery."""
    headers = [
        (ORIGINAL_TOPIC, origin.topic.encode()),
        (ORIGINAL_PARTITION, str(origin.partition).encode()),
        (ORIGINAL_OFFSET, str(origin.offset).encode()),
        (ERROR_CLASS, type(error).__name__.encode()),
        (ERROR_MESSAGE, str(error)[:_MESSAGE_LIMIT].encode("utf-8", "replace")),
        (FAILED_AT, _iso(failed_at)),
        (STAGE, stage.encode()),
    ]
    if route_id is not None:
        headers.append((ROUTE_ID, route_id.encode()))
    if destination is not None:
        headers.append((DESTINATION, destination.encode()))
    if attempts is not None:
        headers.append((ATTEMPTS, str(attempts).encode()))
    if status_code is not None:
        headers.append((STATUS_CODE, str(status_code).encode()))
    if first_failure_at is not None:
        headers.append((FIRST_FAILURE_AT, _iso(first_failure_at)))
    for name, value in ((TENANT, tenant_id), (EVENT_ID, event_id), (DELIVERY_ID, delivery_id)):
        if value is not None:
            headers.append((name, str(value).encode()))
    return headers


def _iso(moment: datetime) -> bytes:
    return moment.isoformat().replace("+00:00", "Z").encode()


def header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> str | None:
    """The value of header ``name`` (the last one if repeated), decoded; None when absent."""
    found = None
    for key, value in headers or ():
        if key == name and value is not None:
            found = value.decode("utf-8", "replace")
    return found
