"""E-mail through an SMTP server: the e-mail destination kind, configured with an ``smtp://`` URL.

The route's payload is the one the e-mail HTTP API takes (``to``, ``template``, ``variables``);
here the template is rendered by crmbus (``streams.email_templates``) and the message built
(``streams.email_message``) and sent through the endpoint's SMTP pool (``connectors.smtp``).
Config, besides what every destination takes (``timeouts``, ``max_connections``, ``retry``…)::

    "sender": "atendimento@clinica.com.br"     From and envelope sender (required)
    "sender_name": "Clínica Exemplo"           display name in From (optional)
    "username": "apikey"                       log in, with the destination's secret as password
    "tls": "starttls" | "implicit" | "none"    see connectors.smtp; the URL's scheme sets the default
    "helo": "mail.clinica.com.br"              name given in EHLO (default: the sender's domain)
    "templates": {"<name>": {"subject", "text", "html"?}}   added to or replacing the seed ones

A server's ``250`` to DATA is the delivery's success; its reply (the provider's queue id) is
what the delivery log keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.destinations.base import Delivered, required_text
from connectors.destinations.email import template_params
from connectors.http import HttpClients
from connectors.smtp import SmtpServer
from streams.email_message import Sender, build_message, is_host_name
from streams.email_templates import compile_templates
from streams.errors import ConfigurationError, PermanentDeliveryError

ACTION = "email.send_template"
LABEL = "email (smtp)"


def _now() -> datetime:
    return datetime.now(UTC)


def sender_of(config: Mapping[str, Any]) -> Sender:
    """Config ``sender`` and ``sender_name``; ConfigurationError if they cannot head an e-mail."""
    address, name = config.get("sender"), config.get("sender_name")
    if not isinstance(address, str):
        raise ConfigurationError("an SMTP destination needs sender, the address its e-mails come from")
    if name is not None and not isinstance(name, str):
        raise ConfigurationError("sender_name must be text")
    return Sender(address, name)


def helo_of(config: Mapping[str, Any], sender: Sender) -> str:
    """Config ``helo``, the name crmbus gives in EHLO; the sender's domain by default."""
    helo = config.get("helo", sender.domain)
    if not isinstance(helo, str) or not is_host_name(helo):
        raise ConfigurationError("helo must be a host name such as mail.example.com.br")
    return helo


class SmtpEmailDestination:
    """An e-mail destination that speaks SMTP; built per configuration, sending through a shared pool."""

    kind = "email"

    def __init__(
        self,
        *,
        url: str,
        config: Mapping[str, Any],
        secret: str | None,
        client: HttpClients,
        endpoint_id: str | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._sender = sender_of(config)
        self._templates = compile_templates(config.get("templates"))
        server = SmtpServer.from_destination(
            url, config, secret, client.smtp.policy, helo=helo_of(config, self._sender)
        )
        self._pool = client.smtp.pool(endpoint_id or url, server)
        self._clock = clock

    def message(self, delivery_id: str, action: str, payload: Mapping[str, Any]) -> tuple[str, bytes]:
        """(recipient, message bytes) for a delivery; PermanentDeliveryError names what is missing."""
        if action != ACTION:
            raise PermanentDeliveryError(f"email destinations have no action {action!r}")
        recipient = required_text(action, payload, "to")
        name = required_text(action, payload, "template")
        template = self._templates.get(name)
        if template is None:
            raise PermanentDeliveryError(f"this SMTP destination has no template {name!r}; add it to its config")
        rendered = template.render(template_params(action, payload))
        message = build_message(
            rendered, sender=self._sender, recipient=recipient, delivery_id=delivery_id, now=self._clock()
        )
        return recipient, bytes(message)

    async def deliver(self, delivery_id: str, action: str, payload: Mapping[str, Any]) -> Delivered:
        recipient, message = self.message(delivery_id, action, payload)
        sent = await self._pool.send(self._sender.address, recipient, message, label=LABEL)
        return Delivered(sent.code, sent.latency_ms, f"{sent.code} {sent.reply}")
