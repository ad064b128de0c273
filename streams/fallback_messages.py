"""What a message becomes on a fallback destination that cannot send it as it is.

While a WhatsApp destination's circuit is open its messages may go through the fallbacks its
config names (Z-API → WAHA → SMS → e-mail). A fallback that has the same verb gets the same
payload (``zapi.send_image`` → ``waha.send_image``); one that lacks it gets the message as text:

- a text stays the text;
- an image, document or audio becomes its caption (or file name) and its URL, one per line;
- buttons or a list become the message followed by numbered options (``1. Sim``), a list's
  section titles on their own lines, so the recipient can answer with the number;
- on an SMS destination the text is ``<kind>.send_sms`` ``{phone, message}``; on a WhatsApp one
  ``<kind>.send_text`` ``{phone, message}``; on an e-mail destination it is
  ``email.send_template`` with the e-mail destination's config ``fallback_template`` (its
  variable ``message`` holds the text) to the payload's ``email``; without either there is no
  e-mail fallback.

Only messages are translated: any other action (``crm.upsert_lead``) has no fallback, and a
message that cannot be turned into text (no phone, no text) has none either: it waits for its own
destination. The caller says which actions the fallback's connector has (``can_do``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

MEDIA_VERBS = frozenset({"send_image", "send_document", "send_audio"})
CHOICE_VERBS = frozenset({"send_buttons", "send_list"})
TEXT_VERBS = frozenset({"send_text", "send_sms"})
MESSAGE_VERBS = MEDIA_VERBS | CHOICE_VERBS | TEXT_VERBS
"""The verbs a fallback may stand in for; any other action keeps to its own destination."""

EMAIL_TEMPLATE_ACTION = "email.send_template"


@dataclass(frozen=True, slots=True)
class StandIn:
    """What to ask of the fallback: its action and the payload for it."""

    action: str
    payload: Mapping[str, Any]


def stand_in(
    action: str, payload: Mapping[str, Any], kind: str, config: Mapping[str, Any], can_do: Collection[str]
) -> StandIn | None:
    """``action`` with ``payload`` as a fallback destination of ``kind`` (its ``config``, its
    connector's actions ``can_do``) can carry it, or None when it cannot."""
    verb = action.partition(".")[2]
    if verb not in MESSAGE_VERBS:
        return None
    if f"{kind}.{verb}" in can_do:
        return StandIn(f"{kind}.{verb}", payload)
    text = as_text(verb, payload)
    if text is None:
        return None
    if EMAIL_TEMPLATE_ACTION in can_do:
        template, email = config.get("fallback_template"), payload.get("email")
        if not (_text(template) and _text(email)):
            return None
        return StandIn(EMAIL_TEMPLATE_ACTION, {"to": email, "template": template, "params": {"message": text}})
    phone = recipient(payload)
    if phone is None:
        return None
    for text_verb in ("send_sms", "send_text"):
        if f"{kind}.{text_verb}" in can_do:
            return StandIn(f"{kind}.{text_verb}", {"phone": phone, "message": text})
    return None


def as_text(verb: str, payload: Mapping[str, Any]) -> str | None:
    """The message of ``verb``'s ``payload`` as plain text, or None when it holds no text to send."""
    if verb in TEXT_VERBS:
        return _first_text(payload, "message", "text")
    if verb in MEDIA_VERBS:
        url = _first_text(payload, "url")
        if url is None:
            return None
        label = _first_text(payload, "caption", "filename")
        return url if label is None else f"{label}\n{url}"
    lines = [_first_text(payload, "message", "text") or ""]
    lines.extend(_numbered(_options(verb, payload)))
    text = "\n".join(line for line in lines if line)
    return text or None


def recipient(payload: Mapping[str, Any]) -> str | None:
    """The recipient's number: ``phone`` as given, else the digits of a WhatsApp ``chatId``
    (``5511987654321@c.us``); None for a group chat or no number at all."""
    phone = _first_text(payload, "phone")
    if phone is not None:
        return phone
    chat_id = _first_text(payload, "chatId")
    number, _, server = (chat_id or "").partition("@")
    return number if server == "c.us" and number.isascii() and number.isdigit() else None


def _options(verb: str, payload: Mapping[str, Any]) -> Iterator[str | tuple[str]]:
    """A choice's options in order: each option's text, and (as 1-tuples) a list's section titles."""
    if verb == "send_buttons":
        for button in _objects(payload.get("buttons")):
            label = _first_text(button, "label", "title")
            if label is not None:
                yield label
        return
    listing = payload.get("list")
    if not isinstance(listing, Mapping):
        return
    title = _first_text(listing, "title")
    if title is not None:
        yield (title,)
    for section in _objects(listing.get("sections")):
        heading = _first_text(section, "title")
        if heading is not None:
            yield (heading,)
        for row in _objects(section.get("rows")):
            label = _first_text(row, "title")
            if label is None:
                continue
            description = _first_text(row, "description")
            yield label if description is None else f"{label} - {description}"


def _numbered(options: Iterator[str | tuple[str]]) -> Iterator[str]:
    """Options numbered from 1 across the whole choice; headings unnumbered."""
    number = 0
    for option in options:
        if isinstance(option, tuple):
            yield option[0]
        else:
            number += 1
            yield f"{number}. {option}"


def _objects(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _first_text(payload: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = payload.get(name)
        if _text(value):
            return value
    return None


def _text(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())
