"""A real OAuth2 authorization server and resource server on loopback, for the REST connector's tests.

``FakeOAuth2`` issues client-credentials tokens (RFC 6749 §4.4) that expire after ``lifetime_s``,
counts every token request, and serves ``/v1/...`` to bearers of a live token only (401 otherwise),
recording each call. It runs in the current event loop (``serving``) or in a thread of its own
(``in_thread``) for a worker in another process to call.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from aiohttp import web

from tests.fakes.loopback import serving_app

CLIENT_ID = "crmbus-client"
CLIENT_SECRET = "s3cret:with/odd&chars"


@dataclass(frozen=True)
class TokenRequest:
    client_auth: str
    scope: str | None
    previous_left_s: float | None
    """How long the last token issued before this request still had to live (None: no token yet)."""


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    token: str
    body: bytes
    idempotency_key: str | None


@dataclass
class FakeOAuth2:
    lifetime_s: float = 3600.0
    token_status: int | None = None
    """Answer token requests with this status (and an RFC 6749 error) instead of a token."""
    hold: asyncio.Event | None = None
    """Token requests wait for this before answering (set it to release them)."""
    token_requests: list[TokenRequest] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    refused: int = 0
    _tokens: dict[str, float] = field(default_factory=dict)
    _serial: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/oauth/token", self._token)
        app.router.add_route("*", "/v1/{tail:.*}", self._resource)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id, secret, client_auth = _client(request, form)
        with self._lock:
            left = max(self._tokens.values()) - time.monotonic() if self._tokens else None
            self.token_requests.append(TokenRequest(client_auth, _text(form.get("scope")), left))
        if self.hold is not None:
            await self.hold.wait()
        if self.token_status is not None:
            return web.json_response({"error": "invalid_client"}, status=self.token_status)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            return web.json_response({"error": "invalid_client"}, status=401)
        with self._lock:
            token = f"token-{next(self._serial)}"
            self._tokens[token] = time.monotonic() + self.lifetime_s
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime_s}
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    async def _resource(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        body = await request.read()
        with self._lock:
            live = scheme == "Bearer" and self._tokens.get(token, 0.0) > time.monotonic()
            if not live:
                self.refused += 1
            else:
                self.calls.append(
                    Call(request.method, request.raw_path, token, body, request.headers.get("Idempotency-Key"))
                )
        if not live:
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response({"ok": True})


def _client(request: web.Request, form: object) -> tuple[str | None, str | None, str]:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme == "Basic":
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
        return unquote_plus(client_id), unquote_plus(secret), "basic"
    get = getattr(form, "get")  # noqa: B009 - MultiDictProxy
    return _text(get("client_id")), _text(get("client_secret")), "body"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


@contextlib.asynccontextmanager
async def serving(fake: FakeOAuth2) -> AsyncIterator[str]:
    """Serve ``fake`` on 127.0.0.1 in this event loop; yields its base URL."""
    async with serving_app(fake.app()) as port:
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def in_thread(fake: FakeOAuth2) -> Iterator[str]:
    """Serve ``fake`` from a thread with its own event loop; yields its base URL."""
    loop = asyncio.new_event_loop()
    started: asyncio.Future[str] = loop.create_future()
    stop = asyncio.Event()

    async def run() -> None:
        async with serving(fake) as url:
            started.set_result(url)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    url = asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(started), 10), loop).result()
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
