"""Who may see the dashboard: anyone on this machine when it listens on loopback; elsewhere only
who presents ``CRMBUS_DASHBOARD_TOKEN``, as a Bearer token (scripts) or as the password of HTTP
Basic (browsers ask for it themselves; the user name is ignored).

The page shows no personal data, but tenant ids, destinations and the bus's weak spots are still
nobody else's business.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import SecretStr

from streams.errors import ConfigurationError

MIN_TOKEN_LENGTH = 16
OPEN_PATHS = frozenset({"/health"})
"""Says only that the process answers: ``crmbus up`` waits on it."""


def on_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: SecretStr | None) -> None:
    """Refuse to serve off loopback without a token, and with a token too short to be one."""
    if token is None:
        if not on_loopback(host):
            raise ConfigurationError(
                f"the dashboard would listen on {host} without CRMBUS_DASHBOARD_TOKEN: set a token, or keep "
                "CRMBUS_DASHBOARD_HOST on loopback"
            )
        return
    if len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
        raise ConfigurationError(f"CRMBUS_DASHBOARD_TOKEN must have at least {MIN_TOKEN_LENGTH} characters")


def presented(authorization: str) -> str | None:
    """The token in an ``Authorization`` header: Bearer, or Basic's password."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def require_token(token: SecretStr) -> Middleware:
    expected = token.get_secret_value().encode()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        given = presented(request.headers.get("Authorization", ""))
        if given is None or not hmac.compare_digest(given.encode(), expected):
            return web.Response(
                status=401,
                text="the crmbus dashboard needs its token\n",
                headers={"WWW-Authenticate": 'Basic realm="crmbus dashboard", charset="UTF-8"'},
            )
        return await handler(request)

    return guard
