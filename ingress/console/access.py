"""Who may use the console: an operator signed in with an API key holding ``deliveries:read``,
wherever the console listens.

The browser holds a session cookie (``HttpOnly; SameSite=Strict; Path=/``, and ``Secure`` off
loopback); every request reads the session and its key again, so a revoked key is out at its next
request. Every POST carries the session's CSRF token in a hidden field, compared in constant time:
without it the request is refused (403) before its handler runs. Scripts read the overview's JSON
with ``Authorization: Bearer <key>`` instead.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress

from aiohttp import web
from aiohttp.typedefs import Handler

from infra.db.console_sessions import Operator, SignedIn
from ingress.console.state import STATE
from ingress.http.problems import Problem, missing_scope
from streams.scopes import Scope

COOKIE = "crmbus_console"
CSRF_FIELD = "csrf"
READ: Scope = "deliveries:read"
"""What a key needs to sign in, or to read the overview as a script."""
SIGN_IN = "/console/sign-in"
OPEN_PATHS = frozenset({"/health", "/metrics", SIGN_IN})
"""``/health`` says only that the process answers (``crmbus up`` waits on it); ``/metrics`` is for
Prometheus, as the ingress's and workers' are (consumer groups and topics by name, no personal data)."""
API_PATH = "/dashboard/api/overview"
SIGNED_IN = web.RequestKey("signed_in", SignedIn)
OPERATOR = web.RequestKey("operator", Operator)


def on_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_token(given: object, expected: str) -> bool:
    """Whether a form's token is ``expected``, in constant time."""
    # A form's bytes that are not UTF-8 arrive as lone surrogates: compared as the bytes sent.
    return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, path: str = "/") -> None:
    secure = request.app[STATE].secure_cookies
    response.set_cookie(name, value, path=path, httponly=True, samesite="Strict", secure=secure)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    # An application mounted into the console (the admin API at /v1/) authenticates its own
    # requests, with an API key: no session, no form.
    if request.path in OPEN_PATHS or len(request.match_info.apps) > 1:
        return await handler(request)
    if request.path == API_PATH and "Authorization" in request.headers:
        request[OPERATOR] = await _bearer(request)
        return await handler(request)
    state = request.app[STATE]
    session_id = request.cookies.get(COOKIE)
    signed = await asyncio.to_thread(state.sessions.find, session_id) if session_id else None
    if signed is None or not signed.operator.may(READ):
        if request.method in ("GET", "HEAD") and request.path != API_PATH:
            response = web.HTTPSeeOther(SIGN_IN)
            response.del_cookie(COOKIE, path="/")
            raise response
        return _refused(401, "sign in at /console/sign-in, or send 'Authorization: Bearer <key>'")
    if request.method == "POST":
        form = await request.post()
        if not same_token(form.get(CSRF_FIELD), signed.csrf_token):
            return _refused(403, "this form's CSRF token is missing or wrong: reload the page and try again")
    request[SIGNED_IN] = signed
    request[OPERATOR] = signed.operator
    return await handler(request)


async def _bearer(request: web.Request) -> Operator:
    scheme, _, secret = request.headers["Authorization"].partition(" ")
    state = request.app[STATE]
    principal = await asyncio.to_thread(state.principal, secret.strip()) if scheme.lower() == "bearer" else None
    operator = None if principal is None else await asyncio.to_thread(state.sessions.operator, principal.key_id)
    if operator is None:
        raise Problem(
            401, "unauthenticated", "Unauthenticated", "send a valid API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": 'Bearer realm="crmbus console"'},
        )  # fmt: skip
    if not operator.may(READ):
        raise missing_scope(READ)
    return operator


def _refused(status: int, detail: str) -> web.Response:
    title = "Unauthenticated" if status == 401 else "Forbidden"
    return Problem(status, title.lower(), title, detail).response()
