"""How a REST connector authenticates: the headers each request carries, chosen by config ``auth``.

``auth_from(config, secret, clients)`` reads ``config["auth"]``; the secret (token, password, key)
is the endpoint's sealed secret, opened by the caller::

    {"type": "bearer"}                         Authorization: Bearer <secret>
    {"type": "basic", "username": "u"}         Authorization: Basic base64(u:<secret>)
    {"type": "api_key", "header": "X-Api-Key"} X-Api-Key: <secret>
    {"type": "none"}                           nothing
    {"type": "oauth2_client_credentials",      Authorization: Bearer <token fetched from token_url>
     "token_url": "https://…/oauth/token",     (absolute, or a path under the endpoint's base URL)
     "client_id": "id", "scope": "a b",        scope optional
     "client_auth": "basic" | "body"}          how the client secret travels; basic by default

OAuth2 client credentials (RFC 6749 §4.4) POSTs ``grant_type=client_credentials`` to the token URL
through the same ``HttpClients`` as the deliveries (so the SSRF guard judges it too), keeps the token
until shortly before ``expires_in`` ends (``EXPIRY_SKEW``), and asks for one token at a time: callers
that need one while a request is in flight wait for its answer instead of asking again.

A caller that gets a 401 calls ``invalidate(sent)`` with the headers that call carried: a token it
carried is fetched anew on the next ``headers()`` (a newer one is kept); static credentials have
nothing to refresh.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote_plus, urlencode

import orjson
from yarl import URL

from connectors.http import HttpClients
from connectors.limits import Timeouts
from streams.errors import ConfigurationError, PermanentDeliveryError, TransientDeliveryError

EXPIRY_SKEW = 0.1
"""A token is renewed when this share of its lifetime is left (at least ``MIN_SKEW_S``, at most
``MAX_SKEW_S``): a request sent just before expiry must not arrive just after it."""
MIN_SKEW_S = 1.0
MAX_SKEW_S = 30.0
DEFAULT_LIFETIME_S = 300.0
"""How long a token without ``expires_in`` is kept (RFC 6749 makes the field optional)."""


class Auth(Protocol):
    """The credentials of one REST endpoint."""

    async def headers(self) -> Mapping[str, str]:
        """The headers to add to a request."""
        ...

    async def invalidate(self, sent: Mapping[str, str] | None = None) -> None:
        """Forget fetched credentials after a 401: the next ``headers()`` fetches anew. ``sent``,
        the headers the refused call carried, keeps credentials fetched since then."""
        ...


@dataclass(frozen=True, slots=True)
class StaticAuth:
    """Credentials that never change between requests (a token, a password, a key, or none)."""

    fixed: Mapping[str, str]

    async def headers(self) -> Mapping[str, str]:
        return self.fixed

    async def invalidate(self, sent: Mapping[str, str] | None = None) -> None:
        return None


class ClientCredentials:
    """An OAuth2 client-credentials token, fetched when needed and kept until shortly before it expires."""

    def __init__(
        self,
        *,
        token_url: URL,
        client_id: str,
        client_secret: str,
        scope: str | None,
        client_auth: str,
        clients: HttpClients,
        timeouts: Timeouts,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = token_url
        self._client_id, self._client_secret = client_id, client_secret
        self._scope, self._client_auth = scope, client_auth
        self._clients, self._timeouts, self._clock = clients, timeouts, clock
        self._pool = f"oauth2:{token_url}"
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    async def headers(self) -> Mapping[str, str]:
        token = self._current()
        if token is None:
            async with self._lock:
                # Whoever held the lock before us may have fetched it already.
                token = self._current() or await self._fetch()
        return {"Authorization": f"Bearer {token}"}

    async def invalidate(self, sent: Mapping[str, str] | None = None) -> None:
        # Calls that went out together with one token report its 401 one after another: only
        # the first drops it, the others find a newer token and keep it.
        if sent is None or sent.get("Authorization") == f"Bearer {self._token}":
            self._token = None

    def _current(self) -> str | None:
        return self._token if self._token is not None and self._clock() < self._renew_at else None

    async def _fetch(self) -> str:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if self._client_auth == "basic":
            # RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined.
            pair = f"{quote_plus(self._client_id)}:{quote_plus(self._client_secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form |= {"client_id": self._client_id, "client_secret": self._client_secret}
        asked_at = self._clock()
        answer = await self._clients.exchange(
            "POST", self._pool, self._url, body=urlencode(form).encode(), headers=headers,
            timeouts=self._timeouts, label="oauth2 token",
        )  # fmt: skip
        if answer.status >= 500 or answer.status in (408, 429):
            raise TransientDeliveryError(f"oauth2 token: the token endpoint answered {answer.status}")
        if not 200 <= answer.status <= 299:
            raise PermanentDeliveryError(
                f"oauth2 token: the token endpoint refused the client ({answer.status}{_error_code(answer.text)})"
            )
        token, lifetime = _token_of(answer.text)
        self._token = token
        self._renew_at = asked_at + lifetime - min(MAX_SKEW_S, max(MIN_SKEW_S, lifetime * EXPIRY_SKEW))
        return token


def _error_code(text: str) -> str:
    """RFC 6749 §5.2's ``error`` code (``invalid_client``…), which names no secret; nothing else of the body."""
    try:
        code = orjson.loads(text).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    return f", {code}" if isinstance(code, str) and code.isascii() and len(code) <= 64 else ""


