"""WAHA (WhatsApp HTTP API) webhooks to canonical WhatsApp events.

Shapes follow WAHA's docs (waha.devlike.pro/docs/how-to/webhooks/ and /receive-messages/) and its
DTOs (``src/structures/webhooks.dto.ts``, ``enums.dto.ts``): every webhook is
``{"id", "timestamp" (ms), "session", "engine", "event", "payload", "me", ...}``. For ``message`` and
``message.any`` the payload is a message: ``id`` (``"false_5511999990000@c.us_3EB0..."``),
``timestamp`` (s), ``from``, ``to``, ``fromMe``, ``body``, ``hasMedia``, ``media`` {url, mimetype,
filename}, ``replyTo``, ``_data``. ``message.ack`` carries at least ``id``, ``from``, ``participant``,
``fromMe``, ``ack`` (-1 ERROR, 0 PENDING, 1 SERVER, 2 DEVICE, 3 READ, 4 PLAYED) and ``ackName``, and
``to`` where the engine sends it;
``session.status`` carries ``{"name", "status"}`` (STOPPED, STARTING, SCAN_QR_CODE, WORKING, FAILED).

Chat ids are international digits plus a suffix: ``@c.us`` for people, ``@g.us`` for groups,
``@newsletter`` for channels, ``status@broadcast`` for status posts, ``@lid`` for WhatsApp's
linked ids that hide the phone number.

Deliberately ignored (mapped to no event):

- ``fromMe`` messages (``message.any`` echoes what we send) and acks of messages we did not send;
- group, channel and broadcast chats, for the reasons given in ``streams.sources.zapi``;
- ``session.status`` STARTING, a transient state on the way to WORKING or SCAN_QR_CODE;
- every other event (presence, reactions, revokes, labels...): WAHA's list grows with each release
  and ``WHATSAPP_HOOK_EVENTS=*`` subscribes to all of it.

A ``message`` and a ``message.any`` for the same incoming message share one idempotency key.
WAHA's message ids embed the chat's phone number, so keys use their digest. An incoming message
from a ``@lid`` chat is refused (no phone to address the contact by); an ack for one keeps no phone.
SCAN_QR_CODE, STOPPED and FAILED all mean the number cannot be used: "disconnected", with the
state as the reason, so an operator is told to scan the QR code again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from streams.sources.reading import as_flag, as_object, as_optional_text, as_text, epoch_datetime, invalid
from streams.sources.source_event import SourceEvent, canonical_event, digest

_PERSON = "@c.us"
_LINKED_ID = "@lid"
_ACKS = {-1: "failed", 0: "pending", 1: "sent", 2: "delivered", 3: "read", 4: "played"}
_ACK_NAMES = {"ERROR": -1, "PENDING": 0, "SERVER": 1, "DEVICE": 2, "READ": 3, "PLAYED": 4}
_SESSION_STATES = {
    "WORKING": "connected",
    "SCAN_QR_CODE": "disconnected",
    "STOPPED": "disconnected",
    "FAILED": "disconnected",
}
_TRANSIENT_STATES = frozenset({"STARTING"})
_FIELDS = {"instance": "session"}


def map_waha(body: Mapping[str, Any]) -> list[SourceEvent]:
    """The canonical events in one WAHA webhook body ([] for events we ignore)."""
    body = as_object(body, "body")
    handler = _HANDLERS.get(as_text(body.get("event"), "event"))
    if handler is None:
        return []
    return handler(body, as_object(body.get("payload"), "payload"))


def _message(body: Mapping[str, Any], message: Mapping[str, Any]) -> list[SourceEvent]:
    if as_flag(message.get("fromMe"), "payload.fromMe"):
        return []
    chat = as_text(message.get("from"), "payload.from")
    if chat.endswith(_LINKED_ID):
        raise invalid("payload.from", "is a WhatsApp linked id (@lid) with no phone number; not supported")
    if not chat.endswith(_PERSON):
        return []
    message_id = as_text(message.get("id"), "payload.id")
    kind, media = _content(message)
    data = message.get("_data")
    names = data if isinstance(data, Mapping) else {}
    reply_to = message.get("replyTo")
    payload = {
        "provider": "waha",
        "instance": body.get("session"),
        "message_id": message_id,
        "phone": "+" + chat.removesuffix(_PERSON),
        # WEBJS calls the sender's own name notifyName; NOWEB and GOWS call it pushName.
        "contact_name": as_optional_text(names.get("notifyName") or names.get("pushName"), "payload._data"),
        "kind": kind,
        "text": as_optional_text(message.get("body"), "payload.body"),
        "media": media,
        "reply_to_message_id": reply_to.get("id") if isinstance(reply_to, Mapping) else None,
    }
    fields = {
        **_FIELDS,
        "message_id": "payload.id",
        "phone": "payload.from",
        "contact_name": "payload._data",
        "text": "payload.body",
        "media.mime_type": "payload.media.mimetype",
        "media.url": "payload.media.url",
        "media.filename": "payload.media.filename",
        "reply_to_message_id": "payload.replyTo.id",
    }
    event = canonical_event(
        "whatsapp.message.received",
        payload,
        source_fields=fields,
        occurred_at=epoch_datetime(message.get("timestamp"), "payload.timestamp"),
        idempotency_key=f"waha:msg:{digest(message_id)}",
        order_by="phone",
    )
    return [event]


def _content(message: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(kind, media) of a message; WAHA's ``type`` differs per engine, the MIME type does not."""
    media = message.get("media")
    if as_flag(message.get("hasMedia"), "payload.hasMedia") and isinstance(media, Mapping):
        mime = as_optional_text(media.get("mimetype"), "payload.media.mimetype") or ""
        kind = next((k for k in ("image", "audio", "video") if mime.startswith(k + "/")), "document")
        found = {"mime_type": mime or None, "url": media.get("url"), "filename": media.get("filename")}
        return kind, {k: v for k, v in found.items() if v is not None} or None
    if message.get("hasMedia") is True:
        return "other", None  # media downloads are off in this WAHA: nothing to describe
    if message.get("location") is not None:
        return "location", None
    if message.get("vCards"):
        return "contact", None
    return ("text" if as_optional_text(message.get("body"), "payload.body") else "other"), None


