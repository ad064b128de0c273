"""SMS through Twilio or Zenvia: ``<kind>.send_sms`` with ``phone`` and ``message``.

The phone may be written as people write it; it is sent in E.164 (``streams.phone``), a number
that is not one is refused at once (400-like, never retried).

- ``sms_twilio`` follows Twilio's public Messages API (API version 2010-04-01): ``POST
  /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To`` (E.164), ``Body`` and
  config ``from`` as ``From`` (a number or sender id) or, when it is a Messaging Service SID
  (``MG`` and 32 hex digits), as ``MessagingServiceSid``; HTTP basic auth with the account SID
  (config ``account_sid``) and the auth token (the secret). Twilio answers 201 with the message's
  ``sid``. Twilio does not honour ``Idempotency-Key`` on this call: a retry after a timeout that
  Twilio did act on sends the SMS twice.
- ``sms_zenvia`` follows Zenvia's API v2: ``POST /v2/channels/sms/messages``, a JSON body
  ``{"from": <sender id, config from>, "to": <E.164 digits without "+">, "contents": [{"type":
  "text", "text": …}]}``, the API token (the secret) in ``X-API-TOKEN``. Zenvia answers 200 with
  the message's ``id``.

A destination's URL is the provider's API root (``https://api.twilio.com``,
``https://api.zenvia.com``), or the sandbox's ``<sandbox>/sms_twilio`` and ``<sandbox>/sms_zenvia``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.destinations.base import HttpDestination, Request, required_text
from streams.errors import ConfigurationError, PermanentDeliveryError
from streams.phone import normalise_phone

_MESSAGING_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")


def e164(action: str, payload: Mapping[str, Any]) -> str:
    """The payload's ``phone`` in E.164; PermanentDeliveryError (naming no number) when it is none."""
    try:
        return normalise_phone(required_text(action, payload, "phone"))
    except ValueError as error:
        raise PermanentDeliveryError(f"{action}: {error}") from None


def _config_text(kind: str, config: Mapping[str, Any], name: str) -> str | None:
    value = config.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"a {kind} destination's config.{name} must be text")
    return value


class TwilioSmsDestination(HttpDestination):
    kind = "sms_twilio"
    ACTIONS: ClassVar[Mapping[str, str]] = {"sms_twilio.send_sms": "/Messages.json"}

    def configure(self) -> None:
        account = _config_text(self.kind, self._config, "account_sid")
        if account is None:
            raise ConfigurationError("a sms_twilio destination needs config.account_sid")
        sender = _config_text(self.kind, self._config, "from")
        if sender is None:
            raise ConfigurationError("a sms_twilio destination needs config.from")
        self._sender = {"MessagingServiceSid" if _MESSAGING_SERVICE.fullmatch(sender) else "From": sender}
        self._account_path = f"/2010-04-01/Accounts/{quote(account, safe='')}"
        credentials = base64.b64encode(f"{account}:{self._secret}".encode()).decode()
        self._authorization = f"Basic {credentials}"

    def build(self, action: str, payload: Mapping[str, Any]) -> Request:
        path = self.path_for(action)
        body = {"To": e164(action, payload), **self._sender, "Body": required_text(action, payload, "message")}
        return Request(self._account_path + path, body, {"Authorization": self._authorization}, encoding="form")


class ZenviaSmsDestination(HttpDestination):
    kind = "sms_zenvia"
    ACTIONS: ClassVar[Mapping[str, str]] = {"sms_zenvia.send_sms": "/v2/channels/sms/messages"}

    def configure(self) -> None:
        sender = _config_text(self.kind, self._config, "from")
        if sender is None:
            raise ConfigurationError("a sms_zenvia destination needs config.from")
        self._sender = sender

    def build(self, action: str, payload: Mapping[str, Any]) -> Request:
        path = self.path_for(action)
        body = {
            "from": self._sender,
            "to": e164(action, payload).removeprefix("+"),
            "contents": [{"type": "text", "text": required_text(action, payload, "message")}],
        }
        return Request(path, body, {"X-API-TOKEN": self._secret or ""})
