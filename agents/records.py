"""Consumed records as the agents' logic sees them, away from Faust's event objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.dead_letter import Origin


@dataclass(frozen=True, slots=True)
class Consumed:
    origin: Origin
    key: bytes | None
    value: bytes | None  # None: a tombstone, which no crmbus topic should carry (poison)
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, event: Any) -> Consumed:
        """From a Faust event read with raw key and value serializers."""
        message = event.message
        return cls(
            Origin(message.topic, message.partition, message.offset),
            message.key,
            message.value,
            _headers(message.headers),
        )


def _headers(raw: Any) -> tuple[tuple[str, bytes], ...]:
    if not raw:
        return ()
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    return tuple((str(name), bytes(value) if value is not None else b"") for name, value in pairs)
