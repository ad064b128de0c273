"""The console's aiohttp application (``crmbus dashboard`` runs it: ``infra.cli.runners``).

What it reads and acts on beyond itself (PostgreSQL, Kafka's consumer lag) comes opened from the
composition root, ``infra.cli.wiring``, which ``build_app`` receives as ``open_resources``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from connectors.kafka.lag import ConsumerLag
from infra.control.replay import Replayer
from infra.control.replays import Replays
from infra.core.settings import Settings
from infra.db.api_keys import Principal
from infra.db.console_sessions import ConsoleSessions
from infra.db.dead_letters import DeadLetters
from infra.db.delivery_log import DeliveryLog
from infra.db.delivery_stats import DeliveryStats
from infra.db.endpoints import Endpoints
from infra.db.errors import error_name
from infra.db.event_trail import EventTrail
from infra.db.health_checks import HealthChecks
from ingress.console.access import OPERATOR, guard, on_loopback
from ingress.console.dead_letters import dead_letters_page, dry_run, replay, resume_replay
from ingress.console.destinations import destinations_page, pause, resume
from ingress.console.document import overview, seen_by
from ingress.console.events import event_page, find_event, retry
from ingress.console.gather import Gather
from ingress.console.lag_metrics import consumer_lag_exposition
from ingress.console.layout import respond
from ingress.console.page import REFRESH_S, render
from ingress.console.sign_in import sign_in, sign_in_page, sign_out
from ingress.console.state import STATE, ConsoleState
from ingress.console.workers import worker_addresses
from ingress.http.bodies import json_response
from ingress.http.middleware import refuse_nul, refuse_nul_in_forms, status_problem
from ingress.http.problems import Problem
from streams.delivery_sla import DeliverySla
from streams.errors import ServiceUnreachableError, StoreError


@dataclass(frozen=True, slots=True)
class ConsoleResources:
    """What the console reads beyond itself, opened by the composition root (``infra.cli.wiring``)."""

    stats: DeliveryStats
    lag: ConsumerLag
    sessions: ConsoleSessions
    principal: Callable[[str], Principal | None]
    history: DeliveryLog
    trail: EventTrail
    dead_letters: DeadLetters
    endpoints: Callable[[str], Endpoints]
    """The destinations repository acting as the actor given."""
    replayer: Callable[[str], Replayer]
    """The DLQ replay engine acting as the actor given."""
    replays: Replays
    """Replays run in the background of this process."""
    health: HealthChecks
    """The proactive checks' latest results, shown on the destinations page."""


OpenResources = Callable[[], AbstractAsyncContextManager[ConsoleResources]]
_SCRAPE_TIMEOUT_S = 2.0
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def build_app(settings: Settings, open_resources: OpenResources) -> web.Application:
    app = web.Application(middlewares=[_headers, _problems, refuse_nul, refuse_nul_in_forms, guard])
    app.add_routes(
        [
            web.get("/health", _health),
            web.get("/metrics", _metrics),
            web.get("/", _home),
            web.get("/dashboard", _page),
            web.get("/dashboard/api/overview", _api),
            web.get("/console/sign-in", sign_in_page),
            web.post("/console/sign-in", sign_in),
            web.post("/console/sign-out", sign_out),
            web.get("/console/events", find_event),
            web.get("/console/events/{event_id}", event_page),
            web.post("/console/events/{event_id}/retry", retry),
            web.get("/console/dead-letters", dead_letters_page),
            web.get("/console/dead-letters/replay", dry_run),
            web.post("/console/dead-letters/replay", replay),
            web.post("/console/replays/{replay_id}/resume", resume_replay),
            web.get("/console/destinations", destinations_page),
            web.post("/console/destinations/pause", pause),
            web.post("/console/destinations/resume", resume),
        ]
    )
    app.cleanup_ctx.append(partial(_open, settings, open_resources))
    return app


async def _open(settings: Settings, open_resources: OpenResources, app: web.Application) -> AsyncIterator[None]:
    sla = DeliverySla(settings.dashboard_sla_p95_ms, settings.dashboard_sla_success_rate)
    timeout = aiohttp.ClientTimeout(total=_SCRAPE_TIMEOUT_S)
    async with open_resources() as resources, aiohttp.ClientSession(timeout=timeout) as session:
        gather = Gather(resources.stats, resources.lag, session, worker_addresses(settings), sla)
        app[STATE] = ConsoleState(
            gather=gather,
            sessions=resources.sessions,
            principal=resources.principal,
            history=resources.history,
            trail=resources.trail,
            dead_letters=resources.dead_letters,
            endpoints=resources.endpoints,
            replayer=resources.replayer,
            replays=resources.replays,
            health=resources.health,
            # Browsers keep Secure cookies from http://127.0.0.1 and localhost too; anywhere else
            # the console is meant to be behind TLS.
            secure_cookies=not on_loopback(settings.dashboard_host),
        )
        yield


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(_HEADERS)
        raise
    response.headers.update(_HEADERS)
    return response


@web.middleware
async def _problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Our errors and aiohttp's (an unknown path, a wrong method) as problem+json; PostgreSQL away
    (sessions, keys and history live there) is a 503."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response()
    except (ServiceUnreachableError, StoreError) as exc:
        detail = f"PostgreSQL, which holds sign-ins and the delivery history, failed: {error_name(exc)}"
        return Problem(503, "store-unavailable", "Store unavailable", detail).response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return status_problem(exc).response()


async def _health(_: web.Request) -> web.Response:
    return json_response(200, {"status": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    """This process's metrics: the consumer groups' lag, read from Kafka at each scrape."""
    body, content_type = await consumer_lag_exposition(request.app[STATE].gather.lag)
    return web.Response(body=body, headers={"Content-Type": content_type})


async def _home(_: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard")


async def _overview(request: web.Request) -> dict[str, object]:
    operator = request[OPERATOR]
    readings = await request.app[STATE].gather.readings()
    return overview(seen_by(readings, None if operator.may("admin") else operator.tenant_id))


async def _page(request: web.Request) -> web.Response:
    return respond(request, "Overview", render(await _overview(request)), refresh_s=REFRESH_S)


async def _api(request: web.Request) -> web.Response:
    return json_response(200, await _overview(request))
