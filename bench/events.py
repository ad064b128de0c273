"""The requests the ingress bench sends: ``POST /v1/events`` and ``POST /v1/events/batch``.

Every event carries an idempotency key unique to the run, process and sequence number, so a
deduplicating ingress must accept every one of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from schemas.event_types import built_in_catalogue
from streams.event_type import EventType

SINGLE_PATH = "/v1/events"
BATCH_PATH = "/v1/events/batch"

BUILT_IN_TYPE = "lead.created"
TENANT_TYPE = "bench.lead.created"
"""The bench tenant's own copy of ``lead.created``: the same schema, registered as a tenant's type."""


def _lead_type() -> EventType:
    built_in = built_in_catalogue().get("bench", BUILT_IN_TYPE)
    if built_in is None:
        raise LookupError(f"the built-in catalogue has no {BUILT_IN_TYPE}")
    return built_in


def example_lead() -> dict[str, Any]:
    """The catalogue's own example lead (validated by the schema tests), so what the benches send
    follows the schema as it evolves."""
    example = _lead_type().example
    if example is None:
        raise LookupError(f"the built-in catalogue has no example of {BUILT_IN_TYPE}")
    return dict(example)


# With the idempotency key and headers a request comes to ~600 bytes.
_EXAMPLE = json.dumps(example_lead()).encode()
_KEY_OPEN = b', "idempotency_key": "'
_EVENT_TAIL = b'"}'
_ACCEPTED_ITEM_STATUSES = frozenset({200, 201, 202, "accepted", "created", "ok"})


def tenant_type_document() -> dict[str, Any]:
    """``lead.created``'s definition under the tenant type's name, for the bench tenant to register."""
    document = _lead_type().to_document()
    document.pop("public_topic", None)
    return document | {"name": TENANT_TYPE, "revision": 1}


def event_body(key: str, event_type: str = BUILT_IN_TYPE) -> bytes:
    return b'{"type": "' + event_type.encode() + b'", "payload": ' + _EXAMPLE + _KEY_OPEN + key.encode() + _EVENT_TAIL


@lru_cache(maxsize=16)
def _head(method: str, path: str, host: str, port: int, secret: str) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {secret}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()


@dataclass(frozen=True, slots=True)
class SingleEvents:
    """One event per request; 202 with an ``event_id`` is success."""

    host: str
    port: int
    secret: str
    key_prefix: str
    events_per_request: int = 1
    event_type: str = BUILT_IN_TYPE

    def request(self, seq: int) -> bytes:
        body = event_body(f"{self.key_prefix}{seq}", self.event_type)
        return _head("POST", SINGLE_PATH, self.host, self.port, self.secret) + b"%d\r\n\r\n" % len(body) + body

    def judge(self, status: int, body: bytes) -> tuple[int, str | None]:
        if status != 202:
            return 0, f"http {status}"
        if b'"event_id"' not in body:
            return 0, "202 without event_id"
        return 1, None


@dataclass(frozen=True, slots=True)
class BatchEvents:
    """``events_per_request`` events per request; success is counted per item of the answer."""

    host: str
    port: int
    secret: str
    key_prefix: str
    events_per_request: int = 100

    def request(self, seq: int) -> bytes:
        first = seq * self.events_per_request
        events = b", ".join(event_body(f"{self.key_prefix}{first + i}") for i in range(self.events_per_request))
        body = b'{"events": [' + events + b"]}"
        return _head("POST", BATCH_PATH, self.host, self.port, self.secret) + b"%d\r\n\r\n" % len(body) + body

    def judge(self, status: int, body: bytes) -> tuple[int, str | None]:
        if not 200 <= status < 300:
            return 0, f"http {status}"
        try:
            accepted = count_accepted_items(json.loads(body))
        except ValueError:
            return 0, f"http {status} with an unreadable body"
        if accepted < self.events_per_request:
            return accepted, "batch item not accepted"
        return accepted, None


def count_accepted_items(answer: Any) -> int:
    """Items of a batch answer that were accepted.

    An item counts when its ``status_code`` is 2xx, or (without one) its ``status`` says accepted,
    or (without either) it carries an ``event_id`` and no error.
    """
    items = answer
    if isinstance(answer, dict):
        items = next((answer[k] for k in ("results", "items", "events") if isinstance(answer.get(k), list)), [])
    if not isinstance(items, list):
        return 0
    accepted = 0
    for item in items:
        if not isinstance(item, dict) or "error" in item or "errors" in item:
            continue
        code = item.get("status_code")
        status = item.get("status")
        if code is not None:
            accepted += isinstance(code, int) and 200 <= code < 300
        elif status in _ACCEPTED_ITEM_STATUSES or (status is None and "event_id" in item):
            accepted += 1
    return accepted
