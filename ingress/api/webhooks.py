"""Source webhooks: ``POST /v1/webhooks/{source}/{token}``, each source in its own format.

The endpoint's token (in the URL, or in ``X-Webhook-Token`` on ``POST /v1/webhooks/{source}``) says
which tenant and source is calling; unknown tokens are 404, like any unknown capability URL.
Where the source signs, the body's signature is checked too: WAHA's ``X-Webhook-Hmac`` (with
``X-Webhook-Hmac-Algorithm``), and for CRM, Operacao and Financeiro crmbus's timestamped
``X-Crmbus-Signature``. The body is then mapped by the pure mapper of ``streams.sources`` and
written like any other event.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import structlog
from aiohttp import web

from infra.db.inbound_sources import SourceEndpoint
from ingress.api.state import STATE, IngressState
from ingress.http.bodies import json_response, parse_json, read_json_bytes
from ingress.http.problems import Problem, kafka_unavailable
from streams.envelope import Envelope
from streams.errors import ProduceError, ServiceUnreachableError, StoreError
from streams.signatures import verify_crmbus, verify_waha
from streams.sources import SOURCES

log = structlog.get_logger(__name__)
SESSION_EVENT = "whatsapp.session.status"
TOKEN_HEADER = "X-Webhook-Token"  # noqa: S105 - a header name, not a secret


def _not_found() -> Problem:
    return Problem(404, "not-found", "Not found", "no such webhook endpoint", reason="not_found")


async def _verify(state: IngressState, endpoint: SourceEndpoint, request: web.Request, body: bytes) -> str | None:
    """The crmbus signature, claimed (for release if the request is not accepted after all)."""
    secret = endpoint.signing_secret
    if secret is None:
        return None
    if endpoint.source == "waha":
        verify_waha(
            secret, body, request.headers.get("X-Webhook-Hmac"), request.headers.get("X-Webhook-Hmac-Algorithm")
        )
        return None
    now = time.time()
    signature = verify_crmbus(
        secret, body, request.headers.get("X-Crmbus-Timestamp"), request.headers.get("X-Crmbus-Signature"), now
    )
    await state.replays.check(endpoint.tenant_id, signature, now)
    return signature


async def post_webhook(request: web.Request) -> web.Response:
    state = request.app[STATE]
    source = request.match_info["source"]
    # The token is in the URL, or, for senders that keep secrets out of URLs (and access logs), a header.
    token = request.match_info.get("token") or request.headers.get(TOKEN_HEADER) or ""
    mapper = SOURCES.get(source)
    if mapper is None:
        raise _not_found()
    endpoint = await state.sources.get(token)
    if endpoint is None or endpoint.source != source:
        raise _not_found()
    structlog.contextvars.bind_contextvars(tenant_id=endpoint.tenant_id, source=source)
    limit_headers = state.limits.check(endpoint.tenant_id, str(endpoint.id))
    body = await read_json_bytes(request, state.settings.ingress_max_body_bytes)
    signature = await _verify(state, endpoint, request, body)
    now = datetime.now(UTC)
    events = [
        Envelope(
            tenant_id=endpoint.tenant_id,
            type=mapped.type,
            source=source,
            payload=mapped.payload,
            occurred_at=mapped.occurred_at or now,
            received_at=now,
            idempotency_key=mapped.idempotency_key,
            ordering_key=mapped.ordering_key,
        )
        for mapped in mapper(parse_json(body), state.types.current.validator(endpoint.tenant_id))
    ]
    if not events:
        # A callback crmbus deliberately ignores (an echo of our own message, a group chat...):
        # a 2xx, or the source would retry it forever.
        return json_response(200, {"accepted": 0, "status": "ignored"}, limit_headers)
    written = await state.publisher.publish(events, endpoint.partitioning)
    if any(isinstance(outcome, ProduceError) for outcome in written):
        # The source retries the whole webhook; what was written is deduplicated downstream
        # by the idempotency key the mapper derived from the source's own ids.
        if signature is not None:
            await state.replays.release(endpoint.tenant_id, signature)
        raise kafka_unavailable(retry_after_s=5)
    await _session_changes(state, endpoint.tenant_id, events)
    accepted = [
        {"event_id": str(e.event_id), "type": e.type, "topic": w.topic, "partition": w.partition, "offset": w.offset}
        for e, w in zip(events, written, strict=True)
        if not isinstance(w, ProduceError)
    ]
    return json_response(202, {"accepted": len(accepted), "events": accepted}, limit_headers)


async def _session_changes(state: IngressState, tenant_id: str, events: list[Envelope]) -> None:
    """Record a WhatsApp provider's session change in the proactive checks at once, not at the next
    probe. The event is on its way through Kafka whatever happens here: a failure only warns."""
    for event in events:
        if event.type != SESSION_EVENT:
            continue
        payload = event.payload
        status = payload.get("status")
        provider, instance = payload.get("provider"), payload.get("instance")
        if (
            status not in ("connected", "disconnected")
            or not isinstance(provider, str)
            or not isinstance(instance, str)
        ):
            continue
        # WAHA's reason is its session state (failed, stopped...); Z-API's is free text: not kept.
        reason = payload.get("reason") if provider == "waha" else None
        try:
            await asyncio.to_thread(state.session_event, tenant_id, provider, instance, status, reason)
        except (ServiceUnreachableError, StoreError) as exc:
            log.warning("whatsapp session change not recorded", error=type(exc).__name__)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/webhooks/{source}/{token}", post_webhook),
        web.post("/v1/webhooks/{source}", post_webhook),
    ]
