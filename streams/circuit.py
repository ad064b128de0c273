"""A circuit breaker per (tenant, destination): stop calling a destination that is down.

While a destination fails, every call to it costs a timeout and a retry record; the breaker
notices the failures, *opens*, and the sink parks that destination's deliveries instead of
calling. After ``open_for_s`` it lets a probe through (*half-open*): success closes the circuit,
failure opens it again for twice as long, up to ``max_open_s``. That cap is short (20 s) on
purpose: however long a destination was down, the first probe after it heals comes at most
``max_open_s`` later, so it gets its traffic back within about that long (with a 60 s or longer
cap, a 45 s fault left a destination without deliveries for up to a minute after it healed).

Only transient failures (timeouts, refused connections, 5xx, 429) may be recorded as failures.
A 400 or 422 says the request was wrong, not that the destination is unwell: it answered. Record
such a call as a success, which in half-open state also frees its probe slot.

Everything here is pure and the state is a value: ``allow`` and ``record`` return new states.
The state lives in a Faust table, so it must outlive the process: times are wall-clock epoch
seconds (``time.time()``), not a monotonic clock, and ``to_bytes``/``from_bytes`` are its
changelog format.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any, Literal

BUCKETS = 6
"""The window is this many buckets of ``window_s / BUCKETS``: old calls drop out a bucket at a time
instead of the counts growing since the circuit last closed. The window so spans between
5/6 and all of ``window_s``."""

_FORMAT = 1


@dataclass(frozen=True, slots=True)
class CircuitConfig:
    """When to open, and for how long.

    The circuit opens when, within the last ``window_s``, at least ``min_calls`` calls were made
    and at least ``failure_rate`` of them failed; or after ``consecutive_failures`` failures in a
    row, which catches a dead destination that gets too few calls to reach ``min_calls``.
    ``half_open_probes`` calls may probe at once. A probe whose outcome is not recorded within
    ``probe_timeout_s`` (its worker died) frees its slot, or the circuit would stay half-open; it
    outlasts the sink's attempt deadline (``CRMBUS_SINK_ATTEMPT_DEADLINE_S``, 10 s), after which a
    live worker always records the outcome.
    """

    window_s: float = 30.0
    min_calls: int = 20
    failure_rate: float = 0.5
    consecutive_failures: int = 5
    open_s: float = 10.0
    max_open_s: float = 20.0
    half_open_probes: int = 1
    probe_timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.open_s <= 0 or self.probe_timeout_s <= 0:
            raise ValueError("window_s, open_s and probe_timeout_s must be positive")
        if self.max_open_s < self.open_s:
            raise ValueError("max_open_s must be at least open_s")
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be above 0 and at most 1")
        if self.min_calls < 1 or self.consecutive_failures < 1 or self.half_open_probes < 1:
            raise ValueError("min_calls, consecutive_failures and half_open_probes must be at least 1")


@dataclass(frozen=True, slots=True)
class Bucket:
    """Calls that ended in the bucket numbered ``index`` (``floor(now / bucket width)``)."""

    index: int
    calls: int
    failures: int


@dataclass(frozen=True, slots=True)
class CircuitState:
    """One circuit. ``CircuitState()`` is a closed circuit that has seen nothing.

    ``opened_at`` and ``open_for_s`` describe the current or last opening; ``probe_started_at``
    is when the latest probe slot was handed out.
    """

    state: Literal["closed", "open", "half_open"] = "closed"
    buckets: tuple[Bucket, ...] = ()
    consecutive_failures: int = 0
    opened_at: float = 0.0
    open_for_s: float = 0.0
    probes_in_flight: int = 0
    probe_started_at: float = 0.0

    def to_bytes(self) -> bytes:
        """Compact JSON, with a format number so a later layout can still read this one."""
        doc = [
            _FORMAT,
            self.state,
            [[b.index, b.calls, b.failures] for b in self.buckets],
            self.consecutive_failures,
            self.opened_at,
            self.open_for_s,
            self.probes_in_flight,
            self.probe_started_at,
        ]
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CircuitState:
        """The state ``to_bytes`` wrote. Raises ``ValueError`` on anything else."""
        try:
            doc: Any = json.loads(data)
            version, state, buckets, consecutive, opened_at, open_for_s, probes, probe_started_at = doc
            if version != _FORMAT or state not in ("closed", "open", "half_open"):
                raise ValueError(f"format {version!r}, state {state!r}")
            return cls(
                state,
                tuple(Bucket(int(i), int(c), int(f)) for i, c, f in buckets),
                int(consecutive),
                float(opened_at),
                float(open_for_s),
                int(probes),
                float(probe_started_at),
            )
        except (ValueError, TypeError) as error:
            raise ValueError(f"not a circuit state of format {_FORMAT}: {error}") from None


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to call now. ``call`` (closed) and ``probe`` (half-open) both mean: call, then
    ``record`` the outcome. ``park`` means: do not call; ``retry_at`` is the earliest time asking
    again may get another answer (the sink pauses the destination's partitions until then)."""

    action: Literal["call", "probe", "park"]
    retry_at: float | None = None

    @property
    def allowed(self) -> bool:
        return self.action != "park"


