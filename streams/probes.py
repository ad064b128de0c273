"""Proactive checks of destinations: what a health call's answer says, and the per-kind verdict.

Only some destination kinds have a health call a probe can make without side effects:

- ``zapi``: ``GET /instances/{id}/token/{token}/status`` (``Client-Token``) answers
  ``{"connected": bool, "smartphoneConnected": bool, "error": str}``;
- ``waha``: ``GET /api/sessions/{session}`` (``X-Api-Key`` when set) answers the session with its
  ``status`` (WORKING, or STARTING, SCAN_QR_CODE, STOPPED, FAILED).

The CRM, Financeiro, marketing, e-mail and generic webhook destinations have none in their public
contracts (each call of theirs acts: creates a lead, an invoice, sends a message), so they are not
probed: their health is what their deliveries say (circuits, retries, the DLQ).

A probe judges two things apart: whether the destination's API answered the call (``probe``:
reachable, credential accepted) and, for WhatsApp providers, whether its session can send
(``session``). A provider that answers while its phone is logged out is up, its session down.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

ProbeStatus = Literal["up", "down"]
SessionStatus = Literal["connected", "disconnected"]

PROBED_KINDS = ("zapi", "waha")
"""The destination kinds with a health call, in the order the metrics list them."""
WHATSAPP_KINDS = ("zapi", "waha")
"""The kinds whose probe also reads a WhatsApp session."""

_WAHA_WORKING = "WORKING"
_STATE = re.compile(r"[A-Z][A-Z_]{0,29}")
"""A WAHA state's shape: kept as the error class only when it looks like one (bounded, no text)."""


@dataclass(frozen=True, slots=True)
class Probe:
    """What one check found: ``error_class`` names why it is down (a class name or ``session_<state>``),
    never a message, which could carry a URL with a token."""

    status: ProbeStatus
    session: SessionStatus | None = None
    error_class: str | None = None


def zapi_session(body: Any) -> SessionStatus:
    """Z-API's status answer: connected only when it says so as a JSON ``true``."""
    connected = isinstance(body, Mapping) and body.get("connected") is True
    return "connected" if connected else "disconnected"


def waha_session(body: Any) -> tuple[SessionStatus, str | None]:
    """WAHA's session answer: (session status, why not connected: the lower-case state)."""
    state = body.get("status") if isinstance(body, Mapping) else None
    if state == _WAHA_WORKING:
        return "connected", None
    if isinstance(state, str) and _STATE.fullmatch(state):
        return "disconnected", f"session_{state.lower()}"
    return "disconnected", "session_unknown"


@dataclass(frozen=True, slots=True)
class CheckRow:
    """A stored check, as the gauges and summaries read it: no tenant's data beyond its kind."""

    kind: str
    probe: ProbeStatus
    session: SessionStatus | None


def up_per_kind(rows: Iterable[CheckRow]) -> tuple[dict[str, int], dict[str, int]]:
    """(probe up per kind, WhatsApp session up per provider), each 1 only when every checked
    destination of the kind is up: the minimum over tenants, so one tenant's lost session shows.
    A kind with nothing checked is absent, not 1: there is nothing to vouch for."""
    probes: dict[str, int] = {}
    sessions: dict[str, int] = {}
    for row in rows:
        probes[row.kind] = min(probes.get(row.kind, 1), int(row.probe == "up"))
        if row.kind in WHATSAPP_KINDS and row.session is not None:
            sessions[row.kind] = min(sessions.get(row.kind, 1), int(row.session == "connected"))
    return probes, sessions


def summary(rows: Iterable[CheckRow]) -> dict[str, dict[str, dict[str, int]]]:
    """Counts for ``/health/detailed``: per kind, how many destinations are up and down; per
    WhatsApp provider, how many sessions are connected and disconnected. No tenant is named."""
    destinations: dict[str, dict[str, int]] = {}
    sessions: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = destinations.setdefault(row.kind, {"up": 0, "down": 0})
        counts[row.probe] += 1
        if row.kind in WHATSAPP_KINDS and row.session is not None:
            provider = sessions.setdefault(row.kind, {"connected": 0, "disconnected": 0})
            provider[row.session] += 1
    return {"destinations": destinations, "whatsapp_sessions": sessions}
