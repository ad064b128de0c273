"""aiosmtplib's and the socket's exceptions, turned into ``streams`` delivery errors at one boundary.

    reply 4xx (421 busy, 450 mailbox busy, 451 local error, 452 full, 454 auth unavailable)
        → TransientDeliveryError(status=code)
    reply 5xx (530 TLS needed, 535 auth failed, 550 no such user, 552 too big, 554 refused)
        → PermanentDeliveryError(status=code)
    timeouts, refused / reset / closed connections, failed TLS handshakes
        → TransientDeliveryError
    the server lacks what the destination requires (STARTTLS, AUTH) → PermanentDeliveryError

Messages say which step failed, the reply code and its enhanced status code (``5.1.1``), never
the server's text: a reply often quotes the recipient (``<ana@...>: Recipient address rejected``).
"""

from __future__ import annotations

import re
import socket
import ssl
from typing import Literal

import aiosmtplib

from streams.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

Step = Literal["connect", "starttls", "login", "mail", "rcpt", "data"]

_DOING: dict[Step, str] = {
    "connect": "connecting",
    "starttls": "STARTTLS",
    "login": "logging in",
    "mail": "the sender (MAIL FROM)",
    "rcpt": "the recipient (RCPT TO)",
    "data": "the message (DATA)",
}
_LACKS: dict[Step, str] = {
    "starttls": "the server does not offer STARTTLS, and this destination does not send in clear",
    "login": "the server offers no authentication method crmbus can use (AUTH CRAM-MD5, PLAIN or LOGIN)",
}
_ENHANCED = re.compile(r"([245]\.\d{1,3}\.\d{1,3})\b")


def delivery_error(exc: BaseException, step: Step, label: str) -> DeliveryError:
    """The delivery error ``exc`` means when it ended ``step``; ``label`` names the destination."""
    if isinstance(exc, DeliveryError):
        return exc
    doing = _DOING[step]
    if isinstance(exc, aiosmtplib.SMTPResponseException) and 400 <= exc.code < 600:
        enhanced = _ENHANCED.match(exc.message or "")
        code = f"{exc.code} {enhanced.group(1)}" if enhanced else str(exc.code)
        error = TransientDeliveryError if exc.code < 500 else PermanentDeliveryError
        return error(f"{label}: the server answered {code} to {doing}", status=exc.code)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return TransientDeliveryError(f"{label}: the server gave an unexpected reply to {doing}")
    if isinstance(exc, TimeoutError):
        return TransientDeliveryError(f"{label}: timed out {_during(step)}")
    if isinstance(exc, socket.gaierror):
        return TransientDeliveryError(f"{label}: the host name did not resolve")
    if isinstance(exc, ssl.SSLError):
        return TransientDeliveryError(f"{label}: the TLS handshake failed")
    if isinstance(exc, OSError):  # ConnectionError, and aiosmtplib's SMTPServerDisconnected with it
        return TransientDeliveryError(f"{label}: the connection was refused, reset or closed {_during(step)}")
    if isinstance(exc, aiosmtplib.SMTPException) and step in _LACKS:
        return PermanentDeliveryError(f"{label}: {_LACKS[step]}")
    return TransientDeliveryError(f"{label}: {doing} failed ({type(exc).__name__})")


def _during(step: Step) -> str:
    return "while connecting" if step == "connect" else f"at {_DOING[step]}"
