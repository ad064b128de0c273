"""How long and how wide the calls to one endpoint may be, from its config: timeouts and connections.

Shared by the HTTP client (``connectors.http``) and the SMTP pools (``connectors.smtp``), so an
endpoint's ``timeouts`` and ``max_connections`` mean the same whichever way it is reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.errors import ConfigurationError


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
        raise ConfigurationError(f"timeouts.{what} must be a number of seconds in (0, 300]")
    return float(value)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long one request may take: to open the socket, between reads, and in all."""

    connect_s: float = 3.0
    read_s: float = 10.0
    total_s: float = 15.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Timeouts:
        """Endpoint config ``{"timeouts": {"connect": 3, "read": 10, "total": 15}}``; each key optional."""
        given = config.get("timeouts") or {}
        if not isinstance(given, Mapping) or set(given) - {"connect", "read", "total"}:
            raise ConfigurationError("timeouts must be an object with connect, read and total seconds")
        defaults = cls()
        return cls(
            _seconds(given.get("connect", defaults.connect_s), "connect"),
            _seconds(given.get("read", defaults.read_s), "read"),
            _seconds(given.get("total", defaults.total_s), "total"),
        )


def pool_size(config: Mapping[str, Any], default: int) -> int:
    """Endpoint config ``max_connections``: how many connections its pool may open at once."""
    size = config.get("max_connections", default)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 256:
        raise ConfigurationError("max_connections must be an integer from 1 to 256")
    return int(size)
