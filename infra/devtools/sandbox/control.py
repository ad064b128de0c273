"""The control API: how a test or a developer in another process drives a running sandbox.

    GET    /_control/health                  200 {"status": "ok"}
    POST   /_control/{system}/failures       204; body {"mode": "status"|"slow"|"reset"|"ok", ...}
    GET    /_control/{system}/requests       200 {"requests": [Received as JSON, "applied" included]}
    DELETE /_control/requests                204; forgets requests, idempotency keys and leads
    POST   /_control/{system}/sessions/{name} 204; body {"status": "WORKING"|"STOPPED"|"FAILED"|...}:
                                             a Z-API instance's or WAHA session's state (zapi, waha)
    POST   /_control/cuidadores/tokens       204; body {"lifetime_s": n}: Cuidadores' tokens issued from
                                             now on expire after n seconds (their expires_in)

Errors are 400 (a failure the sandbox cannot show) and 404 (no such system), in the systems'
error shape. Control requests are neither recorded nor failed.
"""

from __future__ import annotations

import json

from aiohttp import web

from infra.devtools.sandbox.contracts import SYSTEMS
from infra.devtools.sandbox.faults import Failure
from infra.devtools.sandbox.state import STATE
from streams.errors import ConfigurationError


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def _system(request: web.Request) -> str:
    system = request.match_info["system"]
    if system not in SYSTEMS:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "unknown_system", "message": f"the sandbox has {', '.join(SYSTEMS)}"}),
            content_type="application/json",
        )
    return system


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def set_failure(request: web.Request) -> web.Response:
    system = _system(request)
    try:
        failure = Failure.from_json(await request.json())
    except json.JSONDecodeError:
        return _error(400, "invalid_json", "the body must be JSON")
    except ConfigurationError as exc:
        return _error(400, "invalid_failure", str(exc))
    request.app[STATE].faults.set(system, failure)
    return web.Response(status=204)


async def set_session(request: web.Request) -> web.Response:
    system = _system(request)
    if system not in ("zapi", "waha"):
        return _error(400, "no_sessions", "only zapi and waha have sessions")
    try:
        body = await request.json()
        request.app[STATE].sessions.set(system, request.match_info["name"], body.get("status"))
    except json.JSONDecodeError:
        return _error(400, "invalid_json", "the body must be JSON")
    except (AttributeError, TypeError, ConfigurationError):
        return _error(400, "invalid_session", 'the body must be {"status": "<WAHA session status>"}')
    return web.Response(status=204)


async def set_token_lifetime(request: web.Request) -> web.Response:
    try:
        request.app[STATE].tokens.set_lifetime(float((await request.json())["lifetime_s"]))
    except json.JSONDecodeError:
        return _error(400, "invalid_json", "the body must be JSON")
    except (KeyError, TypeError, ValueError):
        return _error(400, "invalid_lifetime", 'the body must be {"lifetime_s": <seconds, at most 86400>}')
    return web.Response(status=204)


async def requests(request: web.Request) -> web.Response:
    received = request.app[STATE].journal.of(_system(request))
    return web.json_response({"requests": [one.to_json() for one in received]})


async def clear(request: web.Request) -> web.Response:
    request.app[STATE].clear()
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/_control/health", health),
        web.post("/_control/{system}/failures", set_failure),
        web.get("/_control/{system}/requests", requests),
        web.delete("/_control/requests", clear),
        web.post("/_control/{system}/sessions/{name}", set_session),
        web.post("/_control/cuidadores/tokens", set_token_lifetime),
    ]
