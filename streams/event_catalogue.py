"""The event types a tenant may send: every built-in type, and the ones it registered itself.

A tenant's own types are visible to that tenant only, and may not take a built-in type's name.
Each (name, major version) resolves to its latest revision; an event names its major version
(``version``, 1 when absent), so ``lead.created`` v2 and v1 are both accepted side by side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from streams.errors import InvalidEventError
from streams.event_type import EventType

PayloadValidator = Callable[[str, Mapping[str, Any]], dict[str, Any]]
"""``(type name, payload) -> normalised payload`` for one tenant, major version 1."""


class EventCatalogue:
    """Types by (tenant or built-in, name, major version); immutable once built."""

    def __init__(self, types: Iterable[EventType], version: str = "") -> None:
        self.version = version
        latest: dict[tuple[str | None, str, int], EventType] = {}
        for event_type in types:
            key = (event_type.tenant_id, event_type.name, event_type.version)
            known = latest.get(key)
            if known is None or event_type.revision > known.revision:
                latest[key] = event_type
        built_in = {name for tenant, name, _ in latest if tenant is None}
        self._types = {key: t for key, t in latest.items() if key[0] is None or key[1] not in built_in}
        self._majors: dict[tuple[str | None, str], list[EventType]] = defaultdict(list)
        for (tenant, name, _), event_type in sorted(self._types.items(), key=lambda item: item[0][2]):
            self._majors[(tenant, name)].append(event_type)

    def with_tenant_types(self, types: Iterable[EventType], version: str) -> EventCatalogue:
        """This catalogue's built-in types plus ``types`` (every tenant's own)."""
        built_in = [t for t in self._types.values() if t.tenant_id is None]
        return EventCatalogue([*built_in, *types], version)

    def get(self, tenant_id: str, name: str, version: int = 1) -> EventType | None:
        """The latest revision of ``name``'s major ``version`` that ``tenant_id`` may send, if any."""
        return self._types.get((None, name, version)) or self._types.get((tenant_id, name, version))

    def versions(self, tenant_id: str, name: str) -> tuple[EventType, ...]:
        """Every major version of ``name`` the tenant may send, oldest first."""
        return tuple(self._majors.get((None, name)) or self._majors.get((tenant_id, name)) or ())

    def lane(self, tenant_id: str, name: str, version: int = 1) -> str:
        """The lane ``name`` events travel in (``default`` for a type not known here)."""
        event_type = self.get(tenant_id, name, version)
        return "default" if event_type is None else event_type.lane

    def knows(self, tenant_id: str, name: str) -> bool:
        return bool(self.versions(tenant_id, name))

    def types(self, tenant_id: str | None = None) -> list[EventType]:
        """The built-in types, and ``tenant_id``'s own when given, by name and version."""
        chosen = [t for t in self._types.values() if t.tenant_id is None or t.tenant_id == tenant_id]
        return sorted(chosen, key=lambda t: (t.tenant_id is not None, t.name, t.version))

    def validate(self, tenant_id: str, name: str, payload: Mapping[str, Any], version: int = 1) -> dict[str, Any]:
        """The payload normalised; ``InvalidEventError`` on ``type``/``version`` or the bad field."""
        event_type = self.get(tenant_id, name, version)
        if event_type is None:
            if self.knows(tenant_id, name):
                majors = ", ".join(str(t.version) for t in self.versions(tenant_id, name))
                raise InvalidEventError(f"version: this type has versions {majors}", field="version")
            # The unknown name is not repeated: it is whatever the client sent.
            raise InvalidEventError("type: is not a known event type", field="type")
        return event_type.validate(payload)

    def validator(self, tenant_id: str) -> PayloadValidator:
        """``validate`` for one tenant and version 1, as the source mappers call it."""

        def validate(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
            return self.validate(tenant_id, name, payload)

        return validate

    def paths(self, tenant_id: str, name: str) -> frozenset[str]:
        """Every payload path events of ``name`` can hold, in any of its major versions."""
        found: frozenset[str] = frozenset()
        for event_type in self.versions(tenant_id, name):
            found |= event_type.compiled.paths()
        return found

    def __len__(self) -> int:
        return len(self._types)
