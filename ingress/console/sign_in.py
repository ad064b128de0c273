"""Signing in with an API key, and out.

The sign-in form has no session to take a CSRF token from, so it carries one of its own, which a
cookie of the form's path must match (a site that cannot read our cookies cannot sign a browser
in with its own key). The key is checked like the events API checks it; a key without
``deliveries:read`` (a producer's) is refused.
"""

from __future__ import annotations

import asyncio
import secrets

from aiohttp import web

from ingress.console.access import COOKIE, CSRF_FIELD, READ, SIGN_IN, same_token, set_cookie
from ingress.console.layout import e, redirect, respond
from ingress.console.state import STATE

FORM_COOKIE = "crmbus_console_sign_in"
HOME = "/dashboard"


async def sign_in_page(request: web.Request) -> web.Response:
    return _form(request, "", 200)


async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    expected = request.cookies.get(FORM_COOKIE)
    if not expected or not same_token(form.get(CSRF_FIELD), expected):
        return _form(request, "This form has expired: sign in again.", 403)
    state = request.app[STATE]
    key = form.get("api_key")
    principal = await asyncio.to_thread(state.principal, key.strip()) if isinstance(key, str) else None
    operator = None if principal is None else await asyncio.to_thread(state.sessions.operator, principal.key_id)
    if operator is None:
        return _form(request, "That API key is not valid (unknown, revoked or expired).", 401)
    if not operator.may(READ):
        return _form(
            request,
            f"That key may not use the console: it needs the scope {READ} (role viewer, operator or admin).",
            403,
        )
    await asyncio.to_thread(state.sessions.prune)  # sessions never come back to be ended at their next request
    session_id = await asyncio.to_thread(state.sessions.open, operator.key_id)
    response = redirect(request, HOME, "Signed in.")
    set_cookie(response, request, COOKIE, session_id)
    response.del_cookie(FORM_COOKIE, path=SIGN_IN)
    raise response


async def sign_out(request: web.Request) -> web.StreamResponse:
    session_id = request.cookies.get(COOKIE)
    if session_id:
        await asyncio.to_thread(request.app[STATE].sessions.close, session_id)
    response = redirect(request, SIGN_IN, "Signed out.")
    response.del_cookie(COOKIE, path="/")
    raise response


def _form(request: web.Request, problem: str, status: int) -> web.Response:
    token = secrets.token_urlsafe(32)
    shown = f"<div class='banner bad' role=alert>{e(problem)}</div>" if problem else ""
    body = (
        f"<h1>Sign in</h1>{shown}"
        f"<form method=post action={SIGN_IN}><input type=hidden name={CSRF_FIELD} value='{e(token)}'>"
        "<label>API key <input type=password name=api_key autocomplete=off size=60 required></label> "
        "<button type=submit>Sign in</button></form>"
        "<p class=muted>A key with the scope <code>deliveries:read</code>: "
        "<code>crmbus apikeys create --tenant T --name me --role operator</code> (or <code>--role viewer</code> "
        "to look only).</p>"
    )
    response = respond(request, "Sign in", body, status=status)
    set_cookie(response, request, FORM_COOKIE, token, path=SIGN_IN)
    return response
