"""The REST systems' list endpoints (``contracts.LISTINGS``) and Cuidadores' token endpoint.

Both are recorded in the journal like the push actions (as ``<system>.list`` and
``cuidadores.token``, without credentials or form body) and fail when the system is told to, so a
test can count token requests and make a sync job's pull meet a 503.
"""

from __future__ import annotations

import base64
import binascii
import time
from functools import partial
from typing import Any

from aiohttp import web

from infra.devtools.sandbox.contracts import LISTINGS, SECRET_HEADERS, TOKEN_PATH, Listing, System
from infra.devtools.sandbox.journal import Received
from infra.devtools.sandbox.state import STATE, SandboxState
from infra.devtools.sandbox.systems import Answer, refusal, unauthorized


async def _list(listing: Listing, request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    answer = _failed(state, listing.system) or unauthorized(listing.auth, request.headers, state.tokens.live)
    if answer is None:
        status, body, headers = state.systems.records.page(listing.system, request.query, str(request.url))
        answer = Answer(status, body, headers)
    return _respond(state, request, listing.system, f"{listing.system}.list", answer)


async def _token(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    answer = _failed(state, "cuidadores")
    if answer is None:
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            answer = refusal(400, "unsupported_grant_type", "grant_type must be client_credentials")
        elif not _client_authenticated(request.headers.get("Authorization", ""), form):
            answer = refusal(401, "invalid_client", "the client id and secret are required")
        else:
            token, lifetime = state.tokens.issue()
            # Whole seconds as RFC 6749's examples give them; a test's sub-second lifetime as it is.
            expires_in = int(lifetime) if lifetime.is_integer() else lifetime
            answer = Answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": expires_in})
    return _respond(state, request, "cuidadores", "cuidadores.token", answer)


def _client_authenticated(authorization: str, form: Any) -> bool:
    """Any non-empty id and secret, by HTTP basic (RFC 6749 §2.3.1) or in the form."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
    else:
        client_id, secret = form.get("client_id") or "", form.get("client_secret") or ""
    return bool(client_id) and bool(secret)


def _failed(state: SandboxState, system: System) -> Answer | None:
    failure = state.faults.take(system)
    if failure is None or failure.status is None:
        return None  # slow and reset are shown by the push actions only
    retry_after = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
    return refusal(failure.status, "injected_failure", "the sandbox was told to fail", retry_after)


def _respond(state: SandboxState, request: web.Request, system: System, action: str, answer: Answer) -> web.Response:
    headers = {name: value for name, value in request.headers.items() if name.lower() not in SECRET_HEADERS}
    state.journal.record(
        Received(system=system, action=action, method=request.method, path=request.path, headers=headers, body=None,
                 idempotency_key=None, duplicate=False, status=answer.status, at=time.time())
    )  # fmt: skip
    return web.json_response(answer.body, status=answer.status, headers=answer.headers)


def routes() -> list[web.RouteDef]:
    return [
        *(web.get(listing.route, partial(_list, listing)) for listing in LISTINGS.values()),
        web.post(f"/cuidadores{TOKEN_PATH}", _token),
    ]
