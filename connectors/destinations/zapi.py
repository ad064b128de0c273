"""Z-API (WhatsApp): text messages, in Z-API's public request shape.

The instance id and instance token are part of the URL path (``/instances/{id}/token/{token}``)
and the account's security token goes in ``Client-Token``. Because the URL itself is a credential,
it never appears in an error message or a log line: errors name the kind and action only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.destinations.base import HttpDestination, Request, digits, required_text
from streams.errors import ConfigurationError, PermanentDeliveryError


def _config_text(config: Mapping[str, Any], name: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"a zapi destination needs config.{name}")
    return value


class ZapiDestination(HttpDestination):
    kind = "zapi"
    ACTIONS: ClassVar[Mapping[str, str]] = {"zapi.send_text": "/send-text"}

    def configure(self) -> None:
        instance = quote(_config_text(self._config, "instance_id"), safe="")
        token = quote(_config_text(self._config, "token"), safe="")
        self._instance_path = f"/instances/{instance}/token/{token}"

    def health_request(self) -> Request:
        return Request(self._instance_path + "/status", {}, {"Client-Token": self._secret or ""})

    def build(self, action: str, payload: Mapping[str, Any]) -> Request:
        path = self.path_for(action)
        phone = digits(required_text(action, payload, "phone"))
        if not phone:
            raise PermanentDeliveryError(f"{action} needs a phone number with digits")
        return Request(
            self._instance_path + path,
            {"phone": phone, "message": required_text(action, payload, "message")},
            {"Client-Token": self._secret or ""},
        )
