"""The HTTP client every destination connector sends through: pooled, bounded, guarded, and quiet.

aiohttp rather than httpx: measured on this machine (see the connectors' commit), aiohttp spends
several times less CPU per request, and a sink worker is CPU-bound long before the network is.

``HttpClients`` owns one ``ClientSession`` per destination endpoint, so a slow CRM's pool never
holds back a WhatsApp provider's, and one ``close()`` ends them all. Each session:

- keeps connections alive, at most ``limit_per_host`` of them (endpoint config ``max_connections``);
- never follows redirects: a 3xx is an answer to classify (``streams.http_outcome``), not an
  invitation to call a host the SSRF guard never saw;
- resolves through ``GuardedResolver``, so every address is judged when the socket opens;
- ignores proxy variables and cookies: neither belongs in server-to-server calls made for tenants.

A response body is read up to ``body_cap_bytes`` (more is cut, not an error) and kept as a
500-character excerpt, with a few headers known to carry no personal data. The excerpt itself may
echo what we sent; whoever stores it decides. aiohttp's exceptions end here, turned into
``TransientDeliveryError`` with messages that name no URL (a Z-API URL carries a token).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from yarl import URL

from connectors.ssrf import GuardedResolver, OutboundPolicy
from streams.errors import (
    ConfigurationError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UnsafeDestinationError,
)

USER_AGENT = f"crmbus/{version('crmbus')}"
BODY_CAP_BYTES = 64 * 1024
EXCERPT_CHARS = 500
SAFE_HEADERS = ("content-type", "retry-after", "x-request-id", "request-id", "x-correlation-id")
"""Response headers kept for the delivery log: none of them carries personal data or a credential."""


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
        raise ConfigurationError(f"timeouts.{what} must be a number of seconds in (0, 300]")
    return float(value)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long one request may take: to open the socket, between reads, and in all."""

    connect_s: float = 3.0
    read_s: float = 10.0
    total_s: float = 15.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Timeouts:
        """Endpoint config ``{"timeouts": {"connect": 3, "read": 10, "total": 15}}``; each key optional."""
        given = config.get("timeouts") or {}
        if not isinstance(given, Mapping) or set(given) - {"connect", "read", "total"}:
            raise ConfigurationError("timeouts must be an object with connect, read and total seconds")
        defaults = cls()
        return cls(
            _seconds(given.get("connect", defaults.connect_s), "connect"),
            _seconds(given.get("read", defaults.read_s), "read"),
            _seconds(given.get("total", defaults.total_s), "total"),
        )

    def client_timeout(self) -> aiohttp.ClientTimeout:
        # sock_connect rather than connect: waiting for a free pooled connection is bounded by
        # total, and must not be mistaken for a destination that does not accept connections.
        return aiohttp.ClientTimeout(total=self.total_s, sock_connect=self.connect_s, sock_read=self.read_s)


@dataclass(frozen=True, slots=True)
class Response:
    """What a destination answered, reduced to what a delivery log may keep."""

    status: int
    headers: Mapping[str, str]
    excerpt: str
    latency_ms: float


def pool_size(config: Mapping[str, Any], default: int) -> int:
    """Endpoint config ``max_connections``: how many connections its pool may open at once."""
    size = config.get("max_connections", default)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 256:
        raise ConfigurationError("max_connections must be an integer from 1 to 256")
    return int(size)


class HttpClients:
    """One pooled session per endpoint, created on first use; use ``async with`` or ``await close()``."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        limit_per_host: int = 16,
        body_cap_bytes: int = BODY_CAP_BYTES,
        resolver_factory: Callable[[], AbstractResolver] = DefaultResolver,
    ) -> None:
        self.policy = policy
        self.limit_per_host = limit_per_host
        self._body_cap = body_cap_bytes
        self._resolver_factory = resolver_factory
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._resolvers: list[AbstractResolver] = []

    async def __aenter__(self) -> HttpClients:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    def _session(self, key: str, limit_per_host: int) -> aiohttp.ClientSession:
        session = self._sessions.get(key)
        if session is None:
            resolver = GuardedResolver(self._resolver_factory(), self.policy)
            self._resolvers.append(resolver)
            connector = aiohttp.TCPConnector(limit=limit_per_host, limit_per_host=limit_per_host, resolver=resolver)
            session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
            self._sessions[key] = session
        return session

    async def post(
        self,
        key: str,
        url: URL,
        *,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        label: str,
        limit_per_host: int | None = None,
    ) -> Response:
        """POST ``body`` through the pool named ``key``; ``label`` names the destination in errors.

        Returns whatever status came back; raises TransientDeliveryError when no answer did, and
        UnsafeDestinationError when the guard refused the address.
        """
        session = self._session(key, limit_per_host or self.limit_per_host)
        started = time.perf_counter()
        try:
            async with session.post(
                url, data=body, headers=headers, allow_redirects=False, timeout=timeouts.client_timeout()
            ) as answer:
                excerpt = await self._read_capped(answer)
                kept = {name: answer.headers[name] for name in SAFE_HEADERS if name in answer.headers}
                # Leaving the block with unread body closes this connection instead of reusing it.
        except UnsafeDestinationError:
            raise
        except aiohttp.InvalidURL:
            raise PermanentDeliveryError(f"{label}: the destination URL is invalid") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientDeliveryError(f"{label}: {_why(exc)}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        return Response(answer.status, kept, excerpt, latency_ms)

    async def _read_capped(self, answer: aiohttp.ClientResponse) -> str:
        chunks: list[bytes] = []
        size = 0
        while size < self._body_cap:
            chunk = await answer.content.read(self._body_cap - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", errors="replace")[:EXCERPT_CHARS]

    async def close(self) -> None:
        """Close every session and its resolver; a later request opens fresh ones."""
        sessions, self._sessions = list(self._sessions.values()), {}
        resolvers, self._resolvers = self._resolvers, []
        for session in sessions:
            await session.close()
        for resolver in resolvers:
            await resolver.close()


def _why(exc: BaseException) -> str:
    """A fixed phrase per failure: aiohttp's own messages may carry the URL."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "timed out connecting"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return "timed out waiting for data"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "the host name did not resolve"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "the TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "the connection was refused or the host is unreachable"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the response was cut off"
    if isinstance(exc, aiohttp.ClientOSError):
        return "the connection was reset"
    return f"the request failed ({type(exc).__name__})"
