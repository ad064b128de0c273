"""When a supervised process that crashed is started again, and how its state is told.

A child that exits without being asked to stop is restarted after a delay that doubles with each
crash in a row (1 s, 2 s, 4 s … up to 30 s), so a crash loop costs a start every 30 s rather than
a core. A child that ran healthily for ``healthy_after_s`` before it crashed starts the count
again: one crash a day waits 1 s, not 30. Pure: the supervisor passes how long the child ran.

``ChildStatus`` is what the supervisor writes to its status file after each change and
``crmbus status`` reads back: running, or crashed and waiting to restart, with the restart count
and the last exit (an exit code or a signal name, nothing the process printed).
"""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass
from typing import Any, Literal

ChildState = Literal["running", "restarting", "stopping"]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Exponential backoff between restarts of one crashing child."""

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    healthy_after_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.first_delay_s <= self.max_delay_s:
            raise ValueError("a restart policy needs 0 < first_delay_s <= max_delay_s")
        if self.healthy_after_s <= 0:
            raise ValueError("a restart policy needs healthy_after_s > 0")

    def delay_s(self, crashes_in_a_row: int) -> float:
        """How long to wait before starting a child that crashed ``crashes_in_a_row`` times."""
        if crashes_in_a_row < 1:
            raise ValueError("a delay is only asked for after a crash")
        doublings = min(crashes_in_a_row - 1, 32)  # 2**32 s is past any cap; keeps the float finite
        return min(self.first_delay_s * float(2**doublings), self.max_delay_s)


@dataclass(frozen=True, slots=True)
class Crashes:
    """A child's crashes: in all, and in a row without a healthy run between them."""

    total: int = 0
    in_a_row: int = 0

    def after(self, ran_for_s: float, policy: RestartPolicy) -> Crashes:
        """The count once the child crashed after running ``ran_for_s`` seconds."""
        in_a_row = 1 if ran_for_s >= policy.healthy_after_s else self.in_a_row + 1
        return Crashes(self.total + 1, in_a_row)


def describe_exit(exitcode: int) -> str:
    """``exit code 3`` or ``signal SIGKILL`` (multiprocessing gives a signal as a negative code)."""
    if exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        return f"signal {signal.Signals(-exitcode).name}"
    except ValueError:
        return f"signal {-exitcode}"


@dataclass(frozen=True, slots=True)
class ChildStatus:
    """One supervised child as ``crmbus status`` shows it; times are Unix seconds."""

    name: str
    state: ChildState
    pid: int | None
    restarts: int = 0
    last_exit: str | None = None
    last_exit_at: float | None = None
    restart_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChildStatus:
        return cls(
            name=str(data["name"]),
            state=data["state"] if data["state"] in ("running", "restarting", "stopping") else "stopping",
            pid=_optional_int(data.get("pid")),
            restarts=int(data.get("restarts") or 0),
            last_exit=None if data.get("last_exit") is None else str(data["last_exit"]),
            last_exit_at=_optional_float(data.get("last_exit_at")),
            restart_at=_optional_float(data.get("restart_at")),
        )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
