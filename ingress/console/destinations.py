"""The destinations page: each destination's state (enabled, paused, what it lacks), with pause
and resume for keys holding ``config:write``. A paused destination's deliveries wait in a retry
tier, none attempted or dead-lettered, until it is resumed (``Endpoints.pause``)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from infra.db.endpoints import EndpointView
from infra.db.health_checks import HealthCheckView
from ingress.console.access import OPERATOR
from ingress.console.acts import field, forbidden, refusal
from ingress.console.layout import e, form, redirect, respond
from ingress.console.state import STATE
from streams.errors import ConfigurationError

PATH = "/console/destinations"


async def destinations_page(request: web.Request) -> web.Response:
    lacking = forbidden(request, "config:read")
    if lacking is not None:
        return lacking
    operator = request[OPERATOR]
    tenant = None if operator.may("admin") else operator.tenant_id
    state = request.app[STATE]
    views = await asyncio.to_thread(state.endpoints("reader").list, tenant)
    checks = {check.endpoint_id: check for check in await asyncio.to_thread(state.health.all, tenant)}
    rows = "".join(_row(request, view, checks.get(str(view.id))) for view in views)
    table = (
        "<table><tr><th>tenant</th><th>destination</th><th>kind</th><th>state</th><th>lacks</th>"
        "<th>last check</th><th></th></tr>"
        f"{rows}</table>"
        if views
        else "<div class=muted>no destination</div>"
    )
    hint = (
        "<div class=muted>Z-API and WAHA destinations are probed every few minutes (their API, and their "
        "WhatsApp session); the other kinds have no health call and show what their deliveries say.</div>"
        "<div class=muted>Pausing holds a destination's deliveries in a retry tier: none is attempted, "
        "none dead-lettered; resuming lets them go at their tier's next turn.</div>"
    )
    return respond(request, "Destinations", f"<h1>Destinations</h1>{table}{hint}")


async def pause(request: web.Request) -> web.StreamResponse:
    return await _act(request, paused=True)


async def resume(request: web.Request) -> web.StreamResponse:
    return await _act(request, paused=False)


async def _act(request: web.Request, *, paused: bool) -> web.StreamResponse:
    tenant_id, name = await field(request, "tenant_id"), await field(request, "name")
    refused = refusal(request, "config:write", tenant_id)
    if refused is not None:
        return refused
    endpoints = request.app[STATE].endpoints(request[OPERATOR].actor)
    act = endpoints.pause if paused else endpoints.resume
    try:
        await asyncio.to_thread(act, tenant_id, name)
    except ConfigurationError as exc:
        raise redirect(request, PATH, str(exc), ok=False) from exc
    done = (
        f"Paused {tenant_id} → {name}: its deliveries wait, none is attempted, until resumed."
        if paused
        else f"Resumed {tenant_id} → {name}: its waiting deliveries go at their retry tier's next turn."
    )
    raise redirect(request, PATH, done)


def _check(check: HealthCheckView | None) -> str:
    if check is None:
        return "<span class=idle>not probed</span>"
    bad = check.probe_status == "down" or check.session_status == "disconnected"
    said = " · ".join(filter(None, (check.probe_status, check.session_status, check.error_class)))
    at = check.checked_at.strftime("%Y-%m-%d %H:%M:%S")
    return f"<span class={'bad' if bad else 'ok'}>{e(said)}</span> <span class=muted>{e(at)} UTC</span>"


def _row(request: web.Request, view: EndpointView, check: HealthCheckView | None) -> str:
    if not view.enabled:
        state, css = "disabled", "idle"
    elif view.paused_at is not None:
        state, css = f"paused since {view.paused_at.strftime('%Y-%m-%d %H:%M:%S')} UTC", "bad"
    else:
        state, css = "active", "ok"
    action = ""
    if request[OPERATOR].may("config:write"):
        fields = {"tenant_id": view.tenant_id, "name": view.name}
        paused = view.paused_at is not None
        action = form(request, f"{PATH}/{'resume' if paused else 'pause'}", "Resume" if paused else "Pause", fields)
    return (
        f"<tr><td>{e(view.tenant_id)}</td><td>{e(view.name)}</td><td>{e(view.kind)}</td>"
        f"<td><span class={css}>{e(state)}</span></td><td>{e(', '.join(view.missing) or '—')}</td>"
        f"<td>{_check(check)}</td><td>{action}</td></tr>"
    )
