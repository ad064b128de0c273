"""The built-in event types: one definition document per type and major version in ``types/``.

``types/<name>.v<major>.yaml`` is the whole contract of a type (see ``streams.event_type``); a
spec checks that each one loads, that its example validates, and that a route can take it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from streams.errors import ConfigurationError, InvalidEventTypeError
from streams.event_catalogue import EventCatalogue
from streams.event_type import EventType, event_type_from_document

TYPES_DIR = Path(__file__).with_name("types")


@cache
def built_in_types() -> tuple[EventType, ...]:
    """Every built-in type, by file name; a broken file is a ``ConfigurationError`` naming it."""
    types = []
    for path in sorted(TYPES_DIR.glob("*.yaml")):
        try:
            event_type = event_type_from_document(yaml.safe_load(path.read_text()), tenant_id=None)
        except InvalidEventTypeError as exc:
            raise ConfigurationError(f"{path.name}: {exc}") from None
        expected = f"{event_type.name}.v{event_type.version}.yaml"
        if path.name != expected:
            raise ConfigurationError(f"{path.name}: a type's file is named {expected}")
        types.append(event_type)
    return tuple(types)


@cache
def built_in_catalogue() -> EventCatalogue:
    """The catalogue of the built-in types alone (tenants' own come from PostgreSQL)."""
    return EventCatalogue(built_in_types(), version="built-in")
