"""How a REST connector authenticates: the headers each request carries, chosen by config ``auth``.

``auth_from(config, secret, clients)`` reads ``config["auth"]``; the secret (token, password, key)
is the endpoint's sealed secret, opened by the caller::

    {"type": "bearer"}                         Authorization: Bearer <secret>
    {"type": "basic", "username": "u"}         Authorization: Basic base64(u:<secret>)
    {"type": "api_key", "header": "X-Api-Key"} X-Api-Key: <secret>
    {"type": "none"}                           nothing

A caller that gets a 401 calls ``invalidate()``: credentials that are fetched (tokens) are fetched
anew on the next ``headers()``; static ones have nothing to refresh.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.http import HttpClients
from streams.errors import ConfigurationError


class Auth(Protocol):
    """The credentials of one REST endpoint."""

    async def headers(self) -> Mapping[str, str]:
        """The headers to add to a request."""
        ...

    async def invalidate(self) -> None:
        """Forget fetched credentials after a 401: the next ``headers()`` fetches anew."""
        ...


@dataclass(frozen=True, slots=True)
class StaticAuth:
    """Credentials that never change between requests (a token, a password, a key, or none)."""

    fixed: Mapping[str, str]

    async def headers(self) -> Mapping[str, str]:
        return self.fixed

    async def invalidate(self) -> None:
        return None


def _text(given: Mapping[str, Any], name: str) -> str:
    value = given.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"auth.{name} must be non-empty text")
    return value


def _secret(secret: str | None, kind: str) -> str:
    if not secret:
        raise ConfigurationError(f"{kind} authentication needs the endpoint's secret")
    return secret


def auth_from(config: Mapping[str, Any], secret: str | None, clients: HttpClients) -> Auth:
    """The ``Auth`` that ``config["auth"]`` asks for; ConfigurationError names what is wrong."""
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
    raise ConfigurationError(f"auth.type must be one of none, bearer, basic, api_key; got {kind!r}")
