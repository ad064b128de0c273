"""A real SMTP server on loopback (aiosmtpd) that records what it gets and refuses on demand.

``FakeSmtp`` is the server's behaviour: it keeps each accepted message with its envelope and
the client's port (one port per connection), and answers a step (MAIL, RCPT, DATA) with a
chosen reply a number of times, or not at all until released. ``serving`` runs it on 127.0.0.1
in the current event loop; TLS, as STARTTLS or from the first byte, comes from ``LoopbackTls``
and AUTH from ``credentials``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any, Literal, cast

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.fakes.tls import LoopbackTls

Step = Literal["mail", "rcpt", "data"]
Security = Literal["none", "starttls", "implicit"]


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes
    client_port: int

    @property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, message_from_bytes(self.data, policy=default))


@dataclass
class _Refusal:
    step: Step
    reply: str
    times: int | None


@dataclass
class FakeSmtp:
    received: list[Mail] = field(default_factory=list)
    replies: list[tuple[Step, str]] = field(default_factory=list)
    """Every refusal answered, in order."""
    _refusals: list[_Refusal] = field(default_factory=list)
    _protocols: list[SMTP] = field(default_factory=list)
    _hung: set[Step] = field(default_factory=set)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def refuse(self, step: Step, reply: str, times: int | None = None) -> None:
        """Answer ``step`` with ``reply`` (e.g. ``451 4.3.0 Try again``) ``times`` times, or always."""
        self._refusals.append(_Refusal(step, reply, times))

    def hang(self, step: Step) -> None:
        """Never answer ``step`` until ``release()`` (or the server stops)."""
        self._hung.add(step)

    def release(self) -> None:
        self._released.set()

    @property
    def connections(self) -> int:
        """Connections that delivered at least one message."""
        return len({mail.client_port for mail in self.received})

    def drop_connections(self) -> None:
        """Close every open connection from the server's side, as an idle timeout would."""
        for protocol in self._protocols:
            if protocol.transport is not None:
                protocol.transport.close()

    async def _refusal(self, step: Step) -> str | None:
        if step in self._hung:
            await self._released.wait()
        for refusal in self._refusals:
            if refusal.step == step and (refusal.times is None or refusal.times > 0):
                if refusal.times is not None:
                    refusal.times -= 1
                self.replies.append((step, refusal.reply))
                return refusal.reply
        return None

    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        refused = await self._refusal("mail")
        if refused:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        refused = await self._refusal("rcpt")
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        refused = await self._refusal("data")
        if refused:
            return refused
        data = envelope.original_content or envelope.content
        self.received.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), data, session.peer[1]))
        return f"250 2.0.0 Ok: queued as Q{len(self.received)}"

    def protocol(self, security: Security, tls: LoopbackTls | None, credentials: tuple[str, str] | None) -> SMTP:
        def authenticate(server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == credentials
            return AuthResult(success=ok, handled=False)

        protocol = SMTP(
            self,
            hostname="fake-smtp.test",
            tls_context=tls.server_context() if security == "starttls" and tls else None,
            require_starttls=security == "starttls",
            # aiosmtpd knows TLS only from its own STARTTLS: with TLS from the first byte it must
            # offer AUTH without knowing, and so cannot insist on it either.
            auth_required=credentials is not None and security != "implicit",
            auth_require_tls=security != "implicit",
            authenticator=authenticate if credentials is not None else None,
            loop=asyncio.get_running_loop(),
        )
        self._protocols.append(protocol)
        return protocol


@contextlib.asynccontextmanager
async def serving(
    fake: FakeSmtp,
    security: Security = "none",
    *,
    tls: LoopbackTls | None = None,
    credentials: tuple[str, str] | None = None,
) -> AsyncIterator[int]:
    """``fake`` listening on 127.0.0.1 in this event loop; yields its port."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: fake.protocol(security, tls, credentials),
        "127.0.0.1",
        0,
        ssl=tls.server_context() if security == "implicit" and tls else None,
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        fake.release()
        fake.drop_connections()
        server.close()
        await server.wait_closed()
