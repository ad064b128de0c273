"""RFC 9457 problem details: every error the ingress answers is ``application/problem+json``.

A problem names what is wrong (and the offending field) but never echoes a value the client
sent: values may be personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from infra.core.metrics import RejectionReason, reject

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:crmbus:problem:"


BEARER_SCHEME = {"type": "http", "scheme": "bearer", "description": "crmb_live_… API key"}
"""The OpenAPI security scheme of every surface an API key opens."""


def problem_schema() -> dict[str, Any]:
    """The JSON Schema of every problem the HTTP surfaces answer: RFC 9457's members and ours."""
    return {
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "field": {"type": "string", "description": "The offending field's dotted path"},
            "header": {"type": "string", "description": "The header sent twice"},
            "scope": {"type": "string", "description": "The scope the key lacks (403)"},
            "instance": {"type": "string"},
        },
    }


class Problem(Exception):
    """An HTTP error answer; raise it anywhere under a handler."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        reason: RejectionReason | None = None,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.reason, self.field = reason, field
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self, instance: str | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {
            "type": TYPE_PREFIX + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            document["field"] = self.field
        if instance is not None:
            document["instance"] = instance
        return document | self.extra

    def response(self, instance: str | None = None) -> web.Response:
        if self.reason is not None:
            reject(self.reason)
        return web.Response(
            status=self.status, body=orjson.dumps(self.body(instance)), content_type=CONTENT_TYPE, headers=self.headers
        )


def unauthenticated() -> Problem:
    return Problem(
        401, "unauthenticated", "Unauthenticated", "send a valid API key as 'Authorization: Bearer <key>'",
        reason="unauthenticated", headers={"WWW-Authenticate": 'Bearer realm="crmbus"'},
    )  # fmt: skip


def forbidden(detail: str, **extra: str) -> Problem:
    """The key is known but may not do this."""
    return Problem(403, "forbidden", "Forbidden", detail, reason="forbidden", extra=extra)


def missing_scope(scope: str) -> Problem:
    """The key lacks ``scope``: the problem names it in ``detail`` and in ``scope``."""
    return forbidden(f"this API key lacks the {scope!r} scope this needs", scope=scope)


def malformed_json(detail: str) -> Problem:
    return Problem(400, "malformed-json", "Malformed JSON", detail, reason="malformed_json")


def invalid_event(detail: str, field: str | None) -> Problem:
    return Problem(422, "invalid-event", "Invalid event", detail, reason="invalid_event", field=field)


def kafka_unavailable(retry_after_s: int) -> Problem:
    return Problem(
        503, "kafka-unavailable", "Event log unavailable",
        "the event could not be stored; nothing was accepted, retry later",
        reason="kafka_unavailable", headers={"Retry-After": str(retry_after_s)},
    )  # fmt: skip
