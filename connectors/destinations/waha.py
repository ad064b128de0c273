"""WAHA (self-hosted WhatsApp HTTP API): text, media by URL, buttons and lists to a chat of one session.

The payload names the recipient as ``chatId`` or as ``phone`` (digits, made ``<digits>@c.us``) and
the text as ``text`` or ``message``, so the same mapping can feed Z-API or WAHA. WAHA runs without
an API key when its operator chose so; with a secret it goes in ``X-Api-Key``.

The endpoints followed (waha.devlike.pro, "Send messages"), each a POST with ``session`` and ``chatId``:

- ``/api/sendText`` ``{"text"}``;
- ``/api/sendImage`` and ``/api/sendFile`` ``{"file": {"url", "mimetype"?, "filename"?}, "caption"?}``;
- ``/api/sendVoice`` ``{"file": {"url", "mimetype": "audio/ogg; codecs=opus"}, "convert": true}``:
  WhatsApp plays only OGG/Opus as a voice message, and ``convert`` has WAHA convert any other file;
- ``/api/sendButtons`` ``{"body", "buttons": [{"type": "reply", "id", "text"}]}``;
- ``/api/sendList`` ``{"message": {"title", "description", "button", "sections": [{"title",
  "rows": [{"rowId", "title", "description"}]}]}}``.

Buttons and lists are interactive messages that only some WAHA engines render (WAHA's docs mark
them so); an engine that cannot answers with an error, which the sink dead-letters as usual.
The ``mimetype`` is the payload's when given, else guessed from the file's name.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.destinations import whatsapp
from connectors.destinations.base import HttpDestination, Request, digits, required_text
from streams.errors import PermanentDeliveryError

VOICE_MIMETYPE = "audio/ogg; codecs=opus"


class WahaDestination(HttpDestination):
    kind = "waha"
    ACTIONS: ClassVar[Mapping[str, str]] = {
        "waha.send_text": "/api/sendText",
        "waha.send_image": "/api/sendImage",
        "waha.send_document": "/api/sendFile",
        "waha.send_audio": "/api/sendVoice",
        "waha.send_buttons": "/api/sendButtons",
        "waha.send_list": "/api/sendList",
    }
    SECRET_REQUIRED = False

    def configure(self) -> None:
        self._bodies: Mapping[str, Callable[[str, Mapping[str, Any]], dict[str, Any]]] = {
            "waha.send_text": lambda action, p: {"text": required_text(action, p, "text", "message")},
            "waha.send_image": self._file,
            "waha.send_document": self._file,
            "waha.send_audio": self._voice,
            "waha.send_buttons": _buttons,
            "waha.send_list": _list,
        }

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
        body = {"session": session, "chatId": chat_id, **self._bodies[action](action, payload)}
        return Request(path, body, {"X-Api-Key": self._secret} if self._secret else {})

    def _file(self, action: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        media = whatsapp.media(action, payload, self._client.policy)
        mimetype = whatsapp.optional_text(action, payload, "mimetype")
        if mimetype is None and media.extension is not None:
            mimetype = mimetypes.guess_type(f"file.{media.extension}", strict=False)[0]
        file = {"url": media.url, "mimetype": mimetype, "filename": media.filename}
        body = {"file": {k: v for k, v in file.items() if v is not None}}
        return body if media.caption is None else {**body, "caption": media.caption}

    def _voice(self, action: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        media = whatsapp.media(action, payload, self._client.policy)
        return {"file": {"url": media.url, "mimetype": VOICE_MIMETYPE}, "convert": True}


def _buttons(action: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    buttons = [{"type": "reply", "id": b.id, "text": b.label} for b in whatsapp.buttons(action, payload)]
    return {"body": required_text(action, payload, "message", "text"), "buttons": buttons}


def _list(action: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    spec = whatsapp.option_list(action, payload)
    sections = [
        {
            "title": section.title,
            "rows": [_row(row) for row in section.rows],
        }
        for section in spec.sections
    ]
    message = {
        "title": spec.title,
        "description": required_text(action, payload, "message", "text"),
        "button": spec.button_label,
        "sections": sections,
    }
    return {"message": message}


def _row(row: whatsapp.Row) -> dict[str, str]:
    shown = {"rowId": row.id, "title": row.title}
    return shown if row.description is None else {**shown, "description": row.description}