def _token_of(text: str) -> tuple[str, float]:
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise TransientDeliveryError("oauth2 token: the token endpoint's answer is not JSON") from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise TransientDeliveryError("oauth2 token: the token endpoint's answer has no access_token")
    lifetime = body.get("expires_in", DEFAULT_LIFETIME_S)
    if isinstance(lifetime, str) and lifetime.isdigit():
        lifetime = int(lifetime)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        lifetime = DEFAULT_LIFETIME_S
    return token, float(lifetime)


def _token_url(given: Mapping[str, Any], base_url: URL | None, clients: HttpClients) -> URL:
    url = _text(given, "token_url")
    if url.startswith("/"):
        if base_url is None:
            raise ConfigurationError("auth.token_url must be absolute here")
        return base_url.with_path(base_url.raw_path.rstrip("/") + url, encoded=True)
    return clients.policy.check_url(url)


def _oauth2(
    given: Mapping[str, Any], config: Mapping[str, Any], secret: str | None, clients: HttpClients, base_url: URL | None
) -> ClientCredentials:
    client_auth = given.get("client_auth", "basic")
    if client_auth not in ("basic", "body"):
        raise ConfigurationError("auth.client_auth must be basic or body")
    scope = given.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise ConfigurationError("auth.scope must be text")
    return ClientCredentials(
        token_url=_token_url(given, base_url, clients),
        client_id=_text(given, "client_id"),
        client_secret=_secret(secret, "oauth2_client_credentials"),
        scope=scope,
        client_auth=client_auth,
        clients=clients,
        timeouts=Timeouts.from_config(config),
    )


def _text(given: Mapping[str, Any], name: str) -> str:
    value = given.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"auth.{name} must be non-empty text")
    return value


def _secret(secret: str | None, kind: str) -> str:
    if not secret:
        raise ConfigurationError(f"{kind} authentication needs the endpoint's secret")
    return secret


def auth_from(
    config: Mapping[str, Any], secret: str | None, clients: HttpClients, *, base_url: URL | None = None
) -> Auth:
    """The ``Auth`` that ``config["auth"]`` asks for; ConfigurationError names what is wrong.

    ``base_url`` (the endpoint's, already checked) resolves a token URL given as a path."""
    given = config.get("auth") or {"type": "none"}
    if not isinstance(given, Mapping):
        raise ConfigurationError("auth must be an object with a type")
    kind = given.get("type")
    if kind == "none":
        return StaticAuth({})
    if kind == "bearer":
        return StaticAuth({"Authorization": f"Bearer {_secret(secret, kind)}"})
    if kind == "basic":
        pair = f"{_text(given, 'username')}:{_secret(secret, kind)}".encode()
        return StaticAuth({"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")})
    if kind == "api_key":
        return StaticAuth({_text(given, "header"): _secret(secret, kind)})
    if kind == "oauth2_client_credentials":
        return _oauth2(given, config, secret, clients, base_url)
    raise ConfigurationError(
        f"auth.type must be one of none, bearer, basic, api_key, oauth2_client_credentials; got {kind!r}"
    )
