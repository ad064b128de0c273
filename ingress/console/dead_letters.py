"""The dead-letters page: open DLQ records grouped by tenant, destination and error class, each
group with "Replay this group…", which first shows what would go (a dry run: how many letters,
the first few) and replays only once confirmed, for keys holding ``dlq:replay``. A replay runs in
the background (``infra.control.replays``); the page lists the latest ones, how far each got, and
offers to resume one that stopped.

A group without a tenant (a record that failed before its tenant was known) is replayed with
``crmbus dlq replay`` only: no tenant's operator acts for it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

from infra.db.dead_letters import DeadLetterView, ReplayRun
from ingress.console.access import OPERATOR
from ingress.console.acts import field, forbidden, refusal
from ingress.console.events import event_path
from ingress.console.layout import e, form, redirect, respond
from ingress.console.page import age
from ingress.console.state import STATE
from streams.bus_health import DeadLetterGroup
from streams.errors import NotFoundError, ProduceError, ReplayRunningError
from streams.replay_filter import ReplayFilter

PATH = "/console/dead-letters"
DRY_RUN = f"{PATH}/replay"


async def dead_letters_page(request: web.Request) -> web.Response:
    lacking = forbidden(request, "dlq:read")
    if lacking is not None:
        return lacking
    operator = request[OPERATOR]
    groups = await asyncio.to_thread(request.app[STATE].gather.stats.open_dead_letters)
    mine = [group for group in groups if operator.may("admin") or group.tenant_id == operator.tenant_id]
    now = datetime.now(UTC)
    rows = "".join(_group_row(request, group, now) for group in mine)
    table = (
        "<table><tr><th>tenant</th><th>destination</th><th>error class</th><th>open</th><th>oldest</th><th></th></tr>"
        f"{rows}</table>"
        if mine
        else "<div class=muted>no open dead letter</div>"
    )
    total = sum(group.open_records for group in mine)
    scope = None if operator.may("admin") else operator.tenant_id
    latest = await asyncio.to_thread(request.app[STATE].dead_letters.recent_replays, scope)
    replays = "".join(_replay_row(request, run, now) for run in latest)
    recent = (
        "<h2>Latest replays</h2><table><tr><th>replay</th><th>tenant</th><th>by</th><th>started (UTC)</th>"
        f"<th>state</th><th>sent</th><th>of</th><th></th></tr>{replays}</table>"
        if latest
        else ""
    )
    return respond(request, "Dead letters", f"<h1>Dead letters</h1><div>{e(total)} open</div>{table}{recent}")


async def dry_run(request: web.Request) -> web.Response:
    """What replaying the group in the query would send; writes nothing."""
    tenant_id, selection = _selection(request.query.get("tenant", ""), request.query)
    refused = refusal(request, "dlq:replay", tenant_id)
    if refused is not None:
        return refused
    preview = await request.app[STATE].replayer(request[OPERATOR].actor).preview(tenant_id, selection)
    what = _described(selection)
    if preview.count == 0:
        body = f"<h1>Replay {e(what)}</h1><p>No open letter in this group: nothing would be sent.</p>"
        return respond(request, "Replay", body)
    sample = "".join(_letter_row(letter) for letter in preview.sample)
    fields = {"tenant_id": tenant_id or "", **_fields(selection)}
    body = (
        f"<h1>Replay {e(what)}</h1>"
        f"<p>Would replay <strong>{e(preview.count)}</strong> open letter(s), each to the topic it failed "
        "on; a delivery already made is not made again. The first of them:</p>"
        "<table><tr><th>letter</th><th>event</th><th>destination</th><th>error class</th><th>status code</th>"
        f"<th>attempts</th><th>last failure (UTC)</th></tr>{sample}</table>"
        f"{form(request, DRY_RUN, f'Replay {preview.count} letter(s)', fields)}"
        f"<p><a href={PATH}>Back, replay nothing</a></p>"
    )
    return respond(request, "Replay", body)


async def replay(request: web.Request) -> web.StreamResponse:
    """Start replaying the group: answered once the replay has fixed its selection, it goes on in
    the background."""
    form_ = await request.post()
    tenant_id, selection = _selection(await field(request, "tenant_id"), form_)
    refused = refusal(request, "dlq:replay", tenant_id)
    if refused is not None:
        return refused
    try:
        run = await request.app[STATE].replays.start(request[OPERATOR].actor, tenant_id, selection)
    except ProduceError as exc:
        raise redirect(request, PATH, f"The replay stopped: {exc}", ok=False) from exc
    started = (
        f"Replay {run.id} of {_described(selection)} started: {run.selected} letter(s), sent in the "
        "background; below, how far it got."
    )
    raise redirect(request, PATH, started)


async def resume_replay(request: web.Request) -> web.StreamResponse:
    """Go on with a replay that stopped (interrupted, or its process killed)."""
    try:
        replay_id = uuid.UUID(request.match_info["replay_id"])
        run = await asyncio.to_thread(request.app[STATE].dead_letters.replay, None, replay_id)
    except (ValueError, NotFoundError):
        return respond(request, "Not found", "<h1>Not found</h1><p>No such replay.</p>", status=404)
    refused = refusal(request, "dlq:replay", run.tenant_id)
    if refused is not None:
        return refused
    try:
        resumed = await request.app[STATE].replays.resume(request[OPERATOR].actor, run.tenant_id, replay_id)
    except ReplayRunningError as exc:
        raise redirect(request, PATH, f"Not resumed: {exc}.", ok=False) from exc
    except ProduceError as exc:
        raise redirect(request, PATH, f"The replay stopped: {exc}", ok=False) from exc
    raise redirect(request, PATH, f"Replay {replay_id} {resumed.state}: {resumed.sent} of {resumed.selected} sent.")


def _selection(tenant_id: str, given: Mapping[str, object]) -> tuple[str | None, ReplayFilter]:
    """The tenant acted for and the group's selection, from a query or a form."""

    def text(name: str) -> str | None:
        value = given.get(name)
        return value if isinstance(value, str) and value else None

    tenant = tenant_id or None
    return tenant, ReplayFilter(tenant=tenant, destination=text("destination"), error_class=text("error_class"))


