"""A tenant's own HTTP endpoint: the payload, POSTed to the URL as given, signed with Standard Webhooks.

The stored secret holds one ``whsec_`` secret, or several separated by whitespace (newest first)
while the tenant rotates: each message then carries one signature per secret, so the receiver
accepts it whichever secret it has configured (``streams.standard_webhooks``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from connectors.destinations.base import HttpDestination, Request
from streams import standard_webhooks


class WebhookDestination(HttpDestination):
    kind = "webhook"

    def configure(self) -> None:
        self._secrets = standard_webhooks.split_secrets(self._secret or "")
        # A malformed secret should fail when the connector is built, not on every delivery.
        standard_webhooks.sign(self._secrets, "check", 0, b"")

    def build(self, action: str, payload: Mapping[str, Any]) -> Request:
        return Request("", payload)

    def signed(self, delivery_id: str, body: bytes) -> Mapping[str, str]:
        return standard_webhooks.headers(self._secrets, delivery_id, int(time.time()), body)
