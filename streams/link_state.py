"""Whether a connection (a Kafka cluster, say) is up, told by the failures and successes its client
reports, and when that changes: one event when it is lost and one when it is back, however many
errors a client reports in between. A caller logs the changes, never each error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class LinkChange:
    """``lost`` (with the error that told), or ``back`` (after ``down_s`` seconds and ``failures`` errors)."""

    state: Literal["lost", "back"]
    reason: str = ""
    down_s: float = 0.0
    failures: int = 0


class LinkState:
    """Starts up; ``failed``/``succeeded`` return a LinkChange only when the state flips."""

    def __init__(self) -> None:
        self.up = True
        self._down_since = 0.0
        self._failures = 0

    def failed(self, reason: str, now: float) -> LinkChange | None:
        self._failures += 1
        if not self.up:
            return None
        self.up, self._down_since, self._failures = False, now, 1
        return LinkChange("lost", reason=reason)

    def succeeded(self, now: float) -> LinkChange | None:
        if self.up:
            return None
        self.up = True
        return LinkChange("back", down_s=max(0.0, now - self._down_since), failures=self._failures)