def _fields(selection: ReplayFilter) -> dict[str, str]:
    found = {"destination": selection.destination, "error_class": selection.error_class}
    return {name: value for name, value in found.items() if value is not None}


def _described(selection: ReplayFilter) -> str:
    destination = selection.destination or "every destination"
    return f"{selection.tenant} → {destination}, {selection.error_class}"


def _group_row(request: web.Request, group: DeadLetterGroup, now: datetime) -> str:
    action = f"<code>{e(group.replay_command())}</code>"
    if group.tenant_id is not None and request[OPERATOR].may("dlq:replay"):
        query = {"tenant": group.tenant_id, "error_class": group.error_class}
        if group.destination is not None:
            query["destination"] = group.destination
        action = f'<a href="{e(DRY_RUN)}?{e(urlencode(query))}">Replay this group…</a>'
    return (
        f"<tr><td>{e(group.tenant_id or '—')}</td><td>{e(group.destination or '—')}</td><td>{e(group.error_class)}</td>"
        f"<td class=n>{e(group.open_records)}</td><td class=n>{e(age(group.age_s(now)))}</td><td>{action}</td></tr>"
    )


def _replay_row(request: web.Request, run: ReplayRun, now: datetime) -> str:
    quiet_s = (now - run.heartbeat_at).total_seconds()
    state = f"running, quiet for {age(quiet_s)}" if run.state == "running" and quiet_s >= 5 else run.state
    action = ""
    if run.state != "done" and request[OPERATOR].may("dlq:replay"):
        action = form(request, f"/console/replays/{run.id}/resume", "Resume")
    return (
        f"<tr><td><code>{e(run.id)}</code></td><td>{e(run.tenant_id or 'all')}</td><td>{e(run.requested_by)}</td>"
        f"<td>{e(run.created_at.strftime('%Y-%m-%d %H:%M:%S'))}</td><td>{e(state)}</td>"
        f"<td class=n>{e(run.sent)}</td><td class=n>{e(run.selected)}</td><td>{action}</td></tr>"
    )


def _letter_row(letter: DeadLetterView) -> str:
    event = f"<a href={e(event_path(letter.event_id))}>{e(letter.event_id)}</a>" if letter.event_id else "—"
    failed = letter.last_failure_at.strftime("%Y-%m-%d %H:%M:%S") if letter.last_failure_at else "—"
    code = letter.status_code if letter.status_code is not None else "—"
    return (
        f"<tr><td class=n>{e(letter.id)}</td><td>{event}</td><td>{e(letter.destination or '—')}</td>"
        f"<td>{e(letter.error_class)}</td><td class=n>{e(code)}</td><td class=n>{e(letter.attempts)}</td>"
        f"<td>{e(failed)}</td></tr>"
    )
