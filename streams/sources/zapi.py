"""Z-API webhooks to canonical WhatsApp events.

Shapes follow Z-API's webhook reference (developer.z-api.io/en/webhooks/): ``on-message-received``
(``type`` "ReceivedCallback": instanceId, messageId, phone, fromMe, momment, status, chatName,
senderName, isGroup, isNewsletter, isEdit, referenceMessageId, and one content object such as
``text.message``, ``image.imageUrl``/``caption``/``mimeType``, ``audio.audioUrl``...),
``on-whatsapp-message-status-changes`` ("MessageStatusCallback": status, ids[], phone, momment),
``on-message-send`` ("DeliveryCallback": phone, messageId, zaapId), ``on-webhook-connected``
("ConnectedCallback": connected, phone, momment) and ``on-whatsapp-disconnected``
("DisconnectedCallback": disconnected, error, momment). Z-API's docs spell the type both
"ReceivedCallback" and "ReceivedCallBack", so types compare case-insensitively. ``momment`` is
milliseconds in most examples and seconds in some: both are read.

Deliberately ignored (mapped to no event):

- messages with ``fromMe`` true: echoes of what we (or an attendant on the phone) sent, which
  Z-API sends when "notify sent by me" is on; they are not messages *received*;
- group, channel (newsletter) and broadcast chats: our conversations are one-to-one with leads and
  clients, and a group would bring third parties' personal data with no contact to attach it to;
- system notifications (``notification`` set: missed calls, group changes) and reactions;
- status ``READ_BY_ME`` (our own reading of their message, not a delivery of ours);
- any other callback type (presence, chat status...): Z-API's list grows and we subscribe per URL.

Phones come as international digits without ``+`` (``5544999999999``); ``+`` is prefixed before
normalisation, so a foreign contact is kept as such.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from streams.sources.reading import as_flag, as_object, as_optional_text, as_text, epoch_datetime, invalid
from streams.sources.source_event import SourceEvent, canonical_event

# Each media kind's object in the body, and the key of its link.
_MEDIA = {
    "image": "imageUrl",
    "audio": "audioUrl",
    "video": "videoUrl",
    "document": "documentUrl",
    "sticker": "stickerUrl",
}
_STATUSES = {"PENDING": "pending", "SENT": "sent", "RECEIVED": "delivered", "READ": "read", "PLAYED": "played"}
_IGNORED_STATUSES = frozenset({"READ_BY_ME"})
_COMMON_FIELDS = {"instance": "instanceId", "phone": "phone", "status": "status"}


def map_zapi(body: Mapping[str, Any]) -> list[SourceEvent]:
    """The canonical events in one Z-API webhook body ([] for callbacks we ignore)."""
    body = as_object(body, "body")
    handler = _HANDLERS.get(as_text(body.get("type"), "type").lower())
    return handler(body) if handler else []


def _received(body: Mapping[str, Any]) -> list[SourceEvent]:
    if as_flag(body.get("fromMe"), "fromMe") or _is_group(body):
        return []
    if body.get("notification") is not None or body.get("reaction") is not None:
        return []
    message_id = as_text(body.get("messageId"), "messageId")
    edited = as_flag(body.get("isEdit"), "isEdit")
    kind, text_field, text, media = _content(body)
    key = f"zapi:msg:{message_id}"
    if edited:
        # An edit reuses the message id; its moment tells one edit from the next.
        key += f":edit:{body.get('momment')}"
    payload = {
        "provider": "zapi",
        "instance": body.get("instanceId"),
        "message_id": message_id,
        "phone": _international(body.get("phone"), "phone"),
        "contact_name": as_optional_text(body.get("senderName"), "senderName")
        or as_optional_text(body.get("chatName"), "chatName"),
        "kind": kind,
        "text": text,
        "media": media,
        "reply_to_message_id": body.get("referenceMessageId"),
        "edited": edited,
    }
    fields = {
        **_COMMON_FIELDS,
        "message_id": "messageId",
        "contact_name": "senderName",
        "text": text_field,
        "media.mime_type": f"{kind}.mimeType",
        "media.url": f"{kind}.{_MEDIA.get(kind)}",
        "media.filename": f"{kind}.fileName",
        "reply_to_message_id": "referenceMessageId",
    }
    event = canonical_event(
        "whatsapp.message.received",
        payload,
        source_fields=fields,
        occurred_at=epoch_datetime(body.get("momment"), "momment"),
        idempotency_key=key,
        order_by="phone",
    )
    return [event]


def _content(body: Mapping[str, Any]) -> tuple[str, str, Any, dict[str, Any] | None]:
    """(kind, path of the text in the body, text, media) of a received message."""
    if body.get("text") is not None:
        return "text", "text.message", as_object(body["text"], "text").get("message"), None
    for kind, url_key in _MEDIA.items():
        if body.get(kind) is not None:
            part = as_object(body[kind], kind)
            found = {"mime_type": part.get("mimeType"), "url": part.get(url_key), "filename": part.get("fileName")}
            media = {key: value for key, value in found.items() if value is not None} or None
            return kind, f"{kind}.caption", part.get("caption"), media
    if body.get("location") is not None:
        return "location", "location.name", as_object(body["location"], "location").get("name"), None
    # A shared contact's vCard is a third party's personal data: only the kind is kept.
    kind = "contact" if body.get("contact") is not None else "other"
    return kind, "text.message", None, None


def _status(body: Mapping[str, Any]) -> list[SourceEvent]:
    if _is_group(body):
        return []
    raw = as_text(body.get("status"), "status").upper()
    if raw in _IGNORED_STATUSES:
        return []
    if raw not in _STATUSES:
        raise invalid("status", "must be one of: " + ", ".join([*_STATUSES, *_IGNORED_STATUSES]))
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids:
        raise invalid("ids", "must be a non-empty list of message ids")
    return [_message_status(body, as_text(one, "ids"), _STATUSES[raw], "ids") for one in ids]


def _delivery(body: Mapping[str, Any]) -> list[SourceEvent]:
    if _is_group(body):
        return []
    status = "failed" if body.get("error") else "sent"
    return [_message_status(body, as_text(body.get("messageId"), "messageId"), status, "messageId")]


def _message_status(body: Mapping[str, Any], message_id: str, status: str, id_field: str) -> SourceEvent:
    payload = {
        "provider": "zapi",
        "instance": body.get("instanceId"),
        "message_id": message_id,
        "status": status,
        "phone": _international(body.get("phone"), "phone") if body.get("phone") is not None else None,
    }
    return canonical_event(
        "whatsapp.message.status",
        payload,
        source_fields={**_COMMON_FIELDS, "message_id": id_field},
        occurred_at=epoch_datetime(body.get("momment"), "momment"),
        # The same key for a DeliveryCallback and a MessageStatusCallback SENT: one "sent", not two.
        idempotency_key=f"zapi:status:{message_id}:{status}",
        order_by="phone",
    )


def _session(status: str) -> Callable[[Mapping[str, Any]], list[SourceEvent]]:
    def session(body: Mapping[str, Any]) -> list[SourceEvent]:
        instance = as_text(body.get("instanceId"), "instanceId")
        error = as_optional_text(body.get("error"), "error")
        phone = body.get("phone") if status == "connected" else None
        payload = {
            "provider": "zapi",
            "instance": instance,
            "status": status,
            "phone": _international(phone, "phone") if phone is not None else None,
            # The provider's free text, bounded: a disconnection must not be refused for a long reason.
            "reason": error[:100] if error else None,
        }
        momment = body.get("momment")
        return [
            canonical_event(
                "whatsapp.session.status",
                payload,
                source_fields={**_COMMON_FIELDS, "reason": "error"},
                occurred_at=epoch_datetime(momment, "momment"),
                idempotency_key=f"zapi:session:{instance}:{status}:{momment}" if momment is not None else None,
                order_by="instance",
            )
        ]

    return session


def _is_group(body: Mapping[str, Any]) -> bool:
    if as_flag(body.get("isGroup"), "isGroup") or as_flag(body.get("isNewsletter"), "isNewsletter"):
        return True
    if as_flag(body.get("broadcast"), "broadcast"):
        return True
    phone = body.get("phone")
    # Group ids end in "-group"; channels and broadcast lists carry an "@..." suffix.
    return isinstance(phone, str) and ("-group" in phone or "@" in phone)


def _international(value: Any, path: str) -> str:
    """Z-API's international digits as ``+digits``, for the canonical phone normaliser."""
    digits = as_text(value, path)
    return digits if digits.startswith("+") else "+" + digits


_HANDLERS: Mapping[str, Callable[[Mapping[str, Any]], list[SourceEvent]]] = {
    "receivedcallback": _received,
    "messagestatuscallback": _status,
    "deliverycallback": _delivery,
    "connectedcallback": _session("connected"),
    "disconnectedcallback": _session("disconnected"),
}
