"""The ingress application: routes, middlewares, and the state one process holds.

What it uses beyond itself (the producer, PostgreSQL) comes opened from the composition root,
``infra.cli.wiring``, which ``build_app`` receives as ``open_resources``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from aiohttp import web

from infra.core.collector import tune_for_streams
from infra.core.settings import Settings
from ingress.api import events, operations, webhooks
from ingress.api.auth import SignatureGuard
from ingress.api.state import STATE, IngressResources, IngressState
from ingress.http.credentials import CachedLookup, not_rotated_out
from ingress.http.limits import RequestLimits
from ingress.http.middleware import observe, problems, refuse_nul, single_credentials
from streams.rate_limit import Limit

OpenResources = Callable[[], AbstractAsyncContextManager[IngressResources]]


def build_app(settings: Settings, open_resources: OpenResources) -> web.Application:
    app = web.Application(
        middlewares=[observe, problems, single_credentials, refuse_nul],
        client_max_size=settings.ingress_max_body_bytes + 1,
    )
    app.add_routes([*events.routes(), *webhooks.routes(), *operations.routes()])
    app.cleanup_ctx.append(partial(_state, settings, open_resources))
    return app


async def _state(settings: Settings, open_resources: OpenResources, app: web.Application) -> AsyncIterator[None]:
    """Open the resources at start; at stop, close them (the producer flushes first)."""
    workers = settings.ingress_workers
    async with open_resources() as resources:
        app[STATE] = IngressState(
            settings=settings,
            producer=resources.producer,
            publisher=resources.publisher,
            types=resources.types,
            api_keys=CachedLookup(
                resources.principal,
                settings.api_key_cache_ttl_s,
                settings.api_key_cache_stale_s,
                still_valid=not_rotated_out,
            ),
            sources=CachedLookup(resources.source, settings.api_key_cache_ttl_s, settings.api_key_cache_stale_s),
            replays=SignatureGuard(resources.claim_signature, resources.release_signature),
            limits=RequestLimits(
                Limit(settings.rate_limit_tenant_per_s / workers, max(1.0, settings.rate_limit_tenant_burst / workers)),
                Limit(settings.rate_limit_key_per_s / workers, max(1.0, settings.rate_limit_key_burst / workers)),
            ),
            history=resources.history,
            ping_database=resources.ping_database,
            health_checks=resources.health_checks,
            session_event=resources.session_event,
        )
        # Everything built so far lives as long as the process: keep it out of the collector's
        # full passes, whose pauses over these objects showed up as tail latency, and collect
        # each request's young objects in larger, rarer passes.
        tune_for_streams()
        stop = asyncio.Event()
        refresher = asyncio.create_task(resources.types.run(until=stop), name="event-types")
        try:
            yield
        finally:
            stop.set()  # not a cancel: a refresh under way ends before the pool is disposed
            await refresher