def _ack(body: Mapping[str, Any], ack: Mapping[str, Any]) -> list[SourceEvent]:
    if not as_flag(ack.get("fromMe"), "payload.fromMe"):
        return []
    # The chat is ``to`` where the engine names it (WEBJS: ``from`` is then our own number); WAHA's
    # documented minimum leaves ``to`` out, and NOWEB, which does, names the chat in ``from``.
    chat_field = "payload.to" if as_optional_text(ack.get("to"), "payload.to") else "payload.from"
    chat = as_text(ack.get(chat_field.removeprefix("payload.")), chat_field)
    if not (chat.endswith(_PERSON) or chat.endswith(_LINKED_ID)):
        return []
    message_id = as_text(ack.get("id"), "payload.id")
    status = _ACKS[_ack_level(ack)]
    payload = {
        "provider": "waha",
        "instance": body.get("session"),
        "message_id": message_id,
        "status": status,
        "phone": "+" + chat.removesuffix(_PERSON) if chat.endswith(_PERSON) else None,
    }
    event = canonical_event(
        "whatsapp.message.status",
        payload,
        source_fields={**_FIELDS, "message_id": "payload.id", "phone": chat_field},
        occurred_at=epoch_datetime(body.get("timestamp"), "timestamp"),
        idempotency_key=f"waha:status:{digest(message_id)}:{status}",
        order_by="phone",
    )
    return [event]


def _ack_level(ack: Mapping[str, Any]) -> int:
    level = ack.get("ack")
    if isinstance(level, int) and not isinstance(level, bool) and level in _ACKS:
        return level
    name = ack.get("ackName")
    if level is None and isinstance(name, str) and name in _ACK_NAMES:
        return _ACK_NAMES[name]
    raise invalid("payload.ack", "must be one of -1, 0, 1, 2, 3, 4 (or ackName ERROR ... PLAYED)")


def _session(body: Mapping[str, Any], session: Mapping[str, Any]) -> list[SourceEvent]:
    state = as_text(session.get("status"), "payload.status")
    if state in _TRANSIENT_STATES:
        return []
    if state not in _SESSION_STATES:
        raise invalid("payload.status", "must be one of: " + ", ".join([*_SESSION_STATES, *_TRANSIENT_STATES]))
    status = _SESSION_STATES[state]
    me = body.get("me")
    own = me.get("id") if isinstance(me, Mapping) and status == "connected" else None
    instance = as_text(body.get("session"), "session")
    event_id = as_optional_text(body.get("id"), "id")
    timestamp = body.get("timestamp")
    if event_id:
        key: str | None = f"waha:{event_id}"
    else:
        key = f"waha:session:{instance}:{state}:{timestamp}" if timestamp is not None else None
    payload = {
        "provider": "waha",
        "instance": instance,
        "status": status,
        "phone": "+" + own.removesuffix(_PERSON) if isinstance(own, str) and own.endswith(_PERSON) else None,
        "reason": None if status == "connected" else state.lower(),
    }
    event = canonical_event(
        "whatsapp.session.status",
        payload,
        source_fields={**_FIELDS, "phone": "me.id", "reason": "payload.status"},
        occurred_at=epoch_datetime(timestamp, "timestamp"),
        idempotency_key=key,
        order_by="instance",
    )
    return [event]


_HANDLERS: Mapping[str, Callable[[Mapping[str, Any], Mapping[str, Any]], list[SourceEvent]]] = {
    "message": _message,
    "message.any": _message,
    "message.ack": _ack,
    "session.status": _session,
}
