"""Where a parsed JSON document holds a NUL character (U+0000), if anywhere. Pure.

NUL cannot be stored in PostgreSQL text, is cut short by C-string APIs downstream and is never
meaningful in an event: crmbus refuses it at the edge, in any string of any inbound body (the
events API and every source webhook), instead of forwarding it to destinations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NUL = "\x00"


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def nul_path(document: Any) -> str | None:
    """The dotted path (``events[2].payload.text``) of the first string holding NUL, else None.

    A key holding NUL is named by the path of the object it is in ("" for the top level). The walk
    keeps its own stack: a body may nest as deep as the JSON parser allows, deeper than recursion.
    """
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                return path
        elif isinstance(value, Mapping):
            if any(NUL in key for key in value):
                return path
            stack.extend((_child(path, key), item) for key, item in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((_child(path, index), item) for index, item in reversed(list(enumerate(value))))
    return None
