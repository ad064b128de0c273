"""The admin API's OpenAPI 3.1 document, built from the route table that drives the router and
the scope checks: what it says each operation needs is what each operation checks."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from ingress.admin.schemas import TENANT_ID_PATTERN
from ingress.admin.table import CURSOR, DEFAULT_LIMIT, IDEMPOTENCY_KEY, MAX_LIMIT, SHOWN_ONCE, Operation
from ingress.http.problems import BEARER_SCHEME, problem_schema

PROBLEM = {"$ref": "#/components/schemas/Problem"}
_REASONS = {
    400: "Malformed JSON, or a header (Authorization, Idempotency-Key) sent twice",
    401: "Missing or invalid API key",
    403: "The API key lacks the scope this operation needs (named in 'scope')",
    404: "No such resource, or one of a tenant the key does not act for",
    409: "It conflicts with what exists (an id or name in use), an Idempotency-Key repeats a request whose "
    "answer showed a secret once, or another request with this Idempotency-Key or on this resource is still "
    "running (Retry-After)",
    412: "If-Match names an ETag the resource no longer has",
    413: "Body too large",
    415: "The body is not application/json",
    422: "Invalid request (the problem names the field), or an Idempotency-Key reused with another request",
    428: "If-Match is required",
    429: "Rate limited (Retry-After)",
    503: "PostgreSQL unavailable; nothing changed",
}
_RATE_HEADERS = {
    name: {"description": text, "schema": {"type": "integer"}}
    for name, text in (
        ("RateLimit-Limit", "Requests this key may burst"),
        ("RateLimit-Remaining", "Requests left now"),
        ("RateLimit-Reset", "Seconds until the bucket is full again"),
    )
}


def _problems(statuses: Sequence[int]) -> dict[str, Any]:
    return {
        str(status): {"description": _REASONS[status], "content": {"application/problem+json": {"schema": PROBLEM}}}
        for status in sorted(statuses)
    }


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if operation.tenant_scoped:
        found.append(
            {"name": "tenant_id", "in": "path", "required": True,
             "schema": {"type": "string", "pattern": TENANT_ID_PATTERN}}
        )  # fmt: skip
    found += [dict(parameter) for parameter in operation.parameters]
    if operation.kind == "list":
        found += [
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
            {"name": "cursor", "in": "query", "required": False, "description": "next_cursor of the previous page",
             "schema": {"type": "string", "pattern": f"^{CURSOR.pattern}$"}},
        ]  # fmt: skip
    if operation.method == "POST":
        found.append(
            {"name": "Idempotency-Key", "in": "header", "required": False,
             "description": "The same key, operation and body within 24 h get the first answer again (an "
             "answer that showed a secret once: 409, the secret is kept nowhere); the same key and operation "
             "with another body, 422",
             "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY.pattern}$"}}
        )  # fmt: skip
    if operation.method == "PATCH":
        found.append(
            {"name": "If-Match", "in": "header", "required": True,
             "description": "The ETag of the resource as last read", "schema": {"type": "string"}}
        )  # fmt: skip
    return found


def _success(operation: Operation) -> dict[str, Any]:
    headers: dict[str, Any] = dict(_RATE_HEADERS)
    schema: dict[str, Any] = dict(operation.response)
    if operation.kind == "list":
        schema = {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {"items": {"type": "array", "items": schema}, "next_cursor": {"type": ["string", "null"]}},
        }
        headers["Link"] = {"description": 'The next page, rel="next"', "schema": {"type": "string"}}
    elif operation.kind == "single" and operation.method != "POST":
        headers["ETag"] = {"description": "For If-Match", "schema": {"type": "string"}}
    return {"description": operation.summary, "headers": headers, "content": {"application/json": {"schema": schema}}}


def _operation(operation: Operation) -> dict[str, Any]:
    statuses = {400, 401, 403, 404, 429, 503, *operation.errors}
    if operation.request is not None:
        statuses |= {413, 415, 422}
    if operation.method == "PATCH":
        statuses |= {412, 428}
    if operation.kind == "list" or operation.method == "POST":
        statuses.add(422)
    if operation.method == "POST" and set(operation.response.get("properties", {})) & set(SHOWN_ONCE):
        statuses.add(409)
    if operation.method == "PATCH" or (operation.method == "POST" and not operation.personal):
        statuses.add(409)  # a request of the same turn (Idempotency-Key, resource) ran past the wait
    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "x-scope": operation.scope,
        "description": f"Needs the scope `{operation.scope}`.",
        # OpenAPI 3.1: a bearer scheme's list names the scopes the key must hold, as the events API's does.
        "security": [{"apiKey": [operation.scope]}],
        "parameters": _parameters(operation),
        "responses": {str(operation.status): _success(operation), **_problems(sorted(statuses))},
    }
    if operation.request is not None:
        # A body whose every field is optional may be left out (it is then {}).
        required = bool(operation.request.get("required") or operation.request.get("minProperties"))
        document["requestBody"] = {"required": required, "content": {"application/json": {"schema": operation.request}}}
    return document


def document(operations: Sequence[Operation]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(f"/v1{operation.path}", {})[operation.method.lower()] = _operation(operation)
    paths["/v1/openapi.json"] = {
        "get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crmbus admin API",
            "version": version("crmbus"),
            "description": "Tenants, API keys, sources, destinations, routes and event types. Each operation "
            "needs the scope in its x-scope; a key acts for its own tenant only (another tenant's resources "
            "are 404), one holding admin for every tenant. Errors are RFC 9457 application/problem+json.",
        },
        "components": {
            "securitySchemes": {"apiKey": BEARER_SCHEME},
            "schemas": {
                "Problem": problem_schema(),
            },
        },
        "paths": paths,
    }
