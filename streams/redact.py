"""Make a destination's answer safe to keep: what it says minus what may be personal data; and
mask the personal data of a payload shown to an operator who may not see it.

A CRM's error body often echoes the request (a name, a phone, an e-mail). Before an excerpt is
stored in the delivery log, e-mail addresses and runs of digits long enough to be a phone, a CPF
or a card become placeholders, and the text is cut to a short excerpt.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LONG_NUMBER = re.compile(r"\+?\d[\d .()/-]{6,}\d")
EXCERPT_CHARS = 300


def safe_excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` without e-mails and long numbers, at most ``limit`` characters."""
    masked = _LONG_NUMBER.sub("[number]", _EMAIL.sub("[email]", text[: limit * 2]))
    return masked[:limit]


MASK = "***"


def mask_paths(payload: Any, paths: Iterable[str]) -> Any:
    """``payload`` with the value at each dotted path (through arrays too) replaced by ``MASK``."""
    masked = copy.deepcopy(payload)
    for path in paths:
        _mask(masked, path.split("."))
    return masked


def mask_all(value: Any) -> Any:
    """``value``'s shape with every leaf replaced by ``MASK``: for data whose personal fields are unknown."""
    if isinstance(value, dict):
        return {key: mask_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_all(item) for item in value]
    return MASK if value is not None else None


def _mask(node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _mask(item, parts)
        return
    if not isinstance(node, dict) or parts[0] not in node:
        return
    if len(parts) == 1:
        if node[parts[0]] is not None:
            node[parts[0]] = MASK
        return
    _mask(node[parts[0]], parts[1:])
