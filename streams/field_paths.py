"""Dotted field paths: which ones an event type's payload can hold, and how routes read them.

Routes (their filters and mappings) name event data by path: ``phone``, ``campaign.utm_source``,
or an envelope field such as ``$event.tenant_id``. A path is checked once, when the route is saved,
against the paths its event type's schema holds (``EventCatalogue.paths``), so a typo is refused
then instead of silently never matching; after that, ``reader`` gives a precompiled function for
the hot path.

A path whose value is absent or ``null`` reads as ``MISSING``: canonical payloads leave null optional
fields out, so the two cannot mean different things to a route.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from streams.errors import InvalidRouteError

ENVELOPE_PREFIX = "$event."
ENVELOPE_PATHS = frozenset(
    {"$event.id", "$event.type", "$event.tenant_id", "$event.source", "$event.occurred_at", "$event.correlation_id"}
)

# Payload keys routes may read are identifiers joined by dots.
_PAYLOAD_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII)


class _Missing(enum.Enum):
    MISSING = enum.auto()


MISSING = _Missing.MISSING
"""What a reader returns for a path that is absent or null."""

Reader = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
"""Reads one path from ``(payload, meta)``; ``meta`` holds envelope fields without ``$event.``."""


def check_path(path: Any, *, paths: Collection[str] | None, field: str) -> str:
    """``path`` if routes may read it (one of ``paths``, when given); else ``InvalidRouteError``.

    ``field`` is where the path sits in the route's spec; the error names it.
    """
    if not isinstance(path, str):
        raise InvalidRouteError(f"{field}: a field path must be a string", field=field)
    if path.startswith("$"):
        if path not in ENVELOPE_PATHS:
            allowed = ", ".join(sorted(ENVELOPE_PATHS))
            raise InvalidRouteError(f"{field}: is not an envelope field; use one of {allowed}", field=field)
        return path
    if _PAYLOAD_PATH.fullmatch(path) is None:
        raise InvalidRouteError(f"{field}: a field path is names joined by dots, like campaign.utm_source", field=field)
    if paths is not None and path not in paths:
        raise InvalidRouteError(f"{field}: is not a field of this event type", field=field)
    return path


def reader(path: str) -> Reader:
    """A function reading ``path`` (as ``check_path`` accepts it) from ``(payload, meta)``, or ``MISSING``."""
    if path.startswith(ENVELOPE_PREFIX):
        name = path.removeprefix(ENVELOPE_PREFIX)

        def read_meta(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
            value = meta.get(name)
            return MISSING if value is None else value

        return read_meta
    keys = tuple(path.split("."))
    if len(keys) == 1:
        (key,) = keys

        def read_top(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
            value = payload.get(key)
            return MISSING if value is None else value

        return read_top

    def read_nested(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
        node: Any = payload
        for key in keys:
            if type(node) is not dict and not isinstance(node, Mapping):  # dict first: no ABC check
                return MISSING
            node = node.get(key)
        return MISSING if node is None else node

    return read_nested
