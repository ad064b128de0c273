"""SMTP transport for e-mail destinations: guarded connections, kept open in a small pool per endpoint.

``SmtpServer`` is where and how to connect, read from a destination's URL and config:

    smtp://host[:port]    STARTTLS, required (default port 587): a server that does not offer it
                          gets nothing, rather than the message in clear
    smtps://host[:port]   TLS from the first byte (default port 465)
    config "tls": "none"  no TLS at all: only to a loopback host, and only with
                          CRMBUS_OUTBOUND_ALLOW_LOOPBACK (tests, a local relay)

Certificates are verified against the system's CAs and the host name. ``username`` in the config
turns on AUTH, with the destination's sealed secret as the password; the password is never
logged nor part of a repr.

The SSRF guard is the HTTP client's (``connectors.ssrf``): the host name is resolved here, every
address it yields is judged before a socket opens, and the socket goes to a judged address
(while TLS still verifies the name), so DNS rebinding finds no gap between check and connect.

``SmtpPool`` keeps at most ``max_connections`` connections per endpoint (config, default 2),
reused while idle for less than ``IDLE_S`` and for up to ``MESSAGES_PER_CONNECTION`` messages. A
kept connection the server dropped is noticed before ``MAIL FROM`` is answered, and the message is
sent on a fresh one: nothing had been transmitted. Any other failure closes the connection. Waiting
for a free connection counts against the total timeout, as in the HTTP pools.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import aiosmtplib
from yarl import URL

from connectors.limits import Timeouts, pool_size
from connectors.smtp_errors import Step, delivery_error
from connectors.ssrf import IPAddress, OutboundPolicy, is_loopback_host, refusal
from streams.errors import ConfigurationError, TransientDeliveryError, UnsafeDestinationError

Tls = Literal["starttls", "implicit", "none"]
Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]

IDLE_S = 30.0
MESSAGES_PER_CONNECTION = 100
DEFAULT_CONNECTIONS = 2
_PORTS: Mapping[Tls, int] = {"starttls": 587, "implicit": 465, "none": 25}
_SCHEMES: Mapping[str, tuple[Tls, ...]] = {"smtp": ("starttls", "none"), "smtps": ("implicit",)}


def is_smtp_url(url: str) -> bool:
    """Whether ``url`` names an SMTP server (``smtp://`` or ``smtps://``) rather than an HTTP API."""
    return url.split(":", 1)[0].lower() in _SCHEMES


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to reach one SMTP server; equal settings share one pool."""

    host: str
    port: int
    tls: Tls
    local_hostname: str
    timeouts: Timeouts
    max_connections: int = DEFAULT_CONNECTIONS
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_destination(
        cls, url: str, config: Mapping[str, Any], secret: str | None, policy: OutboundPolicy, *, helo: str
    ) -> SmtpServer:
        """The server a destination names; ConfigurationError or UnsafeDestinationError if it cannot be."""
        try:
            parsed = URL(url)
        except (TypeError, ValueError):
            raise UnsafeDestinationError("the destination URL cannot be parsed") from None
        scheme, host = parsed.scheme.lower(), parsed.host
        if scheme not in _SCHEMES or not host:
            raise ConfigurationError("an SMTP destination's URL is smtp://host[:port] or smtps://host[:port]")
        if parsed.user or parsed.password:
            raise UnsafeDestinationError("the destination URL must not carry credentials; use the secret")
        if parsed.path not in ("", "/") or parsed.query_string or parsed.fragment:
            raise ConfigurationError("an SMTP destination's URL has no path, query or fragment")
        tls = config.get("tls", _SCHEMES[scheme][0])
        if tls not in _SCHEMES[scheme]:
            raise ConfigurationError(f"tls of an {scheme}:// destination is one of {', '.join(_SCHEMES[scheme])}")
        if tls == "none" and not (policy.allow_loopback and is_loopback_host(host)):
            raise UnsafeDestinationError(f"{host}: SMTP without TLS is only allowed to loopback, for tests")
        policy.check_host(host)
        username = config.get("username")
        if username is not None and (not isinstance(username, str) or not username):
            raise ConfigurationError("username must be non-empty text")
        if username and not secret:
            raise ConfigurationError("an SMTP destination with a username needs its password as the secret")
        return cls(
            host=host,
            port=parsed.explicit_port or _PORTS[tls],
            tls=tls,
            local_hostname=helo,
            timeouts=Timeouts.from_config(config),
            max_connections=pool_size(config, DEFAULT_CONNECTIONS),
            username=username,
            password=secret if username else None,
        )


def default_tls_context() -> ssl.SSLContext:
    """The system's CAs, host names checked, TLS 1.2 or newer."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to for a TCP connection."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _raise_as_delivery_error(exc: BaseException, step: Step, label: str) -> NoReturn:
    """Raise ``exc`` again as the delivery error it means at ``step``; a cancellation as it is."""
    error = delivery_error(exc, step, label) if isinstance(exc, Exception) else exc
    if error is exc:
        raise exc
    raise error from exc


@dataclass(slots=True)
class _Connection:
    client: aiosmtplib.SMTP
    used_at: float
    messages: int = 0


@dataclass(frozen=True, slots=True)
class Sent:
    """The server took the message: its reply to DATA and how long the whole send took."""

    code: int
    reply: str
    latency_ms: float


class SmtpPool:
    """At most ``server.max_connections`` open connections to one server, reused while fresh."""

    def __init__(
        self,
        server: SmtpServer,
        policy: OutboundPolicy,
        *,
        tls_context: Callable[[], ssl.SSLContext] = default_tls_context,
        resolve: Resolve = resolve_host,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self._policy, self._make_tls_context, self._resolve, self._clock = policy, tls_context, resolve, clock
        self._tls_context: ssl.SSLContext | None = None
        self._slots = asyncio.Semaphore(server.max_connections)
        self._idle: list[_Connection] = []
        self._retired = False

    async def send(self, sender: str, recipient: str, message: bytes, *, label: str) -> Sent:
        """One message to one recipient, within the total timeout; raises DeliveryError on failure."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.server.timeouts.total_s), self._slots:
                code, reply = await self._transaction(sender, recipient, message, label)
        except TimeoutError:
            raise TransientDeliveryError(f"{label}: timed out after {self.server.timeouts.total_s:g} s") from None
        return Sent(code, reply, (time.perf_counter() - started) * 1000)

    async def _transaction(self, sender: str, recipient: str, message: bytes, label: str) -> tuple[int, str]:
        connection = self._take_idle()
        kept = connection is not None
        step: Step = "connect"
        try:
            if connection is None:
                connection = await self._open(label)
            step = "mail"
            try:
                await connection.client.mail(sender)
            except aiosmtplib.SMTPServerDisconnected:
                if not kept:
                    raise
                # The server dropped the kept connection while it was idle; nothing was sent yet.
                connection.client.close()
                connection, step = None, "connect"
                connection = await self._open(label)
                step = "mail"
                await connection.client.mail(sender)
            step = "rcpt"
            await connection.client.rcpt(recipient)
            step = "data"
            answer = await connection.client.data(message)
        except BaseException as exc:  # noqa: BLE001 - closed, then raised again
            if connection is not None:
                connection.client.close()  # mid-transaction or broken: never reused
            _raise_as_delivery_error(exc, step, label)
        self._keep(connection)
        return answer.code, answer.message

    def _take_idle(self) -> _Connection | None:
        now = self._clock()
        while self._idle:
            connection = self._idle.pop()
            if connection.client.is_connected and now - connection.used_at < IDLE_S:
                return connection
            connection.client.close()
        return None

    def _keep(self, connection: _Connection) -> None:
        connection.messages += 1
        connection.used_at = self._clock()
        if self._retired or connection.messages >= MESSAGES_PER_CONNECTION:
            connection.client.close()
        else:
            self._idle.append(connection)

    async def _open(self, label: str) -> _Connection:
        server = self.server
        step: Step = "connect"
        sock: socket.socket | None = None
        client: aiosmtplib.SMTP | None = None
        try:
            sock = await self._socket()
            if self._tls_context is None:
                self._tls_context = self._make_tls_context()  # loading the CAs costs milliseconds
            context = self._tls_context
            client = aiosmtplib.SMTP(
                hostname=server.host,
                sock=sock,
                use_tls=server.tls == "implicit",
                start_tls=False,
                tls_context=context,
                local_hostname=server.local_hostname,
                timeout=server.timeouts.read_s,
            )
            await client.connect(timeout=server.timeouts.connect_s)
            if server.tls == "starttls":
                step = "starttls"
                await client.starttls(server_hostname=server.host, tls_context=context)
            if server.username is not None and server.password is not None:
                step = "login"
                await client.login(server.username, server.password)
        except BaseException as exc:  # noqa: BLE001 - closed, then raised again
            if client is not None:
                client.close()  # and with it the socket, which its transport owns
            elif sock is not None:
                sock.close()
            _raise_as_delivery_error(exc, step, label)
        return _Connection(client, self._clock())

    async def _socket(self) -> socket.socket:
        """A TCP socket connected to one of the host's judged addresses."""
        server = self.server
        async with asyncio.timeout(server.timeouts.connect_s):
            addresses = await self._resolve(server.host, server.port)
            for address in addresses:
                self._policy.check_address(address, server.host)
                if server.tls == "none" and refusal(address) != "loopback":
                    raise UnsafeDestinationError(f"{server.host}: SMTP without TLS is only allowed to loopback")
            failure: OSError = socket.gaierror("no address")
            for address in addresses:
                sock = socket.socket(socket.AF_INET6 if address.version == 6 else socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                try:
                    await asyncio.get_running_loop().sock_connect(sock, (str(address), server.port))
                except BaseException as exc:
                    sock.close()
                    if not isinstance(exc, OSError):
                        raise
                    failure = exc
                    continue
                return sock
        raise failure

    def retire(self) -> None:
        """Close the idle connections now and each busy one when its send ends (settings changed)."""
        self._retired = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.client.close()

    async def close(self) -> None:
        """Say QUIT on each idle connection (at most a second) and close them all."""
        self._retired = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(connection.client) for connection in idle))


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        async with asyncio.timeout(1.0):
            await client.quit()
    except (TimeoutError, aiosmtplib.SMTPException, OSError):
        pass
    client.close()


class SmtpPools:
    """One ``SmtpPool`` per endpoint, replaced when its settings change; ``close()`` ends them all."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        tls_context: Callable[[], ssl.SSLContext] = default_tls_context,
        resolve: Resolve = resolve_host,
    ) -> None:
        self.policy = policy
        self._tls_context, self._resolve = tls_context, resolve
        self._pools: dict[str, SmtpPool] = {}

    def pool(self, key: str, server: SmtpServer) -> SmtpPool:
        """The pool named ``key`` (the endpoint's id); settings unlike its pool's retire that pool."""
        found = self._pools.get(key)
        if found is not None and found.server == server:
            return found
        if found is not None:
            found.retire()
        made = self._pools[key] = SmtpPool(server, self.policy, tls_context=self._tls_context, resolve=self._resolve)
        return made

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(pool.close() for pool in pools))
