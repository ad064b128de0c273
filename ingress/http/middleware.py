"""Request ids, structured access logs, metrics, the conversion of every error to a problem, and
the refusal of ambiguous credentials and of NUL characters in paths, queries and forms."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from infra.core.metrics import INGRESS_LATENCY, INGRESS_REQUESTS
from ingress.http.problems import Problem, invalid_event
from streams.errors import InvalidEventError, ServiceUnreachableError, SignatureError
from streams.nul_text import NUL

log = structlog.get_logger(__name__)
REQUEST_ID = "X-Request-Id"
# Every header the ingress reads a credential, signature or idempotency key from. Sent twice, the
# two may disagree, and proxies and frameworks differ on which one wins: refuse instead of choosing.
# Several signatures during a secret's rotation go comma-separated in one X-Crmbus-Signature.
SINGLE_HEADERS = (
    "Authorization", "X-Api-Key", "X-Webhook-Token", "X-Webhook-Hmac", "X-Webhook-Hmac-Algorithm",
    "X-Crmbus-Signature", "X-Crmbus-Timestamp", "Idempotency-Key",
)  # fmt: skip


def _route(request: web.Request) -> str:
    # The route template, never the raw path: label values must stay few and free of ids.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def status_problem(exc: web.HTTPException) -> Problem:
    """An aiohttp error answer (404 from the router, 405, 413) as the problem it stands for."""
    if exc.status == 404:
        return Problem(404, "not-found", "Not found", "no such resource", reason="not_found")
    if exc.status == 413:
        return Problem(413, "too-large", "Body too large", "the body is too large", reason="too_large")
    # Keep only headers that carry meaning (Allow on 405); aiohttp's own Content-Type must not clash.
    headers = {name: exc.headers[name] for name in ("Allow",) if name in exc.headers}
    return Problem(exc.status, f"http-{exc.status}", exc.reason, exc.reason, headers=headers)


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """A request's method as a metric label: the client chooses it, so any method outside the
    standard ones is ``other`` (a label's values must stay few)."""
    return method if method in KNOWN_METHODS else "other"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: request id, timing, metrics and one log line per request."""
    supplied = request.headers.get(REQUEST_ID, "")
    request_id = supplied if 0 < len(supplied) <= 64 and supplied.isprintable() else uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    response = await handler(request)
    elapsed = time.perf_counter() - started
    route = _route(request)
    response.headers[REQUEST_ID] = request_id
    INGRESS_REQUESTS.child(route, method_label(request.method), str(response.status)).inc()
    INGRESS_LATENCY.child(route).observe(elapsed)
    if response.status >= 400:
        log.info("request", method=request.method, route=route, status=response.status, ms=round(elapsed * 1000, 2))
    return response


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes application/problem+json; nothing else escapes a handler."""
    instance = request.path
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response(instance)
    except InvalidEventError as exc:
        return invalid_event(str(exc), exc.field).response(instance)
    except SignatureError as exc:
        return Problem(
            401, "invalid-signature", "Invalid signature", str(exc),
            reason="replayed" if exc.reason == "replayed" else "bad_signature",
        ).response(instance)  # fmt: skip
    except ServiceUnreachableError:
        log.warning("dependency_unreachable", route=_route(request))
        return Problem(
            503, "dependency-unavailable", "Service unavailable", "a dependency does not answer; retry later",
            headers={"Retry-After": "5"},
        ).response(instance)  # fmt: skip
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return status_problem(exc).response(instance)
    except Exception:
        log.exception("unhandled_error", route=_route(request))
        return Problem(500, "internal", "Internal error", "an unexpected error; it has been logged").response(instance)


@web.middleware
async def single_credentials(request: web.Request, handler: Handler) -> web.StreamResponse:
    """400 for a request that sends one of ``SINGLE_HEADERS`` more than once, or with a value that is
    not visible ASCII (bytes that are not UTF-8 reach handlers as lone surrogates, which neither
    hashing nor a constant-time comparison takes), before anything reads it."""
    for name in SINGLE_HEADERS:
        values = request.headers.getall(name, ())
        if len(values) > 1:
            raise Problem(
                400, "duplicate-header", "Duplicate header", f"send the {name} header once",
                reason="duplicate_header", extra={"header": name},
            )  # fmt: skip
        if values and not (values[0].isascii() and values[0].isprintable()):
            raise Problem(
                400, "malformed-header", "Malformed header", f"the {name} header must be visible ASCII",
                reason="malformed_header", extra={"header": name},
            )  # fmt: skip
    return await handler(request)


_FORM = "application/x-www-form-urlencoded"


def _nul_field(fields: Iterable[tuple[str, object]]) -> str | None:
    """The name of the first field whose name or text value holds NUL, else None."""
    for name, value in fields:
        if NUL in name or (isinstance(value, str) and NUL in value):
            return name.replace(NUL, "\\u0000")
    return None


def _nul_in(field: str) -> Problem:
    return Problem(
        422, "invalid-request", "Invalid request", f"{field}: holds a NUL character",
        reason="invalid_request", field=field,
    )  # fmt: skip


@web.middleware
async def refuse_nul(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No path or query may hold NUL (U+0000), before any handler reads them: no resource's name
    holds one and PostgreSQL text cannot store one. A path with NUL names nothing (404); a query
    parameter with NUL is a 422 naming it."""
    if NUL in request.path:
        raise status_problem(web.HTTPNotFound())
    field = _nul_field(request.query.items())
    if field is not None:
        raise _nul_in(field)
    return await handler(request)


@web.middleware
async def refuse_nul_in_forms(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The same for a URL-encoded form's fields (the console's forms): a 422 naming the field."""
    if request.content_type == _FORM:
        field = _nul_field((await request.post()).items())
        if field is not None:
            raise _nul_in(field)
    return await handler(request)
