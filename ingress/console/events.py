"""An event's page: its whole story (``story``), for keys acting for its tenant (an admin's: any).
Another tenant's event is "not found", as one that does not exist."""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web

from infra.db.console_sessions import Operator
from infra.db.dead_letters import DeadLetterView
from infra.db.delivery_log import EventHistory
from ingress.console.access import OPERATOR
from ingress.console.acts import field, refusal
from ingress.console.layout import e, form, redirect, respond
from ingress.console.state import STATE
from ingress.console.story import DeliveryStory, decision, deliveries
from streams.dead_letter import STAGE
from streams.errors import NothingToReplayError, ProduceError
from streams.replay_filter import ReplayFilter


def event_path(event_id: uuid.UUID | str) -> str:
    return f"/console/events/{event_id}"


async def find_event(request: web.Request) -> web.StreamResponse:
    """The navigation's "open event" form: ``?id=<event id>``."""
    event_id = _uuid(request.query.get("id", ""))
    if event_id is None:
        return _not_found(request, "That is not an event id (a UUID).")
    raise web.HTTPSeeOther(event_path(event_id))


async def event_page(request: web.Request) -> web.Response:
    event_id = _uuid(request.match_info["event_id"])
    if event_id is None:
        return _not_found(request, "That is not an event id (a UUID).")
    found = await read_story(request, event_id)
    if found is None:
        return _not_found(request, f"No event {event_id} in the history of the tenants this key acts for.")
    tenant_id, history, stories, letters = found
    return respond(request, f"Event {event_id}", _render(request, event_id, tenant_id, history, stories, letters))


async def read_story(
    request: web.Request, event_id: uuid.UUID
) -> tuple[str, EventHistory, list[DeliveryStory], list[DeadLetterView]] | None:
    """The event's tenant, history, deliveries and dead letters (its deliveries' and those of the
    router's stage, which belong to no delivery), or None when the operator may not see it."""
    state, operator = request.app[STATE], request[OPERATOR]
    tenant_id = await asyncio.to_thread(state.trail.tenant_of, event_id)
    if tenant_id is None or not operator.acts_for(tenant_id):
        return None
    history = await asyncio.to_thread(state.history.history, event_id, tenant_id)
    ids = frozenset(attempt.delivery_id for attempt in history.attempts)
    # By event id; by delivery id too, for letters archived before the event id was recorded.
    found = [
        *await asyncio.to_thread(state.dead_letters.list, tenant_id, ReplayFilter(event_ids=frozenset({event_id}))),
        *await asyncio.to_thread(state.dead_letters.list, tenant_id, ReplayFilter(delivery_ids=ids)),
    ]
    letters = sorted({letter.id: letter for letter in found}.values(), key=lambda letter: letter.id)
    return tenant_id, history, deliveries(history, letters), letters


async def retry(request: web.Request) -> web.StreamResponse:
    """Send a dead-lettered delivery of the event back (``Replayer.retry``), then show the event."""
    event_id = _uuid(request.match_info["event_id"])
    delivery_id = await field(request, "delivery_id")
    state = request.app[STATE]
    tenant_id = None if event_id is None else await asyncio.to_thread(state.trail.tenant_of, event_id)
    refused = refusal(request, "deliveries:retry", tenant_id)
    if refused is not None or event_id is None or tenant_id is None:
        return refused or _not_found(request, "No such event.")
    history = await asyncio.to_thread(state.history.history, event_id, tenant_id)
    if delivery_id not in {attempt.delivery_id for attempt in history.attempts}:
        return _not_found(request, f"Event {event_id} has no delivery {delivery_id}.")
    try:
        run = await state.replayer(request[OPERATOR].actor).retry(tenant_id, [delivery_id])
    except NothingToReplayError as exc:
        raise redirect(request, event_path(event_id), f"Nothing to retry: {exc}.", ok=False) from exc
    except ProduceError as exc:
        raise redirect(request, event_path(event_id), f"The retry was not sent: {exc}", ok=False) from exc
    text = f"Retrying delivery {delivery_id}: sent back to its destination (replay {run.id})."
    raise redirect(request, event_path(event_id), text)


def _render(
    request: web.Request,
    event_id: uuid.UUID,
    tenant_id: str,
    history: EventHistory,
    stories: list[DeliveryStory],
    dead: list[DeadLetterView],
) -> str:
    operator = request[OPERATOR]
    head = (
        f"<h1>Event <code>{e(event_id)}</code></h1>"
        f"<div>tenant <strong>{e(tenant_id)}</strong> · type <code>{e(history.event_type or '—')}</code></div>"
        f"<p>{e(decision(history))}</p>"
    )
    rows = "".join(_delivery_row(request, operator, event_id, story) for story in stories)
    summary = (
        "<h2>Deliveries</h2><table><tr><th>destination</th><th>delivery</th><th>attempts</th><th>now</th><th></th></tr>"
        f"{rows}</table>"
        if stories
        else "<h2>Deliveries</h2><div class=muted>no attempt yet</div>"
    )
    attempts = "".join(
        f"<tr><td>{e(a.destination)}</td><td class=n>{e(a.attempt)}</td><td>{e(a.status)}</td>"
        f"<td class=n>{e(a.status_code if a.status_code is not None else '—')}</td>"
        f"<td>{e(a.created_at.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3])}</td></tr>"
        for a in history.attempts
    )
    timeline = (
        "<h2>Every attempt</h2><table><tr><th>destination</th><th>attempt</th><th>status</th><th>status code</th>"
        f"<th>at (UTC)</th></tr>{attempts}</table>"
        if history.attempts
        else ""
    )
    dead_rows = "".join(
        f"<tr><td>{e(d.headers.get(STAGE, '—'))}</td><td>{e(d.destination or '—')}</td><td>{e(d.error_class)}</td>"
        f"<td class=n>{e(d.status_code if d.status_code is not None else '—')}</td><td class=n>{e(d.attempts)}</td>"
        f"<td>{e(d.status)}</td></tr>"
        for d in dead
    )
    letters = (
        "<h2>Dead letters</h2><table><tr><th>stage</th><th>destination</th><th>error class</th><th>status code</th>"
        f"<th>attempts</th><th>status</th></tr>{dead_rows}</table>"
        if dead
        else ""
    )
    return head + summary + timeline + letters


def _delivery_row(request: web.Request, operator: Operator, event_id: uuid.UUID, story: DeliveryStory) -> str:
    css = {"delivered": "ok", "duplicate": "ok", "dead_lettered": "bad"}.get(story.attempts[-1].status, "idle")
    action = ""
    if story.retryable and operator.may("deliveries:retry"):
        action = form(request, f"{event_path(event_id)}/retry", "Retry", {"delivery_id": story.delivery_id})
    return (
        f"<tr><td>{e(story.destination)}</td><td><code>{e(story.delivery_id)}</code></td>"
        f"<td class=n>{len(story.attempts)}</td><td><span class={css}>{e(story.now)}</span></td><td>{action}</td></tr>"
    )


def _not_found(request: web.Request, text: str) -> web.Response:
    return respond(request, "Not found", f"<h1>Not found</h1><p>{e(text)}</p>", status=404)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