CALL = Decision("call")
PROBE = Decision("probe")


def allow(state: CircuitState, now: float, config: CircuitConfig) -> tuple[Decision, CircuitState]:
    """Whether a call may go out at ``now``, and the state after handing out a probe slot if one was."""
    if state.state == "closed":
        return CALL, state
    if state.state == "open":
        reopens_at = state.opened_at + state.open_for_s
        if now < reopens_at:
            return Decision("park", reopens_at), state
        state = replace(state, state="half_open", probes_in_flight=0)
    elif now >= state.probe_started_at + config.probe_timeout_s:
        state = replace(state, probes_in_flight=0)
    if state.probes_in_flight >= config.half_open_probes:
        return Decision("park", state.probe_started_at + config.probe_timeout_s), state
    return PROBE, replace(state, probes_in_flight=state.probes_in_flight + 1, probe_started_at=now)


def record(state: CircuitState, now: float, success: bool, config: CircuitConfig) -> CircuitState:
    """The state after a call that ``allow`` let through ended at ``now``.

    In an open circuit the outcome is ignored: it belongs to a call made before it opened.
    """
    if state.state == "open":
        return state
    if state.state == "half_open":
        if success:
            return CircuitState()
        return _open(now, min(state.open_for_s * 2, config.max_open_s))
    buckets = _count(state.buckets, now, success, config)
    if success:
        return replace(state, buckets=buckets, consecutive_failures=0)
    consecutive = state.consecutive_failures + 1
    calls = sum(b.calls for b in buckets)
    failures = sum(b.failures for b in buckets)
    # Judged on failures only: a success should never be what opens a circuit.
    if consecutive >= config.consecutive_failures or (
        calls >= config.min_calls and failures >= config.failure_rate * calls
    ):
        return _open(now, config.open_s)
    return replace(state, buckets=buckets, consecutive_failures=consecutive)


def _open(now: float, open_for_s: float) -> CircuitState:
    return CircuitState("open", opened_at=now, open_for_s=open_for_s)


def _count(buckets: tuple[Bucket, ...], now: float, success: bool, config: CircuitConfig) -> tuple[Bucket, ...]:
    """``buckets`` with the calls older than the window dropped and this call added."""
    current = math.floor(now / (config.window_s / BUCKETS))
    # Buckets "from the future" (the clock stepped back, or window_s changed) are dropped too.
    kept = [b for b in buckets if current - BUCKETS < b.index < current]
    now_bucket = next((b for b in buckets if b.index == current), Bucket(current, 0, 0))
    kept.append(Bucket(current, now_bucket.calls + 1, now_bucket.failures + (not success)))
    return tuple(kept)
