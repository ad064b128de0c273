"""The e-mail one delivery becomes: an RFC 5322 message built from a rendered template.

- UTF-8 throughout: bodies as quoted-printable (7-bit clean, so no server needs 8BITMIME),
  non-ASCII headers RFC 2047-encoded by ``email.policy.SMTP``, lines ending in CRLF.
- ``Message-ID: <delivery id@sender's domain>`` and ``X-Crmbus-Delivery-Id``: a retried send
  carries the same ids as the first attempt, so a mailbox, a provider's log or a support person
  can tell a repeat from a second message. SMTP itself has no idempotency key; this is the
  nearest thing.
- Addresses are checked here rather than by the server: an address we cannot write is a
  permanent error that names the field, never the address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from streams.email_templates import RenderedEmail
from streams.errors import ConfigurationError, PermanentDeliveryError

DELIVERY_ID_HEADER = "X-Crmbus-Delivery-Id"

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# An addr-spec we send to without SMTPUTF8: an ASCII dot-atom of at most 64 characters, a dotted domain.
_ADDRESS = re.compile(rf"(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_DELIVERY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def is_address(text: str) -> bool:
    """``text`` is an ASCII e-mail address (``local@domain.tld``) of at most 254 characters."""
    return len(text) <= 254 and _ADDRESS.fullmatch(text) is not None


def is_host_name(text: str) -> bool:
    """``text`` is a DNS host name (``mail.example.com.br``), as EHLO takes it."""
    return len(text) <= 253 and _HOST_NAME.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Sender:
    """Who the e-mail is from (``From:``, and the envelope sender)."""

    address: str
    name: str | None = None

    def __post_init__(self) -> None:
        if not is_address(self.address):
            raise ConfigurationError("sender must be an ASCII e-mail address such as atendimento@example.com.br")
        if self.name is not None and (not self.name.strip() or _CONTROL.search(self.name)):
            raise ConfigurationError("sender_name must be non-empty text on one line, without control characters")

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def message_id(delivery_id: str, domain: str) -> str:
    """``<delivery id@domain>``: the same on every attempt of one delivery."""
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise PermanentDeliveryError("the delivery id cannot be written as a Message-ID")
    return f"<{delivery_id}@{domain}>"


def build_message(
    rendered: RenderedEmail, *, sender: Sender, recipient: str, delivery_id: str, now: datetime
) -> EmailMessage:
    """The message for one delivery; PermanentDeliveryError if the recipient is not an address."""
    if not is_address(recipient):
        raise PermanentDeliveryError("email.send_template: 'to' is not an e-mail address crmbus can send to")
    message = EmailMessage(policy=SMTP)
    local, _, domain = sender.address.rpartition("@")
    message["From"] = Address(sender.name or "", local, domain)
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(delivery_id, sender.domain)
    message[DELIVERY_ID_HEADER] = delivery_id
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if rendered.html is not None:
        message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message
