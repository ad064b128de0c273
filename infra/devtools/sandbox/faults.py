"""Failures a sandbox system can be told to show, so delivery code meets them on purpose.

- ``status``: answer ``status`` (429, 5xx, 4xx) without acting, with ``Retry-After`` if given;
- ``slow``: act, then answer ``delay_s`` late — the client times out on a request that took
  effect, which is exactly the case ``Idempotency-Key`` must make harmless;
- ``reset``: close the connection without an answer and without acting.

Each applies to the next ``count`` requests to the system, or until healed when ``count`` is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from infra.devtools.sandbox.contracts import SYSTEMS
from streams.errors import ConfigurationError

Mode = Literal["status", "slow", "reset"]
_MODES: tuple[str, ...] = ("status", "slow", "reset")


@dataclass(frozen=True, slots=True)
class Failure:
    """How the next ``count`` requests to a system fail (``count`` None: until healed)."""

    mode: Mode
    status: int | None = None
    retry_after: int | None = None
    delay_s: float | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ConfigurationError(f"failure mode must be one of ok, {', '.join(_MODES)}")
        if self.count is not None and self.count < 1:
            raise ConfigurationError("count must be at least 1, or null for until healed")
        if (self.mode == "status") != (self.status is not None):
            raise ConfigurationError("status is required by, and only allowed in, mode 'status'")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ConfigurationError("status must be an error status, 400 to 599")
        if self.retry_after is not None and (self.status is None or self.retry_after < 0):
            raise ConfigurationError("retry_after is a number of seconds >= 0, for mode 'status' only")
        if (self.mode == "slow") != (self.delay_s is not None):
            raise ConfigurationError("delay_s is required by, and only allowed in, mode 'slow'")
        if self.delay_s is not None and self.delay_s <= 0:
            raise ConfigurationError("delay_s must be positive")

    def to_json(self) -> dict[str, Any]:
        """The control API's body for this failure."""
        fields = {"status": self.status, "retry_after": self.retry_after, "delay_s": self.delay_s}
        return {"mode": self.mode, **{k: v for k, v in fields.items() if v is not None}, "count": self.count}

    @classmethod
    def from_json(cls, data: Any) -> Failure | None:
        """A failure from the control API's body; None for ``{"mode": "ok"}`` (heal)."""
        if not isinstance(data, dict) or "mode" not in data:
            raise ConfigurationError('the body must be a JSON object with a "mode"')
        if data["mode"] == "ok":
            return None
        unknown = set(data) - {"mode", "status", "retry_after", "delay_s", "count"}
        if unknown:
            raise ConfigurationError(f"unknown fields: {', '.join(sorted(unknown))}")
        for name in ("status", "retry_after", "count"):
            if not isinstance(data.get(name, 0), int | None) or isinstance(data.get(name), bool):
                raise ConfigurationError(f"{name} must be an integer")
        if not isinstance(data.get("delay_s", 0), int | float | None):
            raise ConfigurationError("delay_s must be a number of seconds")
        return cls(**data)


class Faults:
    """The failure each system is showing now, and how many requests it has left."""

    def __init__(self) -> None:
        self._plans: dict[str, tuple[Failure, int | None]] = {}

    def set(self, system: str, failure: Failure | None) -> None:
        """Make ``system`` fail as ``failure`` says from its next request on; None heals it."""
        if system not in SYSTEMS:
            raise ConfigurationError(f"unknown system {system!r}; the sandbox has {', '.join(SYSTEMS)}")
        if failure is None:
            self._plans.pop(system, None)
        else:
            self._plans[system] = (failure, failure.count)

    def take(self, system: str) -> Failure | None:
        """The failure this request to ``system`` meets, if any; one of its count is used up."""
        plan = self._plans.get(system)
        if plan is None:
            return None
        failure, left = plan
        if left is None:
            return failure
        if left <= 1:
            del self._plans[system]
        else:
            self._plans[system] = (failure, left - 1)
        return failure
