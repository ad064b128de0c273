"""The admin API's aiohttp application, mounted by the composition root at ``/v1/`` in the
``crmbus dashboard`` process (``infra.cli.wiring``): operators' surfaces share one process and
one port, apart from the producers' ingress, which scales per core and faces the public.

What it uses beyond itself (PostgreSQL) comes opened from the composition root as
``open_resources``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from aiohttp import web
from aiohttp.typedefs import Handler

from infra.control.replays import Replays
from infra.core.settings import Settings
from ingress.admin.background import BackgroundRuns
from ingress.admin.openapi import document
from ingress.admin.resources import OPERATIONS
from ingress.admin.state import STATE, AdminResources, AdminState
from ingress.admin.table import RATE_HEADERS, dispatcher
from ingress.http.bodies import json_response
from ingress.http.credentials import CachedLookup, not_rotated_out
from ingress.http.limits import RequestLimits
from ingress.http.middleware import observe, problems, refuse_nul, single_credentials
from streams.rate_limit import Limit

OpenResources = Callable[[], AbstractAsyncContextManager[AdminResources]]


def build_app(settings: Settings, open_resources: OpenResources) -> web.Application:
    """The admin API; its paths are relative to where it is mounted (``/v1/``)."""
    app = web.Application(middlewares=[observe, _rate_headers, problems, single_credentials, refuse_nul])
    spec = document(OPERATIONS)
    routes = [web.route(op.method, _pattern(op.path), dispatcher(op), name=op.operation_id) for op in OPERATIONS]

    async def openapi(_: web.Request) -> web.Response:
        return json_response(200, spec)

    app.add_routes([web.get("/openapi.json", openapi), *routes])
    app.cleanup_ctx.append(partial(_state, settings, open_resources))
    return app


def _pattern(path: str) -> str:
    """The router's pattern of an operation's path: a dead letter's id is a number, so that
    ``/dead-letters/discard`` is never taken for one."""
    return path.replace("{letter_id}", "{letter_id:[0-9]+}")


@web.middleware
async def _rate_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The caller's RateLimit-* headers on every answer, errors included, once its key is known."""
    response = await handler(request)
    response.headers.update(request.get(RATE_HEADERS, {}))
    return response


async def _state(settings: Settings, open_resources: OpenResources, app: web.Application) -> AsyncIterator[None]:
    async with open_resources() as resources:
        app[STATE] = AdminState(
            settings=settings,
            api_keys=CachedLookup(
                resources.principal,
                settings.api_key_cache_ttl_s,
                settings.api_key_cache_stale_s,
                still_valid=not_rotated_out,
            ),
            limits=RequestLimits(None, Limit(settings.admin_rate_limit_per_s, settings.admin_rate_limit_burst)),
            repositories=resources.repositories,
            requests=resources.requests,
            replays=Replays(resources.replayer),
            event_replayer=resources.event_replayer,
            decode=resources.decode,
            job_runs=resources.job_runs,
            sync_runs=BackgroundRuns(resources.run_sync),
        )
        try:
            yield
        finally:
            await app[STATE].sync_runs.close()
            await app[STATE].replays.close()
