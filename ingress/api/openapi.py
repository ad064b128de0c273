"""The ingress's OpenAPI 3.1 document, built from the same event-type schemas that validate requests."""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from typing import Any

from ingress.api.openapi_cloudevents import cloudevent, cloudevents_batch
from ingress.http.problems import BEARER_SCHEME, problem_schema
from schemas.event_types import built_in_catalogue
from streams.cloudevents import BATCH_MEDIA_TYPE, MEDIA_TYPE
from streams.event_status import STATUSES
from streams.inbound import HEADER_KEY_PATTERN, KEY_PATTERN, MAX_KEY_LENGTH
from streams.sources import SOURCES

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problems(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "Malformed JSON, or a credential header (Authorization, X-Api-Key, X-Webhook-Token, a signature "
        "header, Idempotency-Key) sent twice",
        401: "Missing or invalid credentials or signature",
        403: "The API key lacks the scope the operation needs (named in the problem), or is a platform key",
        404: "Not found",
        413: "Body too large",
        415: "Not a media type the operation takes (application/json; CloudEvents JSON where listed)",
        422: "Invalid event (the problem names the field)",
        429: "Rate limited (Retry-After, RateLimit-* headers)",
        503: "Kafka or PostgreSQL unavailable; nothing accepted",
    }
    return {
        str(s): {"description": reasons[s], "content": {"application/problem+json": {"schema": PROBLEM}}}
        for s in statuses
    }


def _event_request() -> dict[str, Any]:
    # null is the same as leaving a field out.
    key = {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN}
    variants = [
        {
            "type": "object",
            "title": event_type,
            "additionalProperties": False,
            "required": ["type", "payload"],
            "properties": {
                "type": {"const": event_type},
                "version": {"type": ["integer", "null"], "enum": [1, None], "description": "Major version; default 1."},
                "payload": schema,
                "occurred_at": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "When it happened: from 1970-01-01 (UTC), not more than 5 minutes in the "
                    "future. Default: now.",
                },
                "idempotency_key": key,
                "correlation_id": key,
                "ordering_key": key,
            },
        }
        for event_type, schema in _payload_schemas().items()
    ]
    return {"oneOf": variants, "discriminator": {"propertyName": "type"}}


def _payload_schemas() -> dict[str, dict[str, Any]]:
    """Each built-in type's payload schema, an optional field's ``null`` allowed (it means absent)."""
    return {
        t.name: _nullable_optionals({k: v for k, v in t.schema.items() if k != "$schema"})
        for t in built_in_catalogue().types()
        if t.version == 1
    }


