"""What Z-API and WAHA deliveries share beyond text: a media URL, buttons and a list, read from a payload.

Both kinds take the same payload, so one route mapping can feed either (and a fallback can switch):

- media (``send_image``, ``send_document``, ``send_audio``): ``phone``, ``url``, ``caption``?,
  ``filename``? (documents);
- ``send_buttons``: ``phone``, ``message``, ``buttons: [{"id", "label"}, ...]``;
- ``send_list``: ``phone``, ``message``, ``list: {"title", "button_label", "sections": [{"title",
  "rows": [{"id", "title", "description"?}, ...]}, ...]}``.

Each connector turns these into its provider's own request shape. Errors name the payload field and
the rule, never its value: phones, texts and URLs are a tenant's data.

A media URL is not fetched by crmbus but by the provider, and a self-hosted WAHA sits inside the
operator's network: an internal URL in a payload would have it fetch from there on our behalf (SSRF
by proxy). So a media URL passes the same ``OutboundPolicy`` as a destination's own URL (``https``;
plain ``http`` and loopback addresses only where the policy allows loopback, as in tests and the
sandbox; no credentials; no IP literal in a refused range). Host names are not resolved: crmbus
never connects to them, and the provider resolves them itself at its own time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.destinations.base import required_text
from connectors.ssrf import OutboundPolicy
from streams.errors import PermanentDeliveryError, UnsafeDestinationError


@dataclass(frozen=True, slots=True)
class Media:
    """A file the provider fetches by URL, with what the recipient sees beside it."""

    url: str
    caption: str | None
    filename: str | None

    @property
    def extension(self) -> str | None:
        """The file's extension (``pdf``), from ``filename`` or else the URL's last path segment."""
        for name in (self.filename, self.url.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]):
            stem, dot, extension = (name or "").rpartition(".")
            if dot and stem and extension.isascii() and extension.isalnum() and len(extension) <= 10:
                return extension.lower()
        return None


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    title: str
    description: str | None


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class OptionList:
    title: str
    button_label: str
    sections: tuple[Section, ...]

    @property
    def rows(self) -> tuple[Row, ...]:
        return tuple(row for section in self.sections for row in section.rows)


def optional_text(action: str, payload: Mapping[str, Any], name: str) -> str | None:
    """``payload[name]`` when it is non-empty text, None when absent or empty; an error for another type."""
    value = payload.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PermanentDeliveryError(f"{action}: {name!r} must be text")
    return value


def media(action: str, payload: Mapping[str, Any], policy: OutboundPolicy) -> Media:
    """The payload's media; PermanentDeliveryError naming ``url`` when the policy refuses that URL."""
    url = required_text(action, payload, "url")
    try:
        policy.check_url(url)
    except UnsafeDestinationError:
        raise PermanentDeliveryError(
            f"{action}: 'url' must be an absolute https URL of a public host, without credentials; "
            "crmbus does not hand a provider an internal address to fetch"
        ) from None
    return Media(url, optional_text(action, payload, "caption"), optional_text(action, payload, "filename"))


def _objects(action: str, value: object, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not value or not all(isinstance(item, Mapping) for item in value):
        raise PermanentDeliveryError(f"{action} needs {where} as a non-empty list of objects")
    return value


def _text(action: str, item: Mapping[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise PermanentDeliveryError(f"{action} needs {where}.{name} as text")
    return value


def buttons(action: str, payload: Mapping[str, Any]) -> tuple[Button, ...]:
    """The payload's ``buttons``, each with its ``id`` and ``label``."""
    items = _objects(action, payload.get("buttons"), "'buttons'")
    return tuple(
        Button(_text(action, item, "id", f"buttons[{i}]"), _text(action, item, "label", f"buttons[{i}]"))
        for i, item in enumerate(items)
    )


def option_list(action: str, payload: Mapping[str, Any]) -> OptionList:
    """The payload's ``list``: a title, the label of the button that opens it, sections of rows."""
    spec = payload.get("list")
    if not isinstance(spec, Mapping):
        raise PermanentDeliveryError(f"{action} needs 'list' as an object")
    sections = []
    for i, section in enumerate(_objects(action, spec.get("sections"), "list.sections")):
        where = f"list.sections[{i}]"
        rows = tuple(
            Row(
                _text(action, row, "id", f"{where}.rows[{j}]"),
                _text(action, row, "title", f"{where}.rows[{j}]"),
                optional_text(action, row, "description"),
            )
            for j, row in enumerate(_objects(action, section.get("rows"), f"{where}.rows"))
        )
        sections.append(Section(_text(action, section, "title", where), rows))
    title, button_label = _text(action, spec, "title", "list"), _text(action, spec, "button_label", "list")
    return OptionList(title, button_label, tuple(sections))
