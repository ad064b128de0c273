"""The dead-letters page: open DLQ records grouped by tenant, destination and error class, each
group with "Replay this group…", which first shows what would go (a dry run: how many letters,
the first few) and replays only once confirmed, for keys holding ``dlq:replay``.

A group without a tenant (a record that failed before its tenant was known) is replayed with
``crmbus dlq replay`` only: no tenant's operator acts for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

from infra.db.dead_letters import DeadLetterView
from ingress.console.access import OPERATOR
from ingress.console.acts import field, forbidden, refusal
from ingress.console.events import event_path
from ingress.console.layout import e, form, redirect, respond
from ingress.console.page import age
from ingress.console.state import STATE
from streams.bus_health import DeadLetterGroup
from streams.errors import ProduceError
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
    return respond(request, "Dead letters", f"<h1>Dead letters</h1><div>{e(total)} open</div>{table}")


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
    form_ = await request.post()
    tenant_id, selection = _selection(await field(request, "tenant_id"), form_)
    refused = refusal(request, "dlq:replay", tenant_id)
    if refused is not None:
        return refused
    replayer = request.app[STATE].replayer(request[OPERATOR].actor)
    try:
        run = await replayer.start(tenant_id, selection)
    except ProduceError as exc:
        raise redirect(request, PATH, f"The replay stopped: {exc}", ok=False) from exc
    done = f"Replayed {run.sent} of {run.selected} letter(s) of {_described(selection)} (replay {run.id})."
    raise redirect(request, PATH, done)


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


def _letter_row(letter: DeadLetterView) -> str:
    event = f"<a href={e(event_path(letter.event_id))}>{e(letter.event_id)}</a>" if letter.event_id else "—"
    failed = letter.last_failure_at.strftime("%Y-%m-%d %H:%M:%S") if letter.last_failure_at else "—"
    code = letter.status_code if letter.status_code is not None else "—"
    return (
        f"<tr><td class=n>{e(letter.id)}</td><td>{event}</td><td>{e(letter.destination or '—')}</td>"
        f"<td>{e(letter.error_class)}</td><td class=n>{e(code)}</td><td class=n>{e(letter.attempts)}</td>"
        f"<td>{e(failed)}</td></tr>"
    )
