"""Every request the sandbox systems received, for tests to read back.

Credentials are left out (headers and the Z-API path token), so a journal can be printed or
served by the control API. Bodies are kept: they are what tests assert on, and they stay in
memory, never in a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    """One request to one system and how it was answered (``status`` None: connection reset)."""

    system: str
    action: str
    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    idempotency_key: str | None
    duplicate: bool
    status: int | None
    at: float

    @property
    def applied(self) -> bool:
        """Whether the system acted on it: answered with success, and not as a replay."""
        return not self.duplicate and self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "headers": dict(self.headers), "applied": self.applied}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Received:
        return cls(**{name: value for name, value in data.items() if name != "applied"})


class Journal:
    """The requests received, in the order they were answered."""

    def __init__(self) -> None:
        self._received: list[Received] = []

    def record(self, received: Received) -> None:
        self._received.append(received)

    def of(self, system: str) -> list[Received]:
        return [received for received in self._received if received.system == system]

    def clear(self) -> None:
        self._received.clear()
