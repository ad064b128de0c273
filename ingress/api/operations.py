"""Operations endpoints: liveness, dependency health with latencies, status, Prometheus metrics."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

from aiohttp import web

from connectors.kafka.schema_registry import check_registry
from infra.core.metrics import exposition
from infra.db.errors import error_name
from ingress.api.openapi import DOCS_PAGE, document
from ingress.api.state import STATE, IngressState
from ingress.http.bodies import json_response
from streams.probes import summary as probe_summary

_CHECK_TIMEOUT_S = 2.0


async def health(_: web.Request) -> web.Response:
    """Liveness: the process answers. Dependencies are /health/detailed's business."""
    return json_response(200, {"status": "ok"})


async def _timed(check: Callable[[], Awaitable[object]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout=_CHECK_TIMEOUT_S + 0.5)
    except Exception as exc:  # noqa: BLE001 - any failure is "down"; the class says which
        outcome: dict[str, Any] = {"status": "down", "error": error_name(exc)}
    else:
        outcome = {"status": "up"}
    return outcome | {"latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def _postgres(state: IngressState) -> None:
    await asyncio.to_thread(state.ping_database)


async def _registry(state: IngressState) -> None:
    await asyncio.to_thread(check_registry, state.settings, _CHECK_TIMEOUT_S)


async def health_detailed(request: web.Request) -> web.Response:
    state = request.app[STATE]
    checks: dict[str, Callable[[], Awaitable[object]]] = {
        "kafka": lambda: state.producer.ping(_CHECK_TIMEOUT_S),
        "postgres": lambda: _postgres(state),
    }
    registry_url = state.settings.schema_registry_url
    if registry_url:
        checks["schema_registry"] = lambda: _registry(state)
    results = dict(zip(checks, await asyncio.gather(*(_timed(c) for c in checks.values())), strict=True))
    if not registry_url:
        results["schema_registry"] = {"status": "not_configured", "ids_from": "schemas/avro/ids.yaml"}
    healthy = all(r["status"] != "down" for r in results.values())
    body = {"status": "up" if healthy else "degraded", "checks": results, **await _probes(state)}
    return json_response(200 if healthy else 503, body)


async def _probes(state: IngressState) -> dict[str, Any]:
    """The proactive checks' latest results, counted per kind: they describe the destinations, not
    this process, so they never make it unhealthy. PostgreSQL away: no figures, said so."""
    try:
        rows = await asyncio.wait_for(asyncio.to_thread(state.health_checks), timeout=_CHECK_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - already reported under checks.postgres
        return {"destinations": {"status": "unknown", "error": error_name(exc)}}
    return probe_summary(rows)


async def status(request: web.Request) -> web.Response:
    state = request.app[STATE]
    lanes = state.publisher.lanes
    return json_response(
        200,
        {
            "service": "crmbus-ingress",
            "version": version("crmbus"),
            "pid": os.getpid(),
            "workers": state.settings.ingress_workers,
            "lanes": {
                "high": {"topic": lanes.topics[0], "types": sorted(lanes.high_types)},
                "default": {"topic": lanes.topics[1]},
                "low": {"topic": lanes.topics[2], "types": sorted(lanes.low_types)},
            },
            "producer_queue": state.producer.queued,
        },
    )


async def metrics(_: web.Request) -> web.Response:
    body, content_type = exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def openapi(request: web.Request) -> web.Response:
    return json_response(200, document(request.app[STATE].settings.ingress_batch_max))


async def docs(_: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/openapi.json", openapi),
        web.get("/docs", docs),
        web.get("/health", health),
        web.get("/health/detailed", health_detailed),
        web.get("/status", status),
        web.get("/metrics", metrics),
    ]
