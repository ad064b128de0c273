"""The HTTP client every destination connector sends through: pooled, bounded, guarded, and quiet.

aiohttp rather than httpx: measured on this machine (see the connectors' commit), aiohttp spends
several times less CPU per request, and a sink worker is CPU-bound long before the network is.

``HttpClients`` owns one ``ClientSession`` per destination endpoint, so a slow CRM's pool never
holds back a WhatsApp provider's, and one ``close()`` ends them all, together with the SMTP
pools of e-mail destinations that send through an SMTP server (``smtp``, ``connectors.smtp``).
Each session:

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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import version
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from yarl import URL

from connectors.limits import Timeouts
from connectors.smtp import SmtpPools
from connectors.ssrf import GuardedResolver, OutboundPolicy
from streams.errors import (
    PermanentDeliveryError,
    TransientDeliveryError,
    UnsafeDestinationError,
)

USER_AGENT = f"crmbus/{version('crmbus')}"
BODY_CAP_BYTES = 64 * 1024
EXCERPT_CHARS = 500
SAFE_HEADERS = ("content-type", "retry-after", "x-request-id", "request-id", "x-correlation-id")
"""Response headers kept for the delivery log: none of them carries personal data or a credential."""
READ_HEADERS = (*SAFE_HEADERS, "link")
"""Response headers a GET's caller may read: the safe ones and ``link`` (RFC 8288 pagination)."""


@dataclass(frozen=True, slots=True)
class Response:
    """What a destination answered, reduced to what a delivery log may keep."""

    status: int
    headers: Mapping[str, str]
    excerpt: str
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Answer:
    """A GET's answer (a health call, a pull): its status, the headers a caller may read (those
    known to carry no personal data, and ``link`` for pagination) and its body text (cut at the cap)."""

    status: int
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


class HttpClients:
    """One pooled session per endpoint, created on first use; use ``async with`` or ``await close()``."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        limit_per_host: int = 16,
        body_cap_bytes: int = BODY_CAP_BYTES,
        resolver_factory: Callable[[], AbstractResolver] = DefaultResolver,
        smtp: SmtpPools | None = None,
    ) -> None:
        self.policy = policy
        self.smtp = smtp if smtp is not None else SmtpPools(policy)
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
        """POST ``body`` through the pool named ``key``: ``request`` with method POST."""
        return await self.request(
            "POST", key, url, body=body, headers=headers, timeouts=timeouts, label=label, limit_per_host=limit_per_host
        )

    async def request(
        self,
        method: str,
        key: str,
        url: URL,
        *,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        label: str,
        limit_per_host: int | None = None,
    ) -> Response:
        """Send ``body`` with ``method`` through the pool named ``key``; ``label`` names the
        destination in errors.

        Returns whatever status came back; raises TransientDeliveryError when no answer did, and
        UnsafeDestinationError when the guard refused the address.
        """
        session = self._session(key, limit_per_host or self.limit_per_host)
        started = time.perf_counter()
        with _no_answer_raises(label):
            async with session.request(
                method, url, data=body, headers=headers, allow_redirects=False, timeout=_client_timeout(timeouts)
            ) as answer:
                excerpt = await self._read_capped(answer)
                kept = {name: answer.headers[name] for name in SAFE_HEADERS if name in answer.headers}
                # Leaving the block with unread body closes this connection instead of reusing it.
        latency_ms = (time.perf_counter() - started) * 1000
        return Response(answer.status, kept, excerpt[:EXCERPT_CHARS], latency_ms)

    async def get(
        self,
        key: str,
        url: URL,
        *,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        label: str,
        body_cap_bytes: int | None = None,
    ) -> Answer:
        """GET ``url`` (a health call, a pull's page) through the pool named ``key``: its status,
        readable headers and body, read up to ``body_cap_bytes`` (default: the clients' cap).
        Raises as ``request`` does."""
        session = self._session(key, self.limit_per_host)
        with _no_answer_raises(label):
            async with session.get(
                url, headers=headers, allow_redirects=False, timeout=_client_timeout(timeouts)
            ) as answer:
                kept = {name: answer.headers[name] for name in READ_HEADERS if name in answer.headers}
                return Answer(answer.status, await self._read_capped(answer, body_cap_bytes), kept)

    async def _read_capped(self, answer: aiohttp.ClientResponse, cap: int | None = None) -> str:
        limit = cap or self._body_cap
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = await answer.content.read(limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", errors="replace")

    async def close(self) -> None:
        """Close every session, resolver and SMTP pool; a later request opens fresh ones."""
        sessions, self._sessions = list(self._sessions.values()), {}
        resolvers, self._resolvers = self._resolvers, []
        for session in sessions:
            await session.close()
        for resolver in resolvers:
            await resolver.close()
        await self.smtp.close()


@contextmanager
def _no_answer_raises(label: str) -> Iterator[None]:
    """Where no answer came back: a bad URL is permanent, a timeout or a connection error transient
    (the SSRF guard's refusal goes up as it is)."""
    try:
        yield
    except UnsafeDestinationError:
        raise
    except aiohttp.InvalidURL:
        raise PermanentDeliveryError(f"{label}: the destination URL is invalid") from None
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise TransientDeliveryError(f"{label}: {_why(exc)}") from exc


@lru_cache(maxsize=1024)  # one per distinct endpoint setting: building it per request showed in profiles
def _client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    # sock_connect rather than connect: waiting for a free pooled connection is bounded by
    # total, and must not be mistaken for a destination that does not accept connections.
    return aiohttp.ClientTimeout(total=timeouts.total_s, sock_connect=timeouts.connect_s, sock_read=timeouts.read_s)


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
