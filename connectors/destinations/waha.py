"""WAHA (self-hosted WhatsApp HTTP API): text messages to a chat of one session.

The payload names the recipient as ``chatId`` or as ``phone`` (digits, made ``<digits>@c.us``) and
the text as ``text`` or ``message``, so the same mapping can feed Z-API or WAHA. WAHA runs without
an API key when its operator chose so; with a secret it goes in ``X-Api-Key``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.destinations.base import HttpDestination, Request, digits, required_text
from streams.errors import PermanentDeliveryError


class WahaDestination(HttpDestination):
    kind = "waha"
    ACTIONS: ClassVar[Mapping[str, str]] = {"waha.send_text": "/api/sendText"}
    SECRET_REQUIRED = False

    def health_request(self) -> Request:
        session = quote(str(self._config.get("session") or "default"), safe="")
        return Request(f"/api/sessions/{session}", {}, {"X-Api-Key": self._secret} if self._secret else {})

    def build(self, action: str, payload: Mapping[str, Any]) -> Request:
        path = self.path_for(action)
        chat_id = payload.get("chatId")
        if not isinstance(chat_id, str) or not chat_id:
            phone = digits(required_text(action, payload, "chatId", "phone"))
            if not phone:
                raise PermanentDeliveryError(f"{action} needs a phone number with digits")
            chat_id = f"{phone}@c.us"
        session = self._config.get("session") or "default"
        body = {"session": session, "chatId": chat_id, "text": required_text(action, payload, "text", "message")}
        return Request(path, body, {"X-Api-Key": self._secret} if self._secret else {})
