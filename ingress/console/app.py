"""The dashboard's aiohttp application (``crmbus dashboard`` runs it: ``infra.cli.runners``).

What it reads beyond itself (PostgreSQL, Kafka's consumer lag) comes opened from the composition
root, ``infra.cli.wiring``, which ``build_app`` receives as ``open_resources``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from connectors.kafka.lag import ConsumerLag
from infra.core.settings import Settings
from infra.db.delivery_stats import DeliveryStats
from ingress.console.access import check_exposure, require_token
from ingress.console.document import overview
from ingress.console.gather import Gather
from ingress.console.page import render
from ingress.console.workers import worker_addresses
from ingress.http.bodies import json_response
from streams.delivery_sla import DeliverySla


@dataclass(frozen=True, slots=True)
class ConsoleResources:
    """What the console reads beyond itself, opened by the composition root (``infra.cli.wiring``)."""

    stats: DeliveryStats
    lag: ConsumerLag


OpenResources = Callable[[], AbstractAsyncContextManager[ConsoleResources]]
GATHER = web.AppKey("gather", Gather)
_SCRAPE_TIMEOUT_S = 2.0
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def build_app(settings: Settings, open_resources: OpenResources) -> web.Application:
    """Raises ConfigurationError when the settings would expose it without a token."""
    check_exposure(settings.dashboard_host, settings.dashboard_token)
    middlewares: list[Middleware] = [_headers]
    if settings.dashboard_token is not None:
        middlewares.append(require_token(settings.dashboard_token))
    app = web.Application(middlewares=middlewares)
    app.add_routes(
        [
            web.get("/health", _health),
            web.get("/", _home),
            web.get("/dashboard", _page),
            web.get("/dashboard/api/overview", _api),
        ]
    )
    app.cleanup_ctx.append(partial(_gather, settings, open_resources))
    return app


async def _gather(settings: Settings, open_resources: OpenResources, app: web.Application) -> AsyncIterator[None]:
    sla = DeliverySla(settings.dashboard_sla_p95_ms, settings.dashboard_sla_success_rate)
    timeout = aiohttp.ClientTimeout(total=_SCRAPE_TIMEOUT_S)
    async with open_resources() as resources, aiohttp.ClientSession(timeout=timeout) as session:
        app[GATHER] = Gather(resources.stats, resources.lag, session, worker_addresses(settings), sla)
        yield


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.update(_HEADERS)
    return response


async def _health(_: web.Request) -> web.Response:
    return json_response(200, {"status": "ok"})


async def _home(_: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard")


async def _page(request: web.Request) -> web.Response:
    document = overview(await request.app[GATHER].readings())
    return web.Response(text=render(document), content_type="text/html")


async def _api(request: web.Request) -> web.Response:
    return json_response(200, overview(await request.app[GATHER].readings()))
