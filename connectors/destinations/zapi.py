"""Z-API (WhatsApp): text, media by URL, buttons and option lists, in Z-API's public request shapes.

The instance id and instance token are part of the URL path (``/instances/{id}/token/{token}``)
and the account's security token goes in ``Client-Token``. Because the URL itself is a credential,
it never appears in an error message or a log line: errors name the kind and action only.

The endpoints followed (developer.z-api.io, "Mensagens"), each a POST under the instance path:

- ``/send-text`` ``{"phone", "message"}``;
- ``/send-image`` ``{"phone", "image": <url>, "caption"?}``;
- ``/send-document/{extension}`` ``{"phone", "document": <url>, "fileName"?, "caption"?}``: the
  extension (``pdf``) is part of the path, taken from ``filename`` or else from the URL;
- ``/send-audio`` ``{"phone", "audio": <url>}`` (Z-API takes no caption with audio);
- ``/send-button-list`` ``{"phone", "message", "buttonList": {"buttons": [{"id", "label"}]}}``;
- ``/send-option-list`` ``{"phone", "message", "optionList": {"title", "buttonLabel",
  "options": [{"id", "title", "description"}]}}``: Z-API's list has no sections, so the rows of
  every section are sent in order as one list of options.

Every one answers 200 ``{"zaapId", "messageId"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.destinations import whatsapp
from connectors.destinations.base import HttpDestination, Request, digits, required_text
from streams.errors import ConfigurationError, PermanentDeliveryError


def _config_text(config: Mapping[str, Any], name: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"a zapi destination needs config.{name}")
    return value


class ZapiDestination(HttpDestination):
    kind = "zapi"
    ACTIONS: ClassVar[Mapping[str, str]] = {
        "zapi.send_text": "/send-text",
        "zapi.send_image": "/send-image",
        "zapi.send_document": "/send-document",
        "zapi.send_audio": "/send-audio",
        "zapi.send_buttons": "/send-button-list",
        "zapi.send_list": "/send-option-list",
    }

    def configure(self) -> None:
        instance = quote(_config_text(self._config, "instance_id"), safe="")
        token = quote(_config_text(self._config, "token"), safe="")
        self._instance_path = f"/instances/{instance}/token/{token}"
        self._bodies: Mapping[str, Callable[[str, Mapping[str, Any]], tuple[str, dict[str, Any]]]] = {
            "zapi.send_text": lambda action, p: ("", {"message": required_text(action, p, "message")}),
            "zapi.send_image": self._image,
            "zapi.send_document": self._document,
            "zapi.send_audio": self._audio,
            "zapi.send_buttons": _buttons,
            "zapi.send_list": _option_list,
        }

    def health_request(self) -> Request:
        return Request(self._instance_path + "/status", {}, {"Client-Token": self._secret or ""})

    def build(self, action: str, payload: Mapping[str, Any]) -> Request:
        path = self.path_for(action)
        phone = digits(required_text(action, payload, "phone"))
        if not phone:
            raise PermanentDeliveryError(f"{action} needs a phone number with digits")
        suffix, body = self._bodies[action](action, payload)
        headers = {"Client-Token": self._secret or ""}
        return Request(self._instance_path + path + suffix, {"phone": phone, **body}, headers)

    def _image(self, action: str, payload: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        image = whatsapp.media(action, payload, self._client.policy)
        return "", _without_none({"image": image.url, "caption": image.caption})

    def _document(self, action: str, payload: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        document = whatsapp.media(action, payload, self._client.policy)
        extension = document.extension
        if extension is None:
            raise PermanentDeliveryError(
                f"{action} needs a 'filename' or a 'url' whose name ends in the file's extension (.pdf, ...)"
            )
        body = {"document": document.url, "fileName": document.filename, "caption": document.caption}
        return f"/{extension}", _without_none(body)

    def _audio(self, action: str, payload: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        return "", {"audio": whatsapp.media(action, payload, self._client.policy).url}


def _buttons(action: str, payload: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    buttons = [{"id": button.id, "label": button.label} for button in whatsapp.buttons(action, payload)]
    return "", {"message": required_text(action, payload, "message"), "buttonList": {"buttons": buttons}}


def _option_list(action: str, payload: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = whatsapp.option_list(action, payload)
    options = [{"id": row.id, "title": row.title, "description": row.description or ""} for row in spec.rows]
    option_list = {"title": spec.title, "buttonLabel": spec.button_label, "options": options}
    return "", {"message": required_text(action, payload, "message"), "optionList": option_list}


def _without_none(body: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if value is not None}
