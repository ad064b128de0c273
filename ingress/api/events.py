"""The generic API: ``POST /v1/events``, ``POST /v1/events/batch``, ``GET /v1/events/{event_id}``.

Both POSTs take crmbus's own JSON and CloudEvents 1.0 in JSON (streams/cloudevents.py), told
apart by the Content-Type: one event as application/cloudevents+json (``POST /v1/events``), a
batch as application/cloudevents-batch+json (either).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC
from functools import partial
from typing import Any

import structlog
from aiohttp import web

from connectors.kafka.producer import Delivered
from infra.core.metrics import reject
from ingress.api.state import STATE, IngressState
from ingress.http.bodies import json_response, parse_json_array, read_json, read_json_bytes
from ingress.http.problems import Problem, invalid_event, kafka_unavailable
from streams.cloudevents import BATCH_MEDIA_TYPE, MEDIA_TYPE, as_attribute_error, request_from_cloudevent
from streams.envelope import Envelope
from streams.errors import InvalidEventError, ProduceError
from streams.event_status import event_status
from streams.inbound import envelope_from_request

log = structlog.get_logger(__name__)
SOURCE = "api"
ToEnvelope = Callable[[IngressState, dict[str, Any], str], Awaitable[Envelope]]


def _accepted(event: Envelope, where: Delivered) -> dict[str, Any]:
    return {
        "event_id": str(event.event_id),
        "status": "accepted",
        "type": event.type,
        "topic": where.topic,
        "partition": where.partition,
        "offset": where.offset,
    }


async def _envelope(
    state: IngressState, document: dict[str, Any], tenant_id: str, idempotency_header: str | None = None
) -> Envelope:
    """The envelope of one request document; a type unknown here is looked for once more in
    PostgreSQL first (a tenant may have registered it a moment ago)."""
    build = partial(
        envelope_from_request, document, tenant_id=tenant_id, source=SOURCE, idempotency_header=idempotency_header
    )
    try:
        return build(catalogue=state.types.current)
    except InvalidEventError as exc:
        if exc.field not in ("type", "version"):
            raise
    await state.types.refresh_for_unknown()
    return build(catalogue=state.types.current)


def _refuse_idempotency_header(request: web.Request) -> None:
    if "Idempotency-Key" in request.headers:
        raise invalid_event("a CloudEvent's source and id are its key: send no Idempotency-Key", "Idempotency-Key")


async def _cloudevent_envelope(state: IngressState, event: dict[str, Any], tenant_id: str) -> Envelope:
    try:
        return await _envelope(state, request_from_cloudevent(event), tenant_id)
    except InvalidEventError as exc:
        raise as_attribute_error(exc) from exc


async def post_event(request: web.Request) -> web.Response:
    if request.content_type == BATCH_MEDIA_TYPE:
        return await post_batch(request)
    state = request.app[STATE]
    principal = await state.principal(request, "events:write")
    limit_headers = state.limits.check(principal.tenant_id, str(principal.key_id))
    document = await read_json(request, state.settings.ingress_max_body_bytes)
    if request.content_type != MEDIA_TYPE:
        event = await _envelope(state, document, principal.tenant_id, request.headers.get("Idempotency-Key"))
    else:
        _refuse_idempotency_header(request)
        event = await _cloudevent_envelope(state, document, principal.tenant_id)
    structlog.contextvars.bind_contextvars(tenant_id=principal.tenant_id, event_id=str(event.event_id))
    [result] = await state.publisher.publish([event], principal.partitioning)
    if isinstance(result, ProduceError):
        log.warning("kafka_write_failed", code=result.code)
        raise kafka_unavailable(retry_after_s=5)
    return json_response(202, _accepted(event, result), limit_headers)


async def _batch_items(request: web.Request, limit: int) -> tuple[list[Any], str, str | None]:
    """The batch's items, the path they sit at ("events" or "" for a bare array), and the field
    a problem with the batch as a whole names."""
    if request.content_type == MEDIA_TYPE:
        raise Problem(
            415, "unsupported-media-type", "Unsupported media type",
            "send a batch of CloudEvents as application/cloudevents-batch+json", reason="unsupported_media_type",
        )  # fmt: skip
    if request.content_type != BATCH_MEDIA_TYPE:
        document = await read_json(request, limit)
        items = document.get("events")
        if set(document) != {"events"} or not isinstance(items, list) or not items:
            raise invalid_event('the body must be {"events": [ ... ]} with at least one event', "events")
        return items, "events", "events"
    _refuse_idempotency_header(request)
    array = parse_json_array(await read_json_bytes(request, limit), "a batch of CloudEvents")
    if not array:
        raise invalid_event("the batch must hold at least one CloudEvent", None)
    return array, "", None


async def post_batch(request: web.Request) -> web.Response:
    """Each valid event is written; each invalid one gets its problem. 202 if all were accepted, else 207."""
    state = request.app[STATE]
    principal = await state.principal(request, "events:write")
    items, at, whole = await _batch_items(request, state.settings.ingress_max_body_bytes)
    to_envelope: ToEnvelope = _envelope if at else _cloudevent_envelope
    if len(items) > state.settings.ingress_batch_max:
        raise invalid_event(f"at most {state.settings.ingress_batch_max} events per batch", whole)
    # Not even an object: the batch is malformed as a whole, not one of its events invalid.
    not_object = next((index for index, item in enumerate(items) if not isinstance(item, dict)), None)
    if not_object is not None:
        raise invalid_event("each event must be a JSON object", f"{at}[{not_object}]")
    limit_headers = state.limits.check(principal.tenant_id, str(principal.key_id), cost=len(items))
    results: list[dict[str, Any] | None] = [None] * len(items)
    valid: list[tuple[int, Envelope]] = []
    for index, item in enumerate(items):
        try:
            valid.append((index, await to_envelope(state, item, principal.tenant_id)))
        except InvalidEventError as exc:
            reject("invalid_event")
            field = f"{at}[{index}].{exc.field}" if exc.field else f"{at}[{index}]"
            results[index] = {"index": index} | invalid_event(str(exc), field).body()
    written = await state.publisher.publish([event for _, event in valid], principal.partitioning) if valid else []
    for (index, event), outcome in zip(valid, written, strict=True):
        if isinstance(outcome, ProduceError):
            results[index] = {"index": index} | kafka_unavailable(retry_after_s=5).body()
        else:
            results[index] = {"index": index, "status_code": 202} | _accepted(event, outcome)
    accepted = sum(1 for r in results if r and r.get("status_code") == 202)
    if accepted == 0 and all(r and r.get("status") == 503 for r in results):
        raise kafka_unavailable(retry_after_s=5)
    status = 202 if accepted == len(items) else 207
    return json_response(
        status, {"accepted": accepted, "rejected": len(items) - accepted, "results": results}, limit_headers
    )


async def get_event(request: web.Request) -> web.Response:
    """What became of an event: its status and delivery attempts. Only the owning tenant sees it (else 404)."""
    state = request.app[STATE]
    principal = await state.principal(request, "events:read")
    try:
        event_id = uuid.UUID(request.match_info["event_id"])
    except ValueError:
        raise invalid_event("event_id must be a UUID", "event_id") from None
    history = await asyncio.to_thread(state.history, event_id, principal.tenant_id)  # PostgreSQL away: 503
    status = event_status(history.decision, ((a.delivery_id, a.status) for a in history.attempts))
    if status is None:
        raise Problem(
            404, "not-found", "Not found",
            "no event of your tenant with this id has been routed yet: an accepted event shows here "
            "once the router has taken it, usually within a second of its 202",
            reason="not_found",
        )  # fmt: skip
    deliveries = [
        {
            "delivery_id": row.delivery_id,
            "destination": row.destination,
            "attempt": row.attempt,
            "status": row.status,
            "status_code": row.status_code,
            "at": row.created_at.astimezone(UTC).isoformat(),
        }
        for row in history.attempts
    ]
    decision = history.decision
    answer: dict[str, Any] = {"event_id": str(event_id), "type": history.event_type, "status": status}
    if decision is not None:
        answer |= {"routed_at": decision.decided_at.astimezone(UTC).isoformat(), "planned": decision.planned}
    return json_response(200, answer | {"deliveries": deliveries}, {})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/events", post_event),
        web.post("/v1/events/batch", post_batch),
        # Only id-shaped segments: "batch" must not match, so OPTIONS and GET on /v1/events/batch
        # answer as the batch resource does (405, Allow: POST) instead of as an event lookup.
        web.get("/v1/events/{event_id:[0-9A-Fa-f-]{32,36}}", get_event),
    ]
