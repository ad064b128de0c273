"""The WhatsApp providers' health calls: Z-API's instance status and WAHA's session.

    GET /zapi/instances/{instance}/token/{token}/status   Client-Token required
        200 {"connected": bool, "error": str, "smartphoneConnected": bool}
    GET /waha/api/sessions/{session}                      X-Api-Key required
        200 {"name": session, "status": "WORKING" | "STOPPED" | "FAILED" | "SCAN_QR_CODE" | ...}

Every instance and session exists and is connected (WORKING) until a test says otherwise
(``Sandbox.session``, or ``POST /_control/{system}/sessions/{name}`` with ``{"status": ...}``).
A failure set on the system (``Sandbox.fail``, ``reset``) applies to these calls too, so a test
can make the provider itself unreachable. Health calls are not recorded in the journal: they act
on nothing.
"""

from __future__ import annotations

from aiohttp import web

from infra.devtools.sandbox.contracts import AUTH_HEADERS
from infra.devtools.sandbox.state import STATE, WORKING


async def _failed(request: web.Request, system: str) -> web.StreamResponse | None:
    """The failure set on ``system``, acted out; None when there is none."""
    failure = request.app[STATE].faults.take(system)
    if failure is None or failure.mode == "slow":
        return None
    if failure.mode == "reset":
        if request.transport is not None:
            request.transport.close()
        return web.Response()
    return web.json_response({"error": "injected_failure"}, status=failure.status or 503)


def _unauthorized(request: web.Request, header: str) -> web.Response | None:
    if request.headers.get(header, "").strip():
        return None
    return web.json_response({"error": "unauthorized", "message": f"the {header} header is required"}, status=401)


async def zapi_status(request: web.Request) -> web.StreamResponse:
    refused = await _failed(request, "zapi") or _unauthorized(request, AUTH_HEADERS["client-token"])
    if refused is not None:
        return refused
    connected = request.app[STATE].sessions.state("zapi", request.match_info["instance"]) == WORKING
    error = "" if connected else "You are not connected."
    return web.json_response({"connected": connected, "error": error, "smartphoneConnected": connected})


async def waha_session(request: web.Request) -> web.StreamResponse:
    refused = await _failed(request, "waha") or _unauthorized(request, AUTH_HEADERS["api-key"])
    if refused is not None:
        return refused
    name = request.match_info["session"]
    return web.json_response({"name": name, "status": request.app[STATE].sessions.state("waha", name)})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/zapi/instances/{instance}/token/{token}/status", zapi_status),
        web.get("/waha/api/sessions/{session}", waha_session),
    ]