def _nullable_optionals(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_optionals(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable_optionals(value) for key, value in node.items()}
    properties = out.get("properties")
    required = out.get("required")
    if isinstance(properties, dict):
        needed = set(required or ())
        out["properties"] = {
            name: prop if name in needed else {"anyOf": [prop, {"type": "null"}]} for name, prop in properties.items()
        }
    if isinstance(required, list) and out.get("type") != "object":
        # A condition's ``required`` (if/then/else, not): a field given as null is absent, so it
        # is "present" only when it is not null.
        present = {"properties": {name: {"not": {"type": "null"}} for name in required}}
        out["allOf"] = [*out.get("allOf", ()), present]
    return out


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _webhook(token: dict[str, str]) -> dict[str, Any]:
    """The webhook operation; the endpoint's token comes in the path or in a header."""
    source = {"name": "source", "in": "path", "required": True, "schema": {"enum": list(SOURCES)}}
    return {
        "post": {
            "summary": "A source's webhook in its own format (Z-API, WAHA, site, CRM, Operacao, Financeiro)",
            "description": "WAHA bodies carry X-Webhook-Hmac (HMAC-SHA512) and X-Webhook-Hmac-Algorithm: sha512 "
            "(any other algorithm is a 401); CRM, Operacao and Financeiro bodies carry X-Crmbus-Timestamp and "
            "X-Crmbus-Signature (v1=HMAC-SHA256 of '<timestamp>.<body>'). A string holding NUL is a 422.",
            "parameters": [source, token | {"required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, **_json({"type": "object"})},
            "responses": {
                "200": {"description": "A callback crmbus ignores on purpose", **_json({"type": "object"})},
                "202": {"description": "Stored in Kafka", **_json({"type": "object"})},
                **_problems(400, 401, 404, 413, 415, 422, 429, 503),
            },
        }
    }


@cache
def document(batch_max: int) -> dict[str, Any]:
    """The document for an ingress taking at most ``batch_max`` events per batch."""
    accepted = {
        "type": "object",
        "required": ["event_id", "status", "topic", "partition", "offset"],
        "properties": {
            "event_id": {"type": "string", "format": "uuid"},
            "status": {"const": "accepted"},
            "type": {"type": "string"},
            "topic": {"type": "string"},
            "partition": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }
    history = {
        "type": "object",
        "required": ["event_id", "type", "status", "deliveries"],
        "properties": {
            "event_id": {"type": "string", "format": "uuid"},
            "type": {"type": "string"},
            "status": {
                "enum": list(STATUSES),
                "description": "routed: deliveries planned, none attempted yet; delivering: some still "
                "pending or retrying (delayed actions included); delivered: every planned delivery made; "
                "failed: all settled, at least one in the DLQ; no_route: no route matched; "
                "deduplicated: its idempotency key was seen before, nothing more was produced.",
            },
            "routed_at": {"type": "string", "format": "date-time"},
            "planned": {"type": "integer", "description": "Deliveries the router planned"},
            "deliveries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "delivery_id": {"type": "string"},
                        "destination": {"type": "string"},
                        "attempt": {"type": "integer"},
                        "status": {"enum": ["delivered", "retrying", "dead_lettered", "duplicate"]},
                        "status_code": {"type": ["integer", "null"]},
                        "at": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    }
    # OpenAPI 3.1: a bearer scheme's list names the scopes the key must hold (streams/scopes.py).
    writes: list[dict[str, list[str]]] = [{"apiKey": ["events:write"]}]
    reads: list[dict[str, list[str]]] = [{"apiKey": ["events:read"]}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crmbus ingress",
            "version": version("crmbus"),
            "description": "Events and webhooks into crmbus. A 202 means the event is stored in Kafka "
            "(acks=all). Errors are RFC 9457 application/problem+json and never echo submitted values. "
            "No string of a body, path or query may hold NUL (U+0000); no credential header may be sent twice "
            "or hold anything but visible ASCII.",
        },
        "components": {
            "securitySchemes": {"apiKey": BEARER_SCHEME},
            "schemas": {
                "Problem": problem_schema(),
                "EventRequest": _event_request(),
                "CloudEvent": cloudevent(_payload_schemas()),
                "Accepted": accepted,
                "EventHistory": history,
            },
        },
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Send one event",
                    "security": writes,
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "Equal to the body's idempotency_key when both are sent. Not "
                            "with CloudEvents (one or a batch): their source and id are their key.",
                            "schema": {"type": "string", "pattern": HEADER_KEY_PATTERN},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/EventRequest"}},
                            MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/CloudEvent"}},
                            BATCH_MEDIA_TYPE: cloudevents_batch(batch_max),
                        },
                    },
                    "responses": {
                        "202": {"description": "Stored in Kafka", **_json({"$ref": "#/components/schemas/Accepted"})},
                        "207": {
                            "description": "A CloudEvents batch with some events refused; see each result",
                            **_json({"type": "object"}),
                        },
                        **_problems(400, 401, 403, 413, 415, 422, 429, 503),
                    },
                }
            },
            "/v1/events/batch": {
                "post": {
                    "summary": "Send up to the configured number of events; one result per event",
                    "security": writes,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["events"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "events": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": batch_max,
                                            # Each event is checked on its own and answered in its result
                                            # (207), so any object is a well-formed item here.
                                            "items": {
                                                "type": "object",
                                                "description": "An EventRequest; one that is not valid gets "
                                                "its own problem in results, the others are written.",
                                            },
                                        }
                                    },
                                }
                            },
                            BATCH_MEDIA_TYPE: cloudevents_batch(batch_max),
                        },
                    },
                    "responses": {
                        "202": {"description": "Every event stored", **_json({"type": "object"})},
                        "207": {"description": "Some events refused; see each result", **_json({"type": "object"})},
                        **_problems(400, 401, 403, 413, 415, 422, 429, 503),
                    },
                }
            },
            "/v1/events/{event_id}": {
                "get": {
                    "summary": "What became of one of your events: its status and delivery attempts",
                    "description": "An accepted event shows here once the router has taken it (usually "
                    "within a second of its 202); before that, and for another tenant's event, 404.",
                    "security": reads,
                    "parameters": [
                        {
                            "name": "event_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "Its status and attempts",
                            **_json({"$ref": "#/components/schemas/EventHistory"}),
                        },
                        **_problems(400, 401, 403, 404, 422, 503),
                    },
                }
            },
            "/v1/webhooks/{source}/{token}": _webhook({"name": "token", "in": "path"}),
            "/v1/webhooks/{source}": _webhook({"name": "X-Webhook-Token", "in": "header"}),
            "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "Up"}}}},
            "/health/detailed": {
                "get": {
                    "summary": "Kafka, PostgreSQL and schema registry, each with its latency",
                    "responses": {"200": {"description": "All up"}, "503": {"description": "Something is down"}},
                }
            },
            "/status": {
                "get": {"summary": "Version, lanes, producer queue", "responses": {"200": {"description": "OK"}}}
            },
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "OK"}}}},
        },
    }


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crmbus ingress API</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code{background:#f4f4f4;padding:0 .2rem}h2{border-bottom:1px solid #ddd}</style></head>
<body><h1>crmbus ingress API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<div id="ops"></div>
<script>
fetch('/openapi.json').then(r => r.json()).then(doc => {
  const ops = document.getElementById('ops');
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const h = document.createElement('h2'); h.textContent = method.toUpperCase() + ' ' + path; ops.append(h);
      const p = document.createElement('p');
      p.textContent = (op.summary || '') + ' ' + (op.description || ''); ops.append(p);
      const c = document.createElement('p');
      c.textContent = 'Answers: ' + Object.entries(op.responses).map(([s, r]) => s + ' ' + r.description).join('; ');
      ops.append(c);
    }
  }
  const h = document.createElement('h2'); h.textContent = 'Event types'; ops.append(h);
  for (const variant of doc.components.schemas.EventRequest.oneOf) {
    const p = document.createElement('p'); const payload = variant.properties.payload;
    p.textContent = variant.title + ': requires ' + (payload.required || []).join(', '); ops.append(p);
  }
});
</script></body></html>
"""
